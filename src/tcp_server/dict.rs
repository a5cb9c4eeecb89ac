//! The dictionaries of `chrome.sockets.tcpServer`.

use crate::ids::ServerSocketId;

/// `SocketProperties` of `chrome.sockets.tcpServer`: fields left `None` are not changed
/// (or take their default on `create`).
///
/// ```
/// use chrome_sockets::tcp_server::SocketProperties;
/// let props = SocketProperties::new().name("web").persistent(true);
/// assert_eq!(props.name.as_deref(), Some("web"));
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SocketProperties {
    /// Survive [`Reactor::suspend_app`](crate::Reactor::suspend_app) (default false).
    pub persistent: Option<bool>,
    /// An application-defined name (default empty).
    pub name: Option<String>,
    /// **Extension** (Chrome has none): listen with `SO_REUSEPORT` (default false), so
    /// several servers, typically one per reactor and thread, can listen on the same address
    /// and port and share its connections. Takes effect at the next `listen`. See
    /// [`TcpServer::listen`](super::TcpServer::listen), "One port, many reactors", for the
    /// rules.
    pub reuse_port: Option<bool>,
}

impl SocketProperties {
    property_setters! {
        name(name: impl Into<String>) = name.into(),
        persistent(persistent: bool) = persistent,
        reuse_port(reuse_port: bool) = reuse_port,
    }
}

/// The result of [`TcpServer::create`](super::TcpServer::create).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreateInfo {
    /// The new server socket's id.
    pub socket_id: ServerSocketId,
}

/// `SocketInfo` of `chrome.sockets.tcpServer`.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketInfo {
    /// The socket's id.
    pub socket_id: ServerSocketId,
    /// The `persistent` property.
    pub persistent: bool,
    /// The `name` property; `None` while empty (Chrome omits it).
    pub name: Option<String>,
    /// The `reuse_port` property (an extension, see [`SocketProperties::reuse_port`]).
    pub reuse_port: bool,
    /// Whether `on_accept` is held back (the kernel keeps queueing up to the backlog).
    pub paused: bool,
    /// The bound address while listening, in Chrome's text form.
    pub local_address: Option<String>,
    /// The bound port while listening (the real one when listening on port 0).
    pub local_port: Option<u16>,
}
