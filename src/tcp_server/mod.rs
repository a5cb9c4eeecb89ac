//! `chrome.sockets.tcpServer`: the [`TcpServer`] view, its dictionaries and its events.
//!
//! Calls check in Chrome's order (id, then permission, then arguments), take effect at once,
//! and queue their callback to run after the call returns. See the crate docs for the timing rules.
//!
//! **Extension** (Chrome has none; nothing Chrome-compatible changes because of it):
//! [`TcpServer::local_addr`] answers the bound address at once, where Chrome needs a
//! `getInfo` round trip.
//!
//! Inside: `dict.rs` holds the dictionaries, `view.rs` the public [`TcpServer`] methods, and
//! `entry.rs` one server socket's state with its accept path.

mod dict;
pub(crate) mod entry;
mod view;

pub use crate::info::{AcceptErrorInfo, AcceptInfo};
pub use dict::{CreateInfo, SocketInfo, SocketProperties};
pub use view::TcpServer;
