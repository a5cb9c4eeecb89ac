//! Recipes for the first programs, each a complete, tested program (doc-only module).
//!
//! 1. [Stop on Ctrl-C](#1-stop-on-ctrl-c)
//! 2. [A line-framing echo that ends gracefully](#2-a-line-framing-echo-that-ends-gracefully)
//! 3. [What a paused socket hears](#3-what-a-paused-socket-hears)
//! 4. [A client on the same reactor](#4-a-client-on-the-same-reactor)
//!
//! # 1. Stop on Ctrl-C
//!
//! [`Reactor::run`](crate::Reactor::run) turns until something calls
//! [`Reactor::stop`](crate::Reactor::stop) or [`Waker::stop`](crate::Waker::stop).
//! [`Reactor::stop_on_signals`](crate::Reactor::stop_on_signals) makes SIGINT (Ctrl-C) and
//! SIGTERM (`kill`) do the same with no timer and no thread: its handler only counts the
//! signal and writes to an eventfd the reactor's poll watches, so an idle server keeps
//! waiting with no timeout. `run` returns after the turn in progress, and the program closes
//! its sockets by dropping the reactor (no callback runs then).
//!
//! ```
//! use chrome_sockets::Reactor;
//! use std::time::Duration;
//!
//! let mut r: Reactor = Reactor::new()?;
//! // Stands in for a server's sockets: something that keeps `run` turning for an hour.
//! r.set_timeout(Duration::from_secs(3600), |_, _| unreachable!("stopped long before"));
//!
//! // The numbers come from the `libc` crate (add it to Cargo.toml), or write 2 and 15 (Linux).
//! r.stop_on_signals(&[libc::SIGINT, libc::SIGTERM])?; // from now on Ctrl-C does not kill
//! # // What Ctrl-C does in a terminal: SIGINT to the process.
//! # let pid = std::process::id().to_string();
//! # std::process::Command::new("kill").args(["-INT", &pid]).status()?;
//! r.run(&mut ())?; // returns once the signal comes
//! drop(r); // closes every socket, no callback runs; Ctrl-C kills again
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Every reactor that watches a signal stops on it (several reactors on several threads, as
//! in `examples/sharded_accept.rs`, all stop on one Ctrl-C), and the signal's previous
//! disposition comes back once no reactor watches it. A signal that arrives before `run`
//! starts makes `run` return after its first turn.
//!
//! **The alternative, a signal thread**: when the program must know which signal came, or
//! already has a signal crate, let a thread wait for the signal and call `Waker::stop`
//! (which is `Send + Sync`). It costs a thread (and makes the process multi-threaded, which
//! makes glibc's syscall wrappers take their slower path). This uses the
//! [`signal-hook`](https://docs.rs/signal-hook) crate, which blocks in its own thread and
//! never runs code inside the handler.
//!
//! ```
//! // Cargo.toml: signal-hook = "0.3"
//! use chrome_sockets::Reactor;
//! use signal_hook::consts::{SIGINT, SIGTERM};
//! use signal_hook::iterator::Signals;
//! use std::time::Duration;
//!
//! let mut r: Reactor = Reactor::new()?;
//! r.set_timeout(Duration::from_secs(3600), |_, _| unreachable!("stopped long before"));
//!
//! let mut signals = Signals::new([SIGINT, SIGTERM])?; // from now on Ctrl-C does not kill
//! let signals_handle = signals.handle();
//! let waker = r.waker();
//! let watcher = std::thread::spawn(move || {
//!     let signal = signals.forever().next()?; // None once the handle is closed
//!     waker.stop().expect("wake the reactor");
//!     Some(signal)
//! });
//!
//! # signal_hook::low_level::raise(SIGINT)?; // what Ctrl-C does in a terminal
//! r.run(&mut ())?; // returns once the watcher calls stop
//! signals_handle.close(); // ends the watcher if no signal came
//! assert_eq!(watcher.join().unwrap(), Some(SIGINT));
//! drop(r); // closes every socket; no callback runs
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! A stop that arrives before `run` starts makes `run` return before its first turn, so the
//! watcher may start first. A host loop that calls [`turn`](crate::Reactor::turn) itself is
//! only woken by `Waker::stop` (or the signal); it checks its own flag after the turn.
//!
//! # 2. A line-framing echo that ends gracefully
//!
//! `on_receive` hands over whatever the kernel had, at most `buffer_size` bytes: a line may
//! arrive in pieces and one chunk may hold several lines. Keep the unfinished line per socket
//! in the application state and act on every complete one. This server answers each line
//! upper-cased; on `quit` it [`end`](crate::tcp::Tcp::end)s the connection: every reply
//! already sent is written, then the FIN, then the socket is closed, so the client reads all
//! its replies and then end of stream.
//!
//! A peer that closes first is heard as `on_receive_error` -100 after its last bytes. In
//! Chrome's model the socket is then already disconnected: replies written before it still
//! arrive (a `send` writes at once when it can), but replies still queued fail with -15 and
//! nothing more can be sent, so free the id with `close`. An unfinished last line is dropped
//! here; a protocol whose last replies must arrive ends from the server side, as `quit` does.
//!
//! ```
//! use chrome_sockets::tcp::{ReceiveInfo, SocketProperties as TcpProps};
//! use chrome_sockets::{ignore, tcp_server::SocketProperties, Reactor, TcpSocketId};
//! use std::collections::HashMap;
//! use std::io::{Read, Write};
//! use std::net::{Shutdown, TcpStream};
//! # use std::time::Duration;
//!
//! #[derive(Default)]
//! struct App {
//!     port: Option<u16>,
//!     /// The open connections, each with its unfinished line.
//!     partial: HashMap<TcpSocketId, Vec<u8>>,
//!     finished: usize,
//! }
//!
//! /// Appends a chunk; answers each complete line; `end`s the connection on "quit".
//! fn on_chunk(r: &mut Reactor<App>, app: &mut App, info: &ReceiveInfo) {
//!     let id = info.socket_id;
//!     let Some(buf) = app.partial.get_mut(&id) else {
//!         return; // ending: what the peer sends now is not answered
//!     };
//!     buf.extend_from_slice(&info.data);
//!     while let Some(end) = buf.iter().position(|&b| b == b'\n') {
//!         let line: Vec<u8> = buf.drain(..=end).collect();
//!         if line == b"quit\n" {
//!             app.partial.remove(&id);
//!             // Every reply sent so far is written, then the FIN; then the socket is closed.
//!             r.tcp().end(id, |r, app, result| {
//!                 result.expect("every reply written");
//!                 finished(r, app);
//!             });
//!             return;
//!         }
//!         // A send that fails also ends reading with on_receive_error, handled below.
//!         r.tcp().send(id, line.to_ascii_uppercase(), ignore);
//!     }
//! }
//!
//! fn finished(r: &mut Reactor<App>, app: &mut App) {
//!     app.finished += 1;
//!     if app.finished == 2 {
//!         r.stop();
//!     }
//! }
//!
//! let mut r: Reactor<App> = Reactor::new()?;
//! let mut app = App::default();
//! r.tcp_server().on_accept().add_listener(|r, app, info| {
//!     let id = info.client_socket_id;
//!     app.partial.insert(id, Vec::new());
//!     // 4-byte reads only to show lines arriving in pieces; keep the default 4096 in a server.
//!     r.tcp().update(id, TcpProps::new().buffer_size(4), ignore);
//!     r.tcp().set_paused(id, false, ignore); // accepted sockets start paused
//! });
//! r.tcp().on_receive().add_listener(on_chunk);
//! r.tcp().on_receive_error().add_listener(|r, app, info| {
//!     // -100: the peer closed first (or -101, it reset). The socket is disconnected already,
//!     // and its unfinished line cannot be answered: free the id.
//!     if app.partial.remove(&info.socket_id).is_some() {
//!         r.tcp().close(info.socket_id, ignore);
//!         finished(r, app);
//!     }
//! });
//! r.tcp_server().create(SocketProperties::new(), |r, app, created| {
//!     let id = created.expect("create cannot fail").socket_id;
//!     r.tcp_server().listen(id, "127.0.0.1", 0, None, |_, _, result| result.expect("listen"));
//!     app.port = Some(r.tcp_server().local_addr(id).expect("listening").port());
//! });
//! while app.port.is_none() {
//!     r.turn(None, &mut app)?;
//! }
//!
//! let port = app.port.unwrap();
//! let clients = std::thread::spawn(move || -> std::io::Result<(String, String)> {
//!     // Three lines, the last one "quit": the server ends the connection.
//!     let mut c = TcpStream::connect(("127.0.0.1", port))?;
//! #   c.set_read_timeout(Some(Duration::from_secs(10)))?;
//!     c.write_all(b"hello\nwor")?;
//!     c.write_all(b"ld\nquit\n")?;
//!     let mut first = String::new();
//!     c.read_to_string(&mut first)?; // until the server's FIN
//!     // A client that closes first, leaving "two" unfinished.
//!     let mut c = TcpStream::connect(("127.0.0.1", port))?;
//! #   c.set_read_timeout(Some(Duration::from_secs(10)))?;
//!     c.write_all(b"one\ntwo")?;
//!     c.shutdown(Shutdown::Write)?;
//!     let mut second = String::new();
//!     c.read_to_string(&mut second)?;
//!     Ok((first, second))
//! });
//! # r.set_timeout(Duration::from_secs(10), |r, _| r.stop()); // a bound for the test
//! r.run(&mut app)?; // until both connections finished
//! let (first, second) = clients.join().unwrap()?;
//! assert_eq!(first, "HELLO\nWORLD\n");
//! assert_eq!(second, "ONE\n");
//! assert_eq!(app.finished, 2);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # 3. What a paused socket hears
//!
//! A paused socket is not read at all, so it hears nothing: no `on_receive` and not the
//! peer's close either. Bytes the peer sends wait in the kernel's receive buffer (a peer that
//! fills it is slowed down by TCP flow control, nothing is lost), and `get_info` still says
//! `connected: true` after the peer closed. Once unpaused, the socket gets the waiting bytes
//! in order and then, if the peer has closed, `on_receive_error` -100. Accepted sockets
//! start paused, so a connection that sends a request and closes before the application
//! unpauses it is still served in full.
//!
//! ```
//! use chrome_sockets::tcp::{ReceiveErrorInfo, ReceiveInfo};
//! use chrome_sockets::{ignore, tcp_server::SocketProperties, NetError, Reactor, TcpSocketId};
//! use std::io::{self, Write};
//! use std::time::Duration;
//!
//! #[derive(Debug, PartialEq)]
//! enum Heard {
//!     Data(Vec<u8>),
//!     Closed(NetError),
//! }
//!
//! #[derive(Default)]
//! struct App {
//!     port: Option<u16>,
//!     accepted: Option<TcpSocketId>,
//!     connected: Option<bool>,
//!     heard: Vec<Heard>,
//! }
//!
//! /// Turns until `done`, at most 100 turns of at most 100 ms each.
//! fn turn_until(r: &mut Reactor<App>, app: &mut App, done: fn(&App) -> bool) -> io::Result<()> {
//!     for _ in 0..100 {
//!         if done(app) {
//!             return Ok(());
//!         }
//!         r.turn(Some(Duration::from_millis(100)), app)?;
//!     }
//!     panic!("not done after 100 turns");
//! }
//!
//! let mut r: Reactor<App> = Reactor::new()?;
//! let mut app = App::default();
//! r.tcp_server().on_accept().add_listener(|_, app, info| {
//!     app.accepted = Some(info.client_socket_id); // left paused
//! });
//! r.tcp().on_receive().add_listener(|_, app, info: &ReceiveInfo| {
//!     app.heard.push(Heard::Data(info.data.clone()));
//! });
//! r.tcp().on_receive_error().add_listener(|_, app, info: &ReceiveErrorInfo| {
//!     app.heard.push(Heard::Closed(info.result_code));
//! });
//! r.tcp_server().create(SocketProperties::new(), |r, app, created| {
//!     let id = created.expect("create cannot fail").socket_id;
//!     r.tcp_server().listen(id, "127.0.0.1", 0, None, |_, _, result| result.expect("listen"));
//!     app.port = Some(r.tcp_server().local_addr(id).expect("listening").port());
//! });
//! turn_until(&mut r, &mut app, |app| app.port.is_some())?;
//!
//! // The peer connects, sends a request and closes, all before the server reads anything.
//! let mut peer = std::net::TcpStream::connect(("127.0.0.1", app.port.unwrap()))?;
//! peer.write_all(b"request")?;
//! drop(peer); // the FIN
//! turn_until(&mut r, &mut app, |app| app.accepted.is_some())?;
//! let id = app.accepted.unwrap();
//!
//! // Paused: ten turns hear nothing, the peer's close included, and the socket looks connected.
//! for _ in 0..10 {
//!     r.turn(Some(Duration::from_millis(10)), &mut app)?;
//! }
//! r.tcp().get_info(id, |_, app, info| app.connected = Some(info.unwrap().connected));
//! turn_until(&mut r, &mut app, |app| app.connected.is_some())?;
//! assert_eq!(app.heard, []);
//! assert_eq!(app.connected, Some(true));
//!
//! // Unpaused: the bytes that waited in the kernel, then the close.
//! r.tcp().set_paused(id, false, ignore);
//! turn_until(&mut r, &mut app, |app| app.heard.len() == 2)?;
//! assert_eq!(
//!     app.heard,
//!     [Heard::Data(b"request".to_vec()), Heard::Closed(NetError::CONNECTION_CLOSED)]
//! );
//! # Ok::<(), io::Error>(())
//! ```
//!
//! # 4. A client on the same reactor
//!
//! `r.tcp()` is also Chrome's client API: `create`, `connect`, `send`, and the same
//! `on_receive`/`on_receive_error` events. Those events are the reactor's, not a socket's:
//! one listener hears every tcp socket, accepted and connected alike, so keep the client's
//! id and dispatch on `info.socket_id`. Unlike an accepted socket, a created one is not
//! paused: it reads as soon as `connect` succeeds. Here a server answers a line upper-cased
//! and ends the connection; the client, on the same reactor, reads the reply and then the
//! server's close (-100), and frees its id with `close`.
//!
//! ```
//! use chrome_sockets::{ignore, tcp, tcp_server, LastError, Reactor, TcpSocketId};
//! # use std::time::Duration;
//!
//! #[derive(Default)]
//! struct App {
//!     client: Option<TcpSocketId>,
//!     reply: Vec<u8>,
//!     /// How the client's connection ended: the close code, or the call that failed.
//!     ended: Option<Result<i32, LastError>>,
//! }
//!
//! fn client_failed(r: &mut Reactor<App>, app: &mut App, e: LastError) {
//!     app.ended = Some(Err(e)); // e.g. -102 net::ERR_CONNECTION_REFUSED
//!     r.stop();
//! }
//!
//! let mut r: Reactor<App> = Reactor::new()?;
//! let mut app = App::default();
//! r.tcp_server().on_accept().add_listener(|r, _, info| {
//!     r.tcp().set_paused(info.client_socket_id, false, ignore); // accepted: paused until now
//! });
//! r.tcp().on_receive().add_listener(|r, app, info| {
//!     if Some(info.socket_id) == app.client {
//!         app.reply.extend_from_slice(&info.data);
//!     } else {
//!         // The server's side: a line may come in pieces; answer each, end after the newline.
//!         r.tcp().send(info.socket_id, info.data.to_ascii_uppercase(), ignore);
//!         if info.data.ends_with(b"\n") {
//!             r.tcp().end(info.socket_id, ignore); // writes the reply, then closes
//!         }
//!     }
//! });
//! r.tcp().on_receive_error().add_listener(|r, app, info| {
//!     r.tcp().close(info.socket_id, ignore); // either side: the connection is over
//!     if Some(info.socket_id) == app.client {
//!         app.ended = Some(Ok(info.result_code.code())); // -100: the server closed
//!         r.stop();
//!     }
//! });
//! r.tcp_server().create(tcp_server::SocketProperties::new(), |r, _, created| {
//!     let server = created.expect("create cannot fail").socket_id;
//!     r.tcp_server().listen(server, "127.0.0.1", 0, None, |_, _, result| result.expect("listen"));
//!     let port = r.tcp_server().local_addr(server).expect("listening").port();
//!     r.tcp().create(tcp::SocketProperties::new(), move |r, app, created| {
//!         let id = created.expect("create cannot fail").socket_id;
//!         app.client = Some(id);
//!         r.tcp().connect(id, "127.0.0.1", i32::from(port), move |r, app, connected| {
//!             match connected {
//!                 Ok(()) => r.tcp().send(id, b"ping\n".to_vec(), |r, app, sent| {
//!                     if let Err(e) = sent {
//!                         client_failed(r, app, e);
//!                     }
//!                 }),
//!                 Err(e) => client_failed(r, app, e),
//!             }
//!         });
//!     });
//! });
//! # r.set_timeout(Duration::from_secs(10), |r, _| r.stop()); // a bound for the test
//! r.run(&mut app)?; // until the client heard the close
//! assert_eq!(app.reply, b"PING\n");
//! assert_eq!(app.ended.unwrap().map_err(|e| e.to_string()), Ok(-100));
//! # Ok::<(), std::io::Error>(())
//! ```
