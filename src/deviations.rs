//! Where this crate deliberately differs from Chrome (decisions D1-D11), and why.
//!
//! Chrome's behaviour was read from its source (mojo/network-service era). Where that
//! behaviour is a bug against Chrome's own documentation, the crate does what the
//! documentation promises:
//!
//! | # | Chrome | this crate |
//! |---|---|---|
//! | D1 | `tcpServer.setPaused(false)` never restarts accepting (also not after `onAcceptError`) | resuming a listening server accepts again, including what queued while paused |
//! | D2 | accepted sockets have no `localAddress`/`localPort` | accepted sockets report them (read with `getsockname` when asked, not on the accept path) |
//! | D3 | `listen`/`connect` ports are silently truncated to 16 bits (70000 → 4464) | a port outside 0..=65535 fails with -4 `net::ERR_INVALID_ARGUMENT` (after the permission check, which sees the truncated port as Chrome's does) |
//! | D4 | `listen` on a listening socket drops the old listener (debug builds assert) | fails with -23 `net::ERR_SOCKET_IS_CONNECTED`; the live listener is untouched |
//! | D5 | a `close`/`disconnect` that overtakes a `connect` drops its callback | every callback runs exactly once: an overtaken connect gets -3 `net::ERR_ABORTED`, queued sends -15 |
//! | D6 | `tcp.close` of a reading socket still posts `onReceiveError(-100)` for the dead id | no event is dispatched for a closed id |
//! | D7 | every read error is reported as -100 | EOF is -100; a read error carries its own code (-101 for a reset) |
//! | D8 | pausing does not cancel an accept/read in flight: one more event may follow | pausing stops events at once: accepts and reads happen only when their queued step runs, after re-checking `paused` |
//! | D9 | after a disconnect mid-send, that send and every later send on the socket hang forever | in-flight and queued sends fail with -15; the socket works normally after reconnecting |
//! | D10 | a negative backlog reaches `listen(2)` (Linux: maximum) | backlog 0 or negative fails with -4, as Chrome's network service does for 0 |
//! | D11 | accepted sockets get keep-alive at 45 s | no keep-alive by default (`tcp().set_keep_alive` turns it on); `TCP_NODELAY` is set as in Chrome unless [`AcceptedSockets::Untouched`](crate::AcceptedSockets::Untouched) |
//!
//! Other choices where Chrome's behaviour could not carry over:
//! - A failed write gives its send the error's own code (-101 for a reset) rather than Chrome's
//!   -2 (Chrome only sees a closed mojo pipe); a reading socket then gets `onReceiveError`
//!   -100 after that send's callback, as in Chrome.
//! - Accept errors that `accept(2)` documents as "retry" (`ECONNABORTED`, `EINTR`, and the
//!   per-connection network errors `EPROTO`, `ENETDOWN`, `EHOSTUNREACH`, ...) are retried
//!   silently instead of pausing the server.
//! - Reads are capped at 1 MiB per `onReceive` whatever `bufferSize` says, so a huge value
//!   cannot make the reactor allocate gigabytes.
//! - `getSockets` lists sockets in id order (Chrome's order is unspecified).
