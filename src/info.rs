//! The dictionaries events and send callbacks carry: `onAccept`, `onAcceptError`,
//! `onReceive`, `onReceiveError` and the send result.
//!
//! They live apart from the namespace modules so that the work queue and the socket entries
//! can build them without depending on the public views; [`tcp_server`](crate::tcp_server)
//! and [`tcp`](crate::tcp) re-export them under Chrome's names.

use crate::ids::{ServerSocketId, TcpSocketId};
use crate::net_error::NetError;

/// `onAccept`: a connection was accepted and became tcp socket `client_socket_id`, paused.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AcceptInfo {
    /// The server socket.
    pub socket_id: ServerSocketId,
    /// The new `chrome.sockets.tcp` socket; unpause it with
    /// [`Tcp::set_paused`](crate::tcp::Tcp::set_paused) to receive data.
    pub client_socket_id: TcpSocketId,
}

/// `onAcceptError`: accepting failed; the server is now paused.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AcceptErrorInfo {
    /// The server socket.
    pub socket_id: ServerSocketId,
    /// The net error, e.g. -12 `ERR_INSUFFICIENT_RESOURCES` when out of fds.
    pub result_code: NetError,
}

/// The result of a successful [`Tcp::send`](crate::tcp::Tcp::send): every byte was written.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendInfo {
    /// Always [`NetError::OK`] here; failures arrive as `Err` with the code.
    pub result_code: NetError,
    /// The whole length of the data.
    pub bytes_sent: usize,
}

/// `onReceive`: bytes read from a socket (1 to `buffer_size` of them).
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiveInfo {
    /// The socket.
    pub socket_id: TcpSocketId,
    /// The bytes, in a `Vec` whose capacity is their length (keeping it costs what was
    /// received, whatever `buffer_size` is; an owning listener takes it without a copy).
    pub data: Vec<u8>,
}

/// `onReceiveError`: the connection ended (-100 on EOF or disconnect, the read error's code
/// otherwise); the socket is now disconnected and paused.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceiveErrorInfo {
    /// The socket.
    pub socket_id: TcpSocketId,
    /// The net error.
    pub result_code: NetError,
}
