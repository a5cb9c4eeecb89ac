//! `chrome.sockets.tcp`: the [`Tcp`] view, its dictionaries and its events, for accepted and
//! connected sockets.
//!
//! Calls take effect at once and queue their callback to run after the call returns. Semantics:
//! - reads happen only while unpaused, at most `buffer_size` bytes (default 4096) an
//!   `on_receive`; bytes that arrive while paused wait in the kernel and come after unpausing;
//! - EOF raises `on_receive_error` -100, a read error its own code (-101 for a reset, D7);
//!   either way the socket is disconnected and paused;
//! - `send` completes when every byte is written, in issue order; a failed write gives that
//!   send its code and fails queued sends with -15 (D9);
//! - `disconnect` of a reading socket raises -100 after its callback; `close` raises nothing
//!   for the dead id (D6).
//!
//! (The D numbers are the deviations from Chrome listed in [`deviations`](crate::deviations).)
//!
//! **Extensions** (Chrome has none of these; nothing Chrome-compatible changes because of
//! them): [`Tcp::end`] closes once the queued sends are written (Node's `end()`),
//! [`Tcp::shutdown_send`] half-closes (sends the FIN after them), [`Tcp::connect_timeout`]
//! gives up on a slow connect with -118, [`ReactorBuilder::write_quota`](crate::ReactorBuilder::write_quota)
//! changes the 200 MiB write quota, and [`Event::add_owning_listener`](crate::Event::add_owning_listener)
//! takes `on_receive` data without copying it.
//!
//! # Example: an echo that loses nothing
//!
//! The pause while an echo is written is what makes it lossless: echoing with the socket still
//! reading, the peer's FIN (`on_receive_error` -100) arrives while echoes are queued, and those
//! sends fail with -15. This runs against a client that sends 8 MiB, half-closes, and starts
//! reading only 0.5 s later, and gets every byte back.
//!
//! ```rust
//! use chrome_sockets::{tcp_server::SocketProperties, Reactor};
//! use std::io::{Read, Write};
//! use std::time::Duration;
//!
//! fn main() -> std::io::Result<()> {
//!     let mut r: Reactor<Option<u16>> = Reactor::new()?;
//!     r.tcp_server().on_accept().add_listener(|r, _, info| {
//!         r.tcp().set_paused(info.client_socket_id, false, |_, _, _| {});
//!     });
//!     r.tcp().on_receive().add_listener(|r, _, info| {
//!         let id = info.socket_id;
//!         // Read no more until this echo is written: memory stays bounded, and the peer's
//!         // FIN (-100, which fails sends still queued) is read only after every echo is out.
//!         r.tcp().set_paused(id, true, |_, _, _| {});
//!         r.tcp().send(id, info.data.clone(), move |r, _, sent| match sent {
//!             Ok(_) => r.tcp().set_paused(id, false, |_, _, _| {}),
//!             Err(_) => r.tcp().close(id, |_, _, _| {}), // the peer reset or went away
//!         });
//!     });
//!     r.tcp().on_receive_error().add_listener(|r, _, info| {
//!         // -100: the peer half-closed and everything was echoed; -101: a reset. Either way done.
//!         r.tcp().close(info.socket_id, |r, _, _| r.stop());
//!     });
//!     r.tcp_server().create(SocketProperties::new(), |r, _, created| {
//!         let id = created.unwrap().socket_id;
//!         r.tcp_server().listen(id, "127.0.0.1", 0, None, move |r, _, result| {
//!             result.expect("listen");
//!             r.tcp_server().get_info(id, |_, port, info| *port = info.unwrap().local_port);
//!         });
//!     });
//!     let mut port = None;
//!     while port.is_none() {
//!         r.turn(None, &mut port)?;
//!     }
//!
//!     // A client that sends 8 MiB, half-closes, and only starts reading 0.5 s later.
//!     let data: Vec<u8> = (0..8u32 << 20).map(|i| (i % 251) as u8).collect();
//!     let mut client = std::net::TcpStream::connect(("127.0.0.1", port.unwrap()))?;
//!     let (mut writer, sent) = (client.try_clone()?, data.clone());
//!     std::thread::spawn(move || {
//!         writer.write_all(&sent).unwrap();
//!         writer.shutdown(std::net::Shutdown::Write).unwrap();
//!     });
//!     let reader = std::thread::spawn(move || {
//!         std::thread::sleep(Duration::from_millis(500));
//!         let mut echoed = Vec::new();
//!         client.read_to_end(&mut echoed).unwrap();
//!         echoed
//!     });
//!     r.run(&mut port)?; // until the connection is closed
//!     assert!(reader.join().unwrap() == data, "every byte comes back");
//!     Ok(())
//! }
//! ```
//!
//! Inside: `dict.rs` holds the dictionaries, `view.rs` the public [`Tcp`] methods,
//! `extensions.rs` the extension methods, `options.rs` the socket options, `entry.rs` one socket's state and registration, and the paths it owns each have a file:
//! `read.rs` (reads in `buffer_size` chunks), `send.rs` (the FIFO of sends and the write
//! quota), `connect.rs` (all of `connect` and `connect_timeout`: checks, host-name resolution
//! on a helper thread, completion, timeout, cancellation), `finish.rs` (the half-close behind
//! `shutdown_send` and `end`).

mod connect;
mod dict;
pub(crate) mod entry;
mod extensions;
mod finish;
mod options;
pub(crate) mod read;
mod send;
mod view;

pub use crate::info::{ReceiveErrorInfo, ReceiveInfo, SendInfo};
pub use dict::{CreateInfo, SocketInfo, SocketProperties};
pub use send::DEFAULT_WRITE_QUOTA;
pub use view::Tcp;
