//! Where this crate deliberately differs from Chrome (decisions D1-D12), and why.
//!
//! Rows D1-D11 were measured on real Chrome (Chromium 156, headless, a Chrome App driving
//! `chrome.sockets.*`); D12 is read from Chrome's source, since 2^31 sockets cannot be opened
//! in a test: the workspace crate `chrome/` runs each scenario on Chrome and on
//! this crate in one test (`chrome/tests/deviations.rs`, one test per row), and the
//! differential runner `chrome/tests/chrome_differential.rs` attributes every difference it finds
//! to one of these rows. Where Chrome's behaviour is a bug against its own documentation,
//! the crate does what the documentation promises:
//!
//! | # | Chrome 156 (measured) | this crate |
//! |---|---|---|
//! | D1 | `tcpServer.setPaused(false)` resumes accepting only if no connection arrived during the pause; if one did, the accept in flight takes it (D8) and accepting never resumes (only `disconnect` + `listen` does) | resuming a listening server accepts again, including what queued while paused and after `onAcceptError` |
//! | D2 | accepted sockets have no `localAddress`/`localPort` | accepted sockets report them (read with `getsockname` when asked, not on the accept path) |
//! | D3 | `listen`/`connect` ports are silently truncated to 16 bits (70000 → 4464) | a port outside 0..=65535 fails with -4 `net::ERR_INVALID_ARGUMENT` (after the permission check, which sees the truncated port as Chrome's does) |
//! | D4 | `listen` on a listening socket: on the same port -147 `net::ERR_ADDRESS_IN_USE`, and the old listener is lost (connections are refused; `getInfo` still shows the port); on port 0 it succeeds, moves the listener, then raises `onAcceptError(-2)` | fails with -23 `net::ERR_SOCKET_IS_CONNECTED`; the live listener is untouched |
//! | D5 | a `listen` overtaken by `close`/`disconnect` often never calls back; sends queued at `close` never call back; a `connect` overtaken by `disconnect` may complete and leave the socket connected; a `connect` overtaken by `close` calls back "Socket not found" | every callback runs exactly once: a connect overtaken by `close` gets "Socket not found" (as Chrome), by `disconnect` -3 `net::ERR_ABORTED` (and stays disconnected); queued sends -15 |
//! | D6 | `tcp.close` of a reading socket still posts `onReceiveError(-100)` for the dead id | no event is dispatched for a closed id |
//! | D7 | every read error is reported as -100; the first send to a reset peer succeeds, the next fails -2 `net::ERR_FAILED`, then -15 | EOF is -100; a read error carries its own code (-101 for a reset); a send to a reset peer fails with the write's own code (-101), then -15 |
//! | D8 | pausing does not cancel an accept/read in flight: one more event may follow | pausing stops events at once: accepts and reads happen only when their queued step runs, after re-checking `paused` |
//! | D9 | after a disconnect mid-send, that send and every later send on the socket hang forever | in-flight and queued sends fail with -15; the socket works normally after reconnecting |
//! | D10 | a negative backlog reaches `listen(2)` (Linux: maximum) and succeeds; 0 fails -4 | backlog 0 or negative fails with -4 |
//! | D11 | accepted sockets get keep-alive at 45 s | no keep-alive by default (`tcp().set_keep_alive` turns it on); `TCP_NODELAY` is set as in Chrome unless [`AcceptedSockets::Untouched`](crate::AcceptedSockets::Untouched) |
//! | D12 | (source) socket ids come from `next_id_++` on a C++ `int` that only goes up and is never reset while the profile lives: at most 2^31 - 1 ids are ever issued, what follows is an overflow | ids wrap from `i32::MAX` to 1 and skip the ids still live: an id is never reused while its socket lives, nor for 2^31 - 1 allocations of its kind after; nothing is refused for want of an id (only if every id of a kind were live at once: -12 `net::ERR_INSUFFICIENT_RESOURCES` from `create`, `onAcceptError(-12)` and a paused server from an accept) |
//!
//! Other choices where Chrome's behaviour could not carry over:
//! - A reading socket gets `onReceiveError` -100 after the callback of a send that failed
//!   (the write error itself is D7).
//! - Accept errors that `accept(2)` documents as "retry" (`ECONNABORTED`, `EINTR`, and the
//!   per-connection network errors `EPROTO`, `ENETDOWN`, `EHOSTUNREACH`, ...) are retried
//!   silently instead of pausing the server.
//! - Reads are capped at 1 MiB per `onReceive` whatever `bufferSize` says, so a huge value
//!   cannot make the reactor allocate gigabytes.
//! - `getSockets` lists sockets in id order (Chrome's order is unspecified).
//! - Extension, Chrome has none: [`SocketProperties::reuse_port`](crate::tcp_server::SocketProperties::reuse_port)
//!   lets several servers (one per reactor and thread) listen on one port with `SO_REUSEPORT`;
//!   its rules are under [`TcpServer::listen`](crate::tcp_server::TcpServer::listen).
