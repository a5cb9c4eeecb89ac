//! The dictionaries of `chrome.sockets.tcp`.

use crate::ids::TcpSocketId;

/// `SocketProperties` of `chrome.sockets.tcp`: fields left `None` are not changed (or take
/// their default on `create`).
///
/// ```
/// use chrome_sockets::tcp::SocketProperties;
/// let props = SocketProperties::new().name("peer").buffer_size(8192);
/// assert_eq!(props.buffer_size, Some(8192));
/// assert_eq!(props.persistent, None);
/// ```
#[non_exhaustive]
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SocketProperties {
    /// Survive [`Reactor::suspend_app`](crate::Reactor::suspend_app) (default false, also
    /// for accepted sockets).
    pub persistent: Option<bool>,
    /// An application-defined name (default empty).
    pub name: Option<String>,
    /// Largest `on_receive` payload; 0 or negative means the default, 4096. Reads are capped
    /// at 1 MiB whatever the value. It bounds an event, it does not size it: an `on_receive`
    /// of n bytes holds a `Vec` of n bytes (see the crate docs, "Memory per received byte").
    pub buffer_size: Option<i32>,
}

impl SocketProperties {
    property_setters! {
        name(name: impl Into<String>) = name.into(),
        persistent(persistent: bool) = persistent,
        buffer_size(buffer_size: i32) = buffer_size,
    }
}

/// The result of [`Tcp::create`](super::Tcp::create).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreateInfo {
    /// The new socket's id.
    pub socket_id: TcpSocketId,
}

/// `SocketInfo` of `chrome.sockets.tcp`.
#[non_exhaustive]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketInfo {
    /// The socket's id.
    pub socket_id: TcpSocketId,
    /// The `persistent` property.
    pub persistent: bool,
    /// The `name` property; `None` while empty.
    pub name: Option<String>,
    /// The `buffer_size` property, only if set to a positive value.
    pub buffer_size: Option<i32>,
    /// Whether reading is paused.
    pub paused: bool,
    /// Whether the socket is connected.
    pub connected: bool,
    /// Local address while connected (also for accepted sockets, D2).
    pub local_address: Option<String>,
    /// Local port while connected.
    pub local_port: Option<u16>,
    /// Peer address while connected (IPv4-mapped peers read `::ffff:7f00:1`).
    pub peer_address: Option<String>,
    /// Peer port while connected.
    pub peer_port: Option<u16>,
}
