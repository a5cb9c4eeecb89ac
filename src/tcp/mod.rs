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
//! Inside: `dict.rs` holds the dictionaries, `view.rs` the public [`Tcp`] methods,
//! `extensions.rs` the extension methods, `options.rs` the socket options, `entry.rs` one socket's state and registration, and the paths it owns each have a file:
//! `read.rs` (reads in `buffer_size` chunks), `send.rs` (the FIFO of sends and the write
//! quota), `connect.rs` (connect, with host-name resolution on a helper thread), `finish.rs`
//! (the half-close behind `shutdown_send` and `end`, and the connect timeout).

pub(crate) mod connect;
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
