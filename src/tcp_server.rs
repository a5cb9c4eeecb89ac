//! `chrome.sockets.tcpServer`: the [`TcpServer`] view and its dictionaries.
//!
//! Calls check in Chrome's order (id, then permission, then arguments), take effect at once,
//! and queue their callback for a later turn. See the crate docs for the timing rules.

use std::net::{IpAddr, SocketAddr};

use crate::address::{format_ip, parse_ip_literal};
use crate::error::{LastError, Result};
use crate::event::Event;
use crate::server_socket::ServerEntry;
use crate::{NetError, Reactor, ServerSocketId, TcpSocketId};

/// `SocketProperties` of `chrome.sockets.tcpServer`: fields left `None` are not changed
/// (or take their default on `create`).
///
/// ```
/// use chrome_sockets::tcp_server::SocketProperties;
/// let props = SocketProperties::new().name("web").persistent(true);
/// assert_eq!(props.name.as_deref(), Some("web"));
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SocketProperties {
    /// Survive [`Reactor::suspend_app`] (default false).
    pub persistent: Option<bool>,
    /// An application-defined name (default empty).
    pub name: Option<String>,
}

impl SocketProperties {
    /// No properties set.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets `name`.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Sets `persistent`.
    pub fn persistent(mut self, persistent: bool) -> Self {
        self.persistent = Some(persistent);
        self
    }
}

/// The result of [`TcpServer::create`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreateInfo {
    /// The new server socket's id.
    pub socket_id: ServerSocketId,
}

/// `SocketInfo` of `chrome.sockets.tcpServer`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SocketInfo {
    /// The socket's id.
    pub socket_id: ServerSocketId,
    /// The `persistent` property.
    pub persistent: bool,
    /// The `name` property; `None` while empty (Chrome omits it).
    pub name: Option<String>,
    /// Whether `on_accept` is held back (the kernel keeps queueing up to the backlog).
    pub paused: bool,
    /// The bound address while listening, in Chrome's text form.
    pub local_address: Option<String>,
    /// The bound port while listening (the real one when listening on port 0).
    pub local_port: Option<u16>,
}

/// `onAccept`: a connection was accepted and became tcp socket `client_socket_id`, paused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AcceptInfo {
    /// The server socket.
    pub socket_id: ServerSocketId,
    /// The new `chrome.sockets.tcp` socket; unpause it with
    /// [`Tcp::set_paused`](crate::tcp::Tcp::set_paused) to receive data.
    pub client_socket_id: TcpSocketId,
}

/// `onAcceptError`: accepting failed; the server is now paused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AcceptErrorInfo {
    /// The server socket.
    pub socket_id: ServerSocketId,
    /// The net error, e.g. -12 `ERR_INSUFFICIENT_RESOURCES` when out of fds.
    pub result_code: NetError,
}

/// `chrome.sockets.tcpServer`, borrowed from a [`Reactor`] by [`Reactor::tcp_server`].
///
/// Every callback is `FnOnce(&mut Reactor<S>, &mut S, Result<T, LastError>)`. Where Chrome's
/// callback is optional, pass `|_, _, _| {}`.
#[must_use]
#[derive(Debug)]
pub struct TcpServer<'r, S: 'static> {
    r: &'r mut Reactor<S>,
}

impl<'r, S: 'static> TcpServer<'r, S> {
    pub(crate) fn new(r: &'r mut Reactor<S>) -> Self {
        TcpServer { r }
    }

    /// Creates a server socket (no fd is opened until `listen`).
    pub fn create<F>(&mut self, properties: SocketProperties, callback: F)
    where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<CreateInfo>) + 'static,
    {
        let Some(id) = self.r.server_ids.allocate() else {
            return self.r.reply(callback, Err(LastError::ids_exhausted()));
        };
        let entry = ServerEntry::new(
            id,
            properties.name.unwrap_or_default(),
            properties.persistent.unwrap_or(false),
        );
        let key = self.r.servers.insert(entry);
        self.r.server_ids.insert(id, key);
        let info = CreateInfo {
            socket_id: ServerSocketId::from_raw(id),
        };
        self.r.reply(callback, Ok(info));
    }

    /// Sets the properties that are `Some`; the others keep their values.
    pub fn update<F>(
        &mut self,
        socket_id: ServerSocketId,
        properties: SocketProperties,
        callback: F,
    ) where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<()>) + 'static,
    {
        let result = match self.r.server_key(socket_id) {
            Some(key) => {
                let entry = &mut self.r.servers[key];
                if let Some(name) = properties.name {
                    entry.name = name;
                }
                if let Some(persistent) = properties.persistent {
                    entry.persistent = persistent;
                }
                Ok(())
            }
            None => Err(LastError::socket_not_found()),
        };
        self.r.reply_unit(callback, result);
    }

    /// Pauses or resumes accepting. Paused: the listener is deregistered and no `on_accept`
    /// for this socket is dispatched after this call returns (D8); the kernel queues up to the
    /// backlog. Resumed: connections already queued are accepted (D1), also after an
    /// `on_accept_error`. If the listener cannot be registered with the poll again, the
    /// server stays paused and `on_accept_error` says why (the callback still gets `Ok`).
    pub fn set_paused<F>(&mut self, socket_id: ServerSocketId, paused: bool, callback: F)
    where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<()>) + 'static,
    {
        let Some(key) = self.r.server_key(socket_id) else {
            return self
                .r
                .reply_unit(callback, Err(LastError::socket_not_found()));
        };
        // The callback is queued before the accept step a resume queues, so it runs before
        // the `on_accept` it enables (as in Chrome, which replies before the accept completes).
        self.r.reply_unit(callback, Ok(()));
        if let Err(e) = self.r.set_server_paused(key, paused) {
            log::warn!("set_paused({socket_id}, {paused}): {e}");
        }
    }

    /// Listens on `address` (an IP literal, Chrome's grammar) and `port` (0 = any free port).
    /// `backlog` `None` means `SOMAXCONN`.
    ///
    /// # Errors (in this order)
    /// - unknown id: "Socket not found";
    /// - the manifest allows no such listen: "Does not have permission";
    /// - not an IP literal, port outside 0..=65535 (D3), backlog 0 or negative (D10):
    ///   -4 "net::ERR_INVALID_ARGUMENT";
    /// - already listening: -23 "net::ERR_SOCKET_IS_CONNECTED", the live listener untouched (D4);
    /// - the OS refuses: its net error, e.g. -147 "net::ERR_ADDRESS_IN_USE".
    ///
    /// ```
    /// # use chrome_sockets::{tcp_server::SocketProperties, Reactor};
    /// let mut r: Reactor<Option<i32>> = Reactor::new()?;
    /// r.tcp_server().create(SocketProperties::default(), |r, _, created| {
    ///     let id = created.unwrap().socket_id;
    ///     r.tcp_server().listen(id, "localhost", 0, None, |_, code, result| {
    ///         *code = result.unwrap_err().code().map(|c| c.code());
    ///     });
    /// });
    /// let mut code = None;
    /// while code.is_none() {
    ///     r.turn(None, &mut code)?;
    /// }
    /// assert_eq!(code, Some(-4)); // host names are not IP literals
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn listen<F>(
        &mut self,
        socket_id: ServerSocketId,
        address: &str,
        port: i32,
        backlog: Option<i32>,
        callback: F,
    ) where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<()>) + 'static,
    {
        let result = self.try_listen(socket_id, address, port, backlog);
        self.r.reply_unit(callback, result);
    }

    fn try_listen(
        &mut self,
        socket_id: ServerSocketId,
        address: &str,
        port: i32,
        backlog: Option<i32>,
    ) -> Result<()> {
        let key = self
            .r
            .server_key(socket_id)
            .ok_or_else(LastError::socket_not_found)?;
        if let Some(manifest) = &self.r.manifest {
            if !manifest.allows_listen(address, port as u16) {
                return Err(LastError::no_permission());
            }
        }
        let invalid = || LastError::net(NetError::INVALID_ARGUMENT);
        let ip: IpAddr = parse_ip_literal(address).ok_or_else(invalid)?;
        let port = u16::try_from(port).map_err(|_| invalid())?;
        let backlog = match backlog {
            None => libc::SOMAXCONN,
            Some(b) if b > 0 => b,
            Some(_) => return Err(invalid()),
        };
        if self.r.servers[key].listening.is_some() {
            return Err(LastError::net(NetError::SOCKET_IS_CONNECTED));
        }
        self.r
            .start_listening(key, SocketAddr::new(ip, port), backlog)
            .map_err(LastError::net)
    }

    /// Stops listening and frees the port at once; the id stays valid for another `listen`.
    /// Accepted sockets are not touched. Works in any state.
    pub fn disconnect<F>(&mut self, socket_id: ServerSocketId, callback: F)
    where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<()>) + 'static,
    {
        let result = match self.r.server_key(socket_id) {
            Some(key) => {
                self.r.stop_listening(key);
                Ok(())
            }
            None => Err(LastError::socket_not_found()),
        };
        self.r.reply_unit(callback, result);
    }

    /// Disconnects and destroys the socket: the id is invalid as soon as this returns and no
    /// event for it is dispatched afterwards. Accepted sockets are not touched.
    pub fn close<F>(&mut self, socket_id: ServerSocketId, callback: F)
    where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<()>) + 'static,
    {
        let result = if self.r.close_server(socket_id.raw()) {
            Ok(())
        } else {
            Err(LastError::socket_not_found())
        };
        self.r.reply_unit(callback, result);
    }

    /// The socket's state as of this call.
    pub fn get_info<F>(&mut self, socket_id: ServerSocketId, callback: F)
    where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<SocketInfo>) + 'static,
    {
        let result = match self.r.server_key(socket_id) {
            Some(key) => Ok(info(&self.r.servers[key])),
            None => Err(LastError::socket_not_found()),
        };
        self.r.reply(callback, result);
    }

    /// Every live server socket, in id order.
    pub fn get_sockets<F>(&mut self, callback: F)
    where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<Vec<SocketInfo>>) + 'static,
    {
        let infos = self
            .r
            .server_ids
            .keys()
            .map(|key| info(&self.r.servers[key]))
            .collect();
        self.r.reply(callback, Ok(infos));
    }

    /// `onAccept`.
    pub fn on_accept(&mut self) -> Event<'_, S, AcceptInfo> {
        self.r.accept_event()
    }

    /// `onAcceptError`.
    pub fn on_accept_error(&mut self) -> Event<'_, S, AcceptErrorInfo> {
        self.r.accept_error_event()
    }
}

fn info(entry: &ServerEntry) -> SocketInfo {
    let local = entry.listening.as_ref().map(|l| l.local);
    SocketInfo {
        socket_id: ServerSocketId::from_raw(entry.id),
        persistent: entry.persistent,
        name: (!entry.name.is_empty()).then(|| entry.name.clone()),
        paused: entry.paused,
        local_address: local.map(|a| format_ip(a.ip())),
        local_port: local.map(|a| a.port()),
    }
}
