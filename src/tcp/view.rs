//! The [`Tcp`] view: `chrome.sockets.tcp`'s methods, borrowed from a reactor.

use super::dict::{CreateInfo, SocketInfo, SocketProperties};
use super::entry::TcpEntry;
use crate::error::{LastError, Result};
use crate::event::Event;
use crate::ids::TcpSocketId;
use crate::info::{ReceiveErrorInfo, ReceiveInfo, SendInfo};
use crate::net_error::NetError;
use crate::reactor::Reactor;

/// `chrome.sockets.tcp`, borrowed from a [`Reactor`] by [`Reactor::tcp`].
///
/// Every callback is `FnOnce(&mut Reactor<S>, &mut S, Result<T, LastError>)`; where Chrome's
/// callback is optional and the result cannot matter, pass [`ignore`](crate::ignore).
#[must_use]
#[derive(Debug)]
pub struct Tcp<'r, S: 'static> {
    pub(super) r: &'r mut Reactor<S>,
}

impl<S: 'static> Reactor<S> {
    /// `chrome.sockets.tcp`: accepted and connected sockets.
    pub fn tcp(&mut self) -> Tcp<'_, S> {
        Tcp { r: self }
    }
}

impl<'r, S: 'static> Tcp<'r, S> {
    /// Creates an unconnected socket (no fd until `connect`). Unlike an accepted socket it
    /// is not paused: reading starts as soon as [`connect`](Self::connect) succeeds. The
    /// cookbook has a whole client (create, connect, send, receive).
    ///
    /// ```
    /// # use chrome_sockets::{tcp::SocketProperties, Reactor, TcpSocketId};
    /// let mut r: Reactor<Option<TcpSocketId>> = Reactor::new()?;
    /// r.tcp().create(SocketProperties::new().name("client"), |_, id, created| {
    ///     *id = Some(created.unwrap().socket_id);
    /// });
    /// let mut id = None;
    /// r.turn(Some(std::time::Duration::ZERO), &mut id)?; // the callback runs in a turn
    /// assert!(id.is_some());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn create<F>(&mut self, properties: SocketProperties, callback: F)
    where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<CreateInfo>) + 'static,
    {
        let result = match self.r.tcps().insert(|id| TcpEntry::created(id, properties)) {
            Some((id, _)) => Ok(CreateInfo {
                socket_id: TcpSocketId::from_raw(id),
            }),
            None => Err(LastError::ids_exhausted()),
        };
        self.r.reply(callback, result);
    }

    /// Sets the properties that are `Some`; a new `buffer_size` applies from the next read.
    ///
    /// ```
    /// # use chrome_sockets::{tcp::SocketProperties, Reactor};
    /// let mut r: Reactor<Option<i32>> = Reactor::new()?;
    /// r.tcp().create(SocketProperties::new(), |r, _, created| {
    ///     let id = created.unwrap().socket_id;
    ///     let props = SocketProperties::new().buffer_size(8192);
    ///     r.tcp().update(id, props, |_, _, result| result.unwrap());
    ///     r.tcp().get_info(id, |r, size, info| {
    ///         *size = info.unwrap().buffer_size;
    ///         r.stop();
    ///     });
    /// });
    /// # r.set_timeout(std::time::Duration::from_secs(10), |r, _| r.stop()); // bounds `run`
    /// let mut size = None;
    /// r.run(&mut size)?;
    /// assert_eq!(size, Some(8192));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn update<F>(&mut self, socket_id: TcpSocketId, properties: SocketProperties, callback: F)
    where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<()>) + 'static,
    {
        let Some((key, callback)) = self.found(socket_id, callback) else {
            return;
        };
        self.r.tcps()[key].update(properties);
        self.r.reply_unit(callback, Ok(()));
    }

    /// Pauses or resumes reading. Resuming a connected socket delivers what the peer sent
    /// meanwhile; pausing stops `on_receive` for it at once (D8).
    ///
    /// ```
    /// # use chrome_sockets::{tcp::SocketProperties, Reactor};
    /// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let port = i32::from(server.local_addr()?.port());
    /// # std::thread::spawn(move || {
    /// #     let (mut peer, _) = server.accept().unwrap();
    /// #     std::io::Write::write_all(&mut peer, b"hi").unwrap();
    /// # });
    /// let mut r: Reactor<Vec<u8>> = Reactor::new()?;
    /// r.tcp().on_receive().add_listener(|r, got, info| {
    ///     got.extend_from_slice(&info.data);
    ///     r.stop();
    /// });
    /// r.tcp().create(SocketProperties::new(), move |r, _, created| {
    ///     let id = created.unwrap().socket_id;
    ///     r.tcp().set_paused(id, true, |_, _, result| result.unwrap());
    ///     r.tcp().connect(id, "127.0.0.1", port, move |r, _, result| {
    ///         result.unwrap();
    ///         // Whatever the peer sent meanwhile waits in the kernel until now.
    ///         r.tcp().set_paused(id, false, |_, _, result| result.unwrap());
    ///     });
    /// });
    /// # r.set_timeout(std::time::Duration::from_secs(10), |r, _| r.stop()); // bounds `run`
    /// let mut got = Vec::new();
    /// r.run(&mut got)?;
    /// assert_eq!(got, b"hi");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_paused<F>(&mut self, socket_id: TcpSocketId, paused: bool, callback: F)
    where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<()>) + 'static,
    {
        let Some((key, callback)) = self.found(socket_id, callback) else {
            return;
        };
        let resume = self.r.tcps()[key].set_paused(paused);
        // The callback is queued before the read step a resume queues, so it runs before the
        // `on_receive` it enables (as in Chrome, which replies before the read completes).
        self.r.reply_unit(callback, Ok(()));
        if resume {
            let (entry, mut cx) = self.r.tcp_io(key);
            entry.resume_reading(key, &mut cx);
        }
    }

    /// Connects to `peer_address` (an IP literal, or a host name looked up on the reactor's
    /// resolver pool, see [`ReactorBuilder::resolver_threads`](crate::ReactorBuilder::resolver_threads))
    /// and `peer_port`. The callback comes when the handshake completes or fails; then,
    /// unless paused, reading starts.
    ///
    /// # Errors (in this order)
    /// unknown id "Socket not found"; no manifest permission "Does not have permission"; port
    /// outside 0..=65535 -4 (D3); already connected (accepted sockets too) -23; a connect in
    /// progress -104; no resolver thread could be started -12; resolution failed -105; the
    /// connect failed: its code (-102 refused,
    /// -118 timed out, ...); disconnected before it finished -3, closed before it finished
    /// "Socket not found" (D5).
    ///
    /// ```
    /// # use chrome_sockets::{tcp::SocketProperties, Reactor};
    /// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let port = i32::from(server.local_addr()?.port());
    /// let mut r: Reactor<Option<Option<u16>>> = Reactor::new()?;
    /// r.tcp().create(SocketProperties::new(), move |r, _, created| {
    ///     let id = created.unwrap().socket_id;
    ///     r.tcp().connect(id, "127.0.0.1", port, move |r, _, result| {
    ///         result.unwrap();
    ///         r.tcp().get_info(id, |r, peer, info| {
    ///             *peer = Some(info.unwrap().peer_port);
    ///             r.stop();
    ///         });
    ///     });
    /// });
    /// # r.set_timeout(std::time::Duration::from_secs(10), |r, _| r.stop()); // bounds `run`
    /// let mut peer = None;
    /// r.run(&mut peer)?;
    /// assert_eq!(peer, Some(Some(port as u16)));
    /// # drop(server);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect<F>(
        &mut self,
        socket_id: TcpSocketId,
        peer_address: &str,
        peer_port: i32,
        callback: F,
    ) where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<()>) + 'static,
    {
        super::connect::connect(self.r, socket_id, peer_address, peer_port, callback);
    }

    /// Closes the connection; the id stays valid and may `connect` again. In-flight sends
    /// fail with -15 and a connect in progress with -3; a socket that was reading gets
    /// `on_receive_error` -100 after this callback and is left paused.
    ///
    /// ```
    /// # use chrome_sockets::{tcp::SocketProperties, Reactor};
    /// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let port = i32::from(server.local_addr()?.port());
    /// let mut r: Reactor<Option<bool>> = Reactor::new()?;
    /// r.tcp().create(SocketProperties::new(), move |r, _, created| {
    ///     let id = created.unwrap().socket_id;
    ///     r.tcp().connect(id, "127.0.0.1", port, move |r, _, result| {
    ///         result.unwrap();
    ///         r.tcp().disconnect(id, |_, _, result| result.unwrap());
    ///         r.tcp().get_info(id, |r, connected, info| {
    ///             *connected = Some(info.unwrap().connected); // the id is still valid
    ///             r.stop();
    ///         });
    ///     });
    /// });
    /// # r.set_timeout(std::time::Duration::from_secs(10), |r, _| r.stop()); // bounds `run`
    /// let mut connected = None;
    /// r.run(&mut connected)?;
    /// assert_eq!(connected, Some(false));
    /// # drop(server);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn disconnect<F>(&mut self, socket_id: TcpSocketId, callback: F)
    where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<()>) + 'static,
    {
        let Some((key, callback)) = self.found(socket_id, callback) else {
            return;
        };
        let (entry, mut cx) = self.r.tcp_io(key);
        let was_connected = entry.drop_connection(&mut cx);
        cx.queue.reply_unit(callback, Ok(()));
        entry.report_disconnect(was_connected, &mut cx);
    }

    /// Sends `data`. The callback comes once every byte is written (queued sends complete in
    /// issue order), with `bytes_sent` = `data.len()`.
    ///
    /// # Errors
    /// more than the write quota (200 MiB unless
    /// [`ReactorBuilder::write_quota`](crate::ReactorBuilder::write_quota) says otherwise)
    /// pending across the reactor "Exceeded write quota." (checked first); unknown id "Socket
    /// not found"; not connected, or after [`shutdown_send`](Self::shutdown_send) -15; a
    /// failed write its code (-101 for a reset peer), after which the socket is disconnected.
    ///
    /// ```
    /// # use chrome_sockets::{tcp::SocketProperties, Reactor};
    /// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let port = i32::from(server.local_addr()?.port());
    /// let mut r: Reactor<Option<usize>> = Reactor::new()?;
    /// r.tcp().create(SocketProperties::new(), move |r, _, created| {
    ///     let id = created.unwrap().socket_id;
    ///     r.tcp().connect(id, "127.0.0.1", port, move |r, _, result| {
    ///         result.unwrap();
    ///         r.tcp().send(id, "hello", |r, sent, result| {
    ///             *sent = Some(result.unwrap().bytes_sent);
    ///             r.stop();
    ///         });
    ///     });
    /// });
    /// # r.set_timeout(std::time::Duration::from_secs(10), |r, _| r.stop()); // bounds `run`
    /// let mut sent = None;
    /// r.run(&mut sent)?;
    /// assert_eq!(sent, Some(5));
    /// let (mut peer, _) = server.accept()?;
    /// let mut buf = [0; 5];
    /// std::io::Read::read_exact(&mut peer, &mut buf)?;
    /// assert_eq!(&buf, b"hello");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn send<F>(&mut self, socket_id: TcpSocketId, data: impl Into<Vec<u8>>, callback: F)
    where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<SendInfo>) + 'static,
    {
        let data = data.into();
        if self.r.write_pending().saturating_add(data.len()) > self.r.write_quota() {
            return self.r.reply(callback, Err(LastError::write_quota()));
        }
        let Some(key) = self.r.tcps().key(socket_id.raw()) else {
            return self.r.reply(callback, Err(LastError::socket_not_found()));
        };
        let (entry, mut cx) = self.r.tcp_io(key);
        if !entry.can_send() {
            let e = LastError::net(NetError::SOCKET_NOT_CONNECTED);
            return cx.queue.reply(callback, Err(e));
        }
        entry.send(key, data, Box::new(callback), &mut cx);
    }

    /// Disconnects and destroys the socket; the id is invalid at once and no event for it
    /// follows (D6). In-flight sends fail with -15; a connect in progress gets "Socket not
    /// found", as in Chrome (D5).
    ///
    /// ```
    /// # use chrome_sockets::{tcp::SocketProperties, Reactor};
    /// let mut r: Reactor<Option<String>> = Reactor::new()?;
    /// r.tcp().create(SocketProperties::new(), |r, _, created| {
    ///     let id = created.unwrap().socket_id;
    ///     r.tcp().close(id, |_, _, result| result.unwrap());
    ///     r.tcp().get_info(id, |r, msg, info| {
    ///         *msg = Some(info.unwrap_err().message().to_owned());
    ///         r.stop();
    ///     });
    /// });
    /// # r.set_timeout(std::time::Duration::from_secs(10), |r, _| r.stop()); // bounds `run`
    /// let mut msg = None;
    /// r.run(&mut msg)?;
    /// assert_eq!(msg.as_deref(), Some("Socket not found"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn close<F>(&mut self, socket_id: TcpSocketId, callback: F)
    where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<()>) + 'static,
    {
        let closed = self.r.close_tcp(socket_id.raw());
        self.r.reply_unit(callback, LastError::found(closed));
    }

    /// The socket's state as of this call.
    ///
    /// ```
    /// # use chrome_sockets::{tcp::{SocketInfo, SocketProperties}, Reactor};
    /// let mut r: Reactor<Option<SocketInfo>> = Reactor::new()?;
    /// r.tcp().create(SocketProperties::new().name("db"), |r, _, created| {
    ///     let id = created.unwrap().socket_id;
    ///     r.tcp().get_info(id, |r, info, result| {
    ///         *info = Some(result.unwrap());
    ///         r.stop();
    ///     });
    /// });
    /// # r.set_timeout(std::time::Duration::from_secs(10), |r, _| r.stop()); // bounds `run`
    /// let mut info = None;
    /// r.run(&mut info)?;
    /// let info = info.unwrap();
    /// assert_eq!(info.name.as_deref(), Some("db"));
    /// assert!(!info.connected && !info.paused && info.peer_port.is_none());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn get_info<F>(&mut self, socket_id: TcpSocketId, callback: F)
    where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<SocketInfo>) + 'static,
    {
        let info = self.r.tcps().by_id(socket_id.raw()).map(TcpEntry::info);
        self.r
            .reply(callback, info.ok_or_else(LastError::socket_not_found));
    }

    /// Every live tcp socket (created and accepted), in id order.
    ///
    /// ```
    /// # use chrome_sockets::{tcp::SocketProperties, Reactor};
    /// let mut r: Reactor<Vec<String>> = Reactor::new()?;
    /// r.tcp().create(SocketProperties::new().name("a"), |_, _, _| {});
    /// r.tcp().create(SocketProperties::new().name("b"), |r, _, _| {
    ///     r.tcp().get_sockets(|r, names, infos| {
    ///         *names = infos.unwrap().into_iter().filter_map(|i| i.name).collect();
    ///         r.stop();
    ///     });
    /// });
    /// # r.set_timeout(std::time::Duration::from_secs(10), |r, _| r.stop()); // bounds `run`
    /// let mut names = Vec::new();
    /// r.run(&mut names)?;
    /// assert_eq!(names, ["a", "b"]);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn get_sockets<F>(&mut self, callback: F)
    where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<Vec<SocketInfo>>) + 'static,
    {
        let infos = self.r.tcps().iter().map(TcpEntry::info).collect();
        self.r.reply(callback, Ok(infos));
    }

    /// The key of a live socket, with the callback handed back; for an unknown id, the
    /// callback is answered "Socket not found" and `None` returned.
    fn found<F>(&mut self, socket_id: TcpSocketId, callback: F) -> Option<(usize, F)>
    where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<()>) + 'static,
    {
        match self.r.tcps().key(socket_id.raw()) {
            Some(key) => Some((key, callback)),
            None => {
                self.r
                    .reply_unit(callback, Err(LastError::socket_not_found()));
                None
            }
        }
    }

    /// `onReceive`: bytes read from any tcp socket of this reactor, accepted or connected
    /// (one listener hears them all: dispatch on [`ReceiveInfo::socket_id`]). At most
    /// `buffer_size` bytes each, only while the socket is unpaused; a message or line may
    /// arrive in pieces (see the cookbook's line-framing recipe).
    ///
    /// ```
    /// # use chrome_sockets::{tcp::SocketProperties, Reactor};
    /// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let port = i32::from(server.local_addr()?.port());
    /// # std::thread::spawn(move || {
    /// #     let (mut peer, _) = server.accept().unwrap();
    /// #     std::io::Write::write_all(&mut peer, b"ping").unwrap();
    /// # });
    /// let mut r: Reactor<Vec<u8>> = Reactor::new()?;
    /// r.tcp().on_receive().add_listener(|r, got, info| {
    ///     got.extend_from_slice(&info.data);
    ///     if got.len() == 4 {
    ///         r.stop();
    ///     }
    /// });
    /// r.tcp().create(SocketProperties::new(), move |r, _, created| {
    ///     let id = created.unwrap().socket_id;
    ///     r.tcp().connect(id, "127.0.0.1", port, |_, _, result| result.unwrap());
    /// });
    /// # r.set_timeout(std::time::Duration::from_secs(10), |r, _| r.stop()); // bounds `run`
    /// let mut got = Vec::new();
    /// r.run(&mut got)?;
    /// assert_eq!(got, b"ping");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn on_receive(&mut self) -> Event<'_, S, ReceiveInfo> {
        Event::new(&mut self.r.listeners().on_receive)
    }

    /// `onReceiveError`: reading ended on a tcp socket of this reactor, -100 when the peer
    /// closed, its own code otherwise (-101 for a reset). The socket is then disconnected
    /// and paused, but its id stays valid until you [`close`](Self::close) it.
    ///
    /// ```
    /// # use chrome_sockets::{tcp::SocketProperties, Reactor};
    /// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let port = i32::from(server.local_addr()?.port());
    /// # std::thread::spawn(move || drop(server.accept().unwrap())); // the peer hangs up
    /// let mut r: Reactor<Option<i32>> = Reactor::new()?;
    /// r.tcp().on_receive_error().add_listener(|r, code, info| {
    ///     *code = Some(info.result_code.code());
    ///     r.stop();
    /// });
    /// r.tcp().create(SocketProperties::new(), move |r, _, created| {
    ///     let id = created.unwrap().socket_id;
    ///     r.tcp().connect(id, "127.0.0.1", port, |_, _, result| result.unwrap());
    /// });
    /// # r.set_timeout(std::time::Duration::from_secs(10), |r, _| r.stop()); // bounds `run`
    /// let mut code = None;
    /// r.run(&mut code)?;
    /// assert_eq!(code, Some(-100)); // net::ERR_CONNECTION_CLOSED
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn on_receive_error(&mut self) -> Event<'_, S, ReceiveErrorInfo> {
        Event::new(&mut self.r.listeners().on_receive_error)
    }
}
