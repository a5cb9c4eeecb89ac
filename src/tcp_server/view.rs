//! The [`TcpServer`] view: `chrome.sockets.tcpServer`'s methods, borrowed from a reactor.

use std::net::{IpAddr, SocketAddr};

use super::dict::{CreateInfo, SocketInfo, SocketProperties};
use super::entry::ServerEntry;
use crate::address::parse_ip_literal;
use crate::error::{LastError, Result};
use crate::event::Event;
use crate::ids::ServerSocketId;
use crate::info::{AcceptErrorInfo, AcceptInfo};
use crate::net_error::NetError;
use crate::reactor::Reactor;

/// `chrome.sockets.tcpServer`, borrowed from a [`Reactor`] by [`Reactor::tcp_server`].
///
/// Every callback is `FnOnce(&mut Reactor<S>, &mut S, Result<T, LastError>)`. Where Chrome's
/// callback is optional and the result cannot matter, pass [`ignore`](crate::ignore).
#[must_use]
#[derive(Debug)]
pub struct TcpServer<'r, S: 'static> {
    r: &'r mut Reactor<S>,
}

impl<S: 'static> Reactor<S> {
    /// `chrome.sockets.tcpServer`: server sockets.
    pub fn tcp_server(&mut self) -> TcpServer<'_, S> {
        TcpServer { r: self }
    }
}

impl<'r, S: 'static> TcpServer<'r, S> {
    /// Creates a server socket (no fd is opened until `listen`).
    pub fn create<F>(&mut self, properties: SocketProperties, callback: F)
    where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<CreateInfo>) + 'static,
    {
        let result = match self
            .r
            .servers()
            .insert(|id| ServerEntry::new(id, properties))
        {
            Some((id, _)) => Ok(CreateInfo {
                socket_id: ServerSocketId::from_raw(id),
            }),
            None => Err(LastError::ids_exhausted()),
        };
        self.r.reply(callback, result);
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
        let servers = self.r.servers();
        let result = match servers.key(socket_id.raw()) {
            Some(key) => {
                servers[key].update(properties);
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
        let Some(key) = self.r.servers().key(socket_id.raw()) else {
            return self
                .r
                .reply_unit(callback, Err(LastError::socket_not_found()));
        };
        // The callback is queued before the accept step a resume queues, so it runs before
        // the `on_accept` it enables (as in Chrome, which replies before the accept completes).
        self.r.reply_unit(callback, Ok(()));
        let (entry, mut cx) = self.r.server_io(key);
        if let Err(e) = entry.set_paused(key, paused, &mut cx) {
            log::warn!("set_paused({socket_id}, {paused}): {e}");
        }
    }

    /// Listens on `address` (an IP literal, Chrome's grammar) and `port` (0 = any free port).
    /// `backlog` `None` means `SOMAXCONN`. `port` is an `i32` like Chrome's number, so that a
    /// port out of range reaches the callback as -4 (D3) rather than being truncated; the bound
    /// port comes back as a `u16` from [`local_addr`](Self::local_addr) (at once) or
    /// [`get_info`](Self::get_info).
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
    ///
    /// # One port, many reactors (an extension)
    /// Chrome has no way to share a port. A server created (or updated) with
    /// [`SocketProperties::reuse_port`](super::SocketProperties::reuse_port) listens with
    /// Linux's `SO_REUSEPORT`: several such servers, typically one per reactor and one
    /// reactor per thread (the shape of nginx workers), listen on the same address and port,
    /// and the kernel hashes each new connection (by its addresses and ports) to one of them.
    /// `examples/sharded_accept.rs` runs N reactors this way. The rules:
    /// - Every server on the port must ask for it, and be of the same user: a server without
    ///   the property cannot listen on a shared port, nor one with it on a port held without
    ///   it (-147 "net::ERR_ADDRESS_IN_USE" either way).
    /// - Each shard accepts only what the kernel hashed to it. A **paused** shard stays in
    ///   the group: its share waits in its own backlog (up to `backlog`; beyond it the kernel
    ///   drops handshakes, which clients retry) and is accepted after `set_paused(false)`;
    ///   it is never handed to another shard. `paused` outlives `disconnect` and `listen`, as
    ///   for any server.
    /// - **`disconnect` or `close`** of one shard leaves the others serving: new connections
    ///   hash to the remaining ones. The connections already waiting in the closed shard's
    ///   backlog are reset by the kernel (the clients read `ECONNRESET`), unless the system
    ///   sets `net.ipv4.tcp_migrate_req = 1`, which moves them to another shard. A shard that
    ///   listens again on the port rejoins the group.
    /// - Ids, events and callbacks stay per reactor: a shard sees only its own connections.
    ///
    /// ```
    /// # use chrome_sockets::{tcp_server::SocketProperties, Reactor};
    /// // Two shards (in one thread here for brevity; one per thread in a real server).
    /// let (mut shards, mut port) = (Vec::new(), 0);
    /// for _ in 0..2 {
    ///     let mut r: Reactor<Option<u16>> = Reactor::new()?;
    ///     let props = SocketProperties::new().reuse_port(true);
    ///     r.tcp_server().create(props, move |r, _, created| {
    ///         let id = created.unwrap().socket_id;
    ///         r.tcp_server().listen(id, "127.0.0.1", port, None, move |r, _, res| {
    ///             res.unwrap(); // the second shard joins the first one's port
    ///             r.tcp_server().get_info(id, |_, bound, i| *bound = i.unwrap().local_port);
    ///         });
    ///     });
    ///     let mut bound = None;
    ///     while bound.is_none() {
    ///         r.turn(None, &mut bound)?;
    ///     }
    ///     port = bound.unwrap().into();
    ///     shards.push(r);
    /// }
    /// assert_ne!(port, 0);
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
            .servers()
            .key(socket_id.raw())
            .ok_or_else(LastError::socket_not_found)?;
        if let Some(manifest) = self.r.manifest() {
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
        let (entry, cx) = self.r.server_io(key);
        if entry.is_listening() {
            return Err(LastError::net(NetError::SOCKET_IS_CONNECTED));
        }
        entry
            .listen(key, SocketAddr::new(ip, port), backlog, cx.registry)
            .map_err(LastError::net)
    }

    /// Stops listening and frees the port at once; the id stays valid for another `listen`.
    /// Accepted sockets are not touched. Works in any state.
    pub fn disconnect<F>(&mut self, socket_id: ServerSocketId, callback: F)
    where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<()>) + 'static,
    {
        let result = match self.r.servers().key(socket_id.raw()) {
            Some(key) => {
                let (entry, cx) = self.r.server_io(key);
                entry.stop_listening(cx.registry);
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
        let closed = self.r.close_server(socket_id.raw());
        self.r.reply_unit(callback, LastError::found(closed));
    }

    /// The socket's state as of this call.
    pub fn get_info<F>(&mut self, socket_id: ServerSocketId, callback: F)
    where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<SocketInfo>) + 'static,
    {
        let info = self
            .r
            .servers()
            .by_id(socket_id.raw())
            .map(ServerEntry::info);
        self.r
            .reply(callback, info.ok_or_else(LastError::socket_not_found));
    }

    /// **Extension** (Chrome has only [`get_info`](Self::get_info)): the address the server is
    /// listening on, answered at once instead of through a callback. With port 0 this is the
    /// port the OS picked. It is `get_info`'s `local_address` and `local_port` as a
    /// [`SocketAddr`], read from the same state, so the two always agree.
    ///
    /// # Errors
    /// unknown id: "Socket not found"; not listening (never listened, or after
    /// [`disconnect`](Self::disconnect) or a failed `listen`): -15
    /// "net::ERR_SOCKET_NOT_CONNECTED". A paused server is still listening.
    ///
    /// ```
    /// # use chrome_sockets::{tcp_server::SocketProperties, LastErrorKind, NetError, Reactor};
    /// # use std::net::SocketAddr;
    /// let mut r: Reactor<Option<SocketAddr>> = Reactor::new()?;
    /// r.tcp_server().create(SocketProperties::new(), |r, addr, created| {
    ///     let id = created.unwrap().socket_id;
    ///     let before = r.tcp_server().local_addr(id).unwrap_err();
    ///     assert_eq!(before.kind(), LastErrorKind::Net(NetError::SOCKET_NOT_CONNECTED));
    ///     r.tcp_server().listen(id, "127.0.0.1", 0, None, |_, _, result| result.expect("listen"));
    ///     // `listen` took effect when it returned: no `get_info` round trip for the port.
    ///     *addr = r.tcp_server().local_addr(id).ok();
    /// });
    /// let mut addr = None;
    /// r.turn(None, &mut addr)?;
    /// let addr = addr.expect("listening");
    /// assert_eq!(addr.ip().to_string(), "127.0.0.1");
    /// assert_ne!(addr.port(), 0);
    /// std::net::TcpStream::connect(addr)?; // the kernel accepts it into the backlog
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn local_addr(&mut self, socket_id: ServerSocketId) -> Result<SocketAddr> {
        let entry = self
            .r
            .servers()
            .by_id(socket_id.raw())
            .ok_or_else(LastError::socket_not_found)?;
        entry
            .local_addr()
            .ok_or_else(|| LastError::net(NetError::SOCKET_NOT_CONNECTED))
    }

    /// Every live server socket, in id order.
    pub fn get_sockets<F>(&mut self, callback: F)
    where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<Vec<SocketInfo>>) + 'static,
    {
        let infos = self.r.servers().iter().map(ServerEntry::info).collect();
        self.r.reply(callback, Ok(infos));
    }

    /// `onAccept`: a connection was accepted by any server of this reactor
    /// ([`AcceptInfo::socket_id`] says which). The new
    /// `client_socket_id` is a `r.tcp()` socket that starts paused: unpause it to read.
    pub fn on_accept(&mut self) -> Event<'_, S, AcceptInfo> {
        Event::new(&mut self.r.listeners().on_accept)
    }

    /// `onAcceptError`: accepting failed on a server of this reactor (say, -12 when out
    /// of fds); that server is then paused until `set_paused(id, false, ..)`.
    pub fn on_accept_error(&mut self) -> Event<'_, S, AcceptErrorInfo> {
        Event::new(&mut self.r.listeners().on_accept_error)
    }
}
