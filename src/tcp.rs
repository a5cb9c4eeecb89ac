//! `chrome.sockets.tcp`: the [`Tcp`] view and its dictionaries, for accepted and connected
//! sockets.
//!
//! Calls take effect at once and queue their callback for a later turn. Semantics (DESIGN §4):
//! - reads happen only while unpaused, at most `buffer_size` bytes (default 4096) an
//!   `on_receive`; bytes that arrive while paused wait in the kernel and come after unpausing;
//! - EOF raises `on_receive_error` -100, a read error its own code (-101 for a reset, D7);
//!   either way the socket is disconnected and paused;
//! - `send` completes when every byte is written, in issue order; a failed write gives that
//!   send its code and fails queued sends with -15 (D9);
//! - `disconnect` of a reading socket raises -100 after its callback; `close` raises nothing
//!   for the dead id (D6).

use std::net::SocketAddr;

use crate::address::{format_ip, parse_ip_literal};
use crate::error::{LastError, Result};
use crate::event::Event;
use crate::queue::Task;
use crate::tcp_socket::{Conn, TcpEntry, WRITE_QUOTA};
use crate::{sys, NetError, Reactor, TcpSocketId};

use std::os::fd::AsRawFd;

/// `SocketProperties` of `chrome.sockets.tcp`: fields left `None` are not changed (or take
/// their default on `create`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SocketProperties {
    /// Survive [`Reactor::suspend_app`] (default false).
    pub persistent: Option<bool>,
    /// An application-defined name (default empty).
    pub name: Option<String>,
    /// Largest `on_receive` payload; 0 or negative means the default, 4096. Reads are capped
    /// at 1 MiB whatever the value.
    pub buffer_size: Option<i32>,
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

    /// Sets `buffer_size`.
    pub fn buffer_size(mut self, buffer_size: i32) -> Self {
        self.buffer_size = Some(buffer_size);
        self
    }
}

/// The result of [`Tcp::create`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CreateInfo {
    /// The new socket's id.
    pub socket_id: TcpSocketId,
}

/// `SocketInfo` of `chrome.sockets.tcp`.
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

/// The result of a successful [`Tcp::send`]: every byte was written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SendInfo {
    /// Always [`NetError::OK`] here; failures arrive as `Err` with the code.
    pub result_code: NetError,
    /// The whole length of the data.
    pub bytes_sent: usize,
}

/// `onReceive`: bytes read from a socket (1 to `buffer_size` of them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReceiveInfo {
    /// The socket.
    pub socket_id: TcpSocketId,
    /// The bytes.
    pub data: Vec<u8>,
}

/// `onReceiveError`: the connection ended (-100 on EOF or disconnect, the read error's code
/// otherwise); the socket is now disconnected and paused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReceiveErrorInfo {
    /// The socket.
    pub socket_id: TcpSocketId,
    /// The net error.
    pub result_code: NetError,
}

/// `chrome.sockets.tcp`, borrowed from a [`Reactor`] by [`Reactor::tcp`].
///
/// Every callback is `FnOnce(&mut Reactor<S>, &mut S, Result<T, LastError>)`; where Chrome's
/// callback is optional, pass `|_, _, _| {}`.
#[must_use]
#[derive(Debug)]
pub struct Tcp<'r, S: 'static> {
    r: &'r mut Reactor<S>,
}

impl<'r, S: 'static> Tcp<'r, S> {
    pub(crate) fn new(r: &'r mut Reactor<S>) -> Self {
        Tcp { r }
    }

    /// Creates an unconnected socket (no fd until `connect`).
    pub fn create<F>(&mut self, properties: SocketProperties, callback: F)
    where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<CreateInfo>) + 'static,
    {
        let Some(id) = self.r.tcp_ids.allocate() else {
            return self.r.reply(callback, Err(LastError::ids_exhausted()));
        };
        let entry = TcpEntry::created(
            id,
            properties.name.unwrap_or_default(),
            properties.persistent.unwrap_or(false),
            properties.buffer_size.unwrap_or(0),
        );
        let key = self.r.tcps.insert(entry);
        self.r.tcp_ids.insert(id, key);
        let info = CreateInfo {
            socket_id: TcpSocketId::from_raw(id),
        };
        self.r.reply(callback, Ok(info));
    }

    /// Sets the properties that are `Some`; a new `buffer_size` applies from the next read.
    pub fn update<F>(&mut self, socket_id: TcpSocketId, properties: SocketProperties, callback: F)
    where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<()>) + 'static,
    {
        let result = match self.r.tcp_key(socket_id) {
            Some(key) => {
                let entry = &mut self.r.tcps[key];
                if let Some(name) = properties.name {
                    entry.name = name;
                }
                if let Some(persistent) = properties.persistent {
                    entry.persistent = persistent;
                }
                if let Some(buffer_size) = properties.buffer_size {
                    entry.buffer_size = buffer_size;
                }
                Ok(())
            }
            None => Err(LastError::socket_not_found()),
        };
        self.r.reply_unit(callback, result);
    }

    /// Pauses or resumes reading. Resuming a connected socket delivers what the peer sent
    /// meanwhile; pausing stops `on_receive` for it at once (D8).
    pub fn set_paused<F>(&mut self, socket_id: TcpSocketId, paused: bool, callback: F)
    where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<()>) + 'static,
    {
        let Some(key) = self.r.tcp_key(socket_id) else {
            return self
                .r
                .reply_unit(callback, Err(LastError::socket_not_found()));
        };
        let entry = &mut self.r.tcps[key];
        let resume = entry.paused && !paused;
        entry.paused = paused;
        // The callback is queued before the read step a resume queues, so it runs before the
        // `on_receive` it enables (as in Chrome, which replies before the read completes).
        self.r.reply_unit(callback, Ok(()));
        if resume {
            self.r.resume_reading(key);
        }
    }

    /// `SO_KEEPALIVE = enable`; with `enable` and a non-zero `delay` (seconds) also
    /// `TCP_KEEPIDLE = TCP_KEEPINTVL = delay`. Errors: unknown id -2 "Socket not found"; not
    /// connected or a refused option (e.g. negative delay) -2 "net::ERR_FAILED".
    pub fn set_keep_alive<F>(
        &mut self,
        socket_id: TcpSocketId,
        enable: bool,
        delay: i32,
        callback: F,
    ) where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<()>) + 'static,
    {
        let result = self.with_connected_fd(socket_id, |fd| sys::set_keep_alive(fd, enable, delay));
        self.r.reply_unit(callback, result);
    }

    /// `TCP_NODELAY = no_delay`. Errors as for [`set_keep_alive`](Tcp::set_keep_alive).
    pub fn set_no_delay<F>(&mut self, socket_id: TcpSocketId, no_delay: bool, callback: F)
    where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<()>) + 'static,
    {
        let result = match self.r.tcp_key(socket_id) {
            None => Err(LastError::socket_not_found_with(NetError::FAILED)),
            Some(key) => match &self.r.tcps[key].conn {
                Conn::Connected { stream, .. } => stream
                    .set_nodelay(no_delay)
                    .map_err(|_| LastError::net(NetError::FAILED)),
                _ => Err(LastError::net(NetError::FAILED)),
            },
        };
        self.r.reply_unit(callback, result);
    }

    fn with_connected_fd(
        &mut self,
        socket_id: TcpSocketId,
        f: impl FnOnce(std::os::fd::RawFd) -> std::io::Result<()>,
    ) -> Result<()> {
        let key = self
            .r
            .tcp_key(socket_id)
            .ok_or_else(|| LastError::socket_not_found_with(NetError::FAILED))?;
        match &self.r.tcps[key].conn {
            Conn::Connected { stream, .. } => {
                f(stream.as_raw_fd()).map_err(|_| LastError::net(NetError::FAILED))
            }
            _ => Err(LastError::net(NetError::FAILED)),
        }
    }

    /// Connects to `peer_address` (an IP literal, or a host name resolved off the loop
    /// thread) and `peer_port`. The callback comes when the handshake completes or fails;
    /// then, unless paused, reading starts.
    ///
    /// # Errors (in this order)
    /// unknown id "Socket not found"; no manifest permission "Does not have permission"; port
    /// outside 0..=65535 -4 (D3); already connected (accepted sockets too) -23; a connect in
    /// progress -104; resolution failed -105; the connect failed: its code (-102 refused,
    /// -118 timed out, ...); closed or disconnected before it finished -3 (D5).
    pub fn connect<F>(
        &mut self,
        socket_id: TcpSocketId,
        peer_address: &str,
        peer_port: i32,
        callback: F,
    ) where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<()>) + 'static,
    {
        let key = match self.check_connect(socket_id, peer_address, peer_port) {
            Ok(key) => key,
            Err(e) => return self.r.reply(callback, Err(e)),
        };
        let port = peer_port as u16;
        self.r.tcps[key].connect = Some(Box::new(callback));
        match parse_ip_literal(peer_address) {
            Some(ip) => self.r.start_connect(key, vec![SocketAddr::new(ip, port)]),
            None => self.r.start_resolution(key, peer_address, port),
        }
    }

    fn check_connect(&self, socket_id: TcpSocketId, address: &str, port: i32) -> Result<usize> {
        let key = self
            .r
            .tcp_key(socket_id)
            .ok_or_else(LastError::socket_not_found)?;
        if let Some(manifest) = &self.r.manifest {
            if !manifest.allows_connect(address, port as u16) {
                return Err(LastError::no_permission());
            }
        }
        if u16::try_from(port).is_err() {
            return Err(LastError::net(NetError::INVALID_ARGUMENT));
        }
        match self.r.tcps[key].conn {
            Conn::Idle => Ok(key),
            Conn::Connected { .. } => Err(LastError::net(NetError::SOCKET_IS_CONNECTED)),
            Conn::Resolving { .. } | Conn::Connecting { .. } => {
                Err(LastError::net(NetError::CONNECTION_FAILED))
            }
        }
    }

    /// Closes the connection; the id stays valid and may `connect` again. In-flight sends
    /// fail with -15 and a connect in progress with -3; a socket that was reading gets
    /// `on_receive_error` -100 after this callback and is left paused.
    pub fn disconnect<F>(&mut self, socket_id: TcpSocketId, callback: F)
    where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<()>) + 'static,
    {
        let Some(key) = self.r.tcp_key(socket_id) else {
            return self
                .r
                .reply_unit(callback, Err(LastError::socket_not_found()));
        };
        let was_connected = self.r.drop_connection(key);
        self.r.reply_unit(callback, Ok(()));
        let entry = &mut self.r.tcps[key];
        if was_connected && !entry.paused {
            entry.paused = true;
            self.r.push(Task::ReceiveError(ReceiveErrorInfo {
                socket_id,
                result_code: NetError::CONNECTION_CLOSED,
            }));
        }
    }

    /// Sends `data`. The callback comes once every byte is written (queued sends complete in
    /// issue order), with `bytes_sent` = `data.len()`.
    ///
    /// # Errors
    /// more than 200 MiB pending across the reactor "Exceeded write quota." (checked first);
    /// unknown id "Socket not found"; not connected -15; a failed write its code (-101 for a
    /// reset peer), after which the socket is disconnected.
    pub fn send<F>(&mut self, socket_id: TcpSocketId, data: impl Into<Vec<u8>>, callback: F)
    where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<SendInfo>) + 'static,
    {
        let data = data.into();
        if self.r.write_pending.saturating_add(data.len()) > WRITE_QUOTA {
            return self.r.reply(callback, Err(LastError::write_quota()));
        }
        let Some(key) = self.r.tcp_key(socket_id) else {
            return self.r.reply(callback, Err(LastError::socket_not_found()));
        };
        if !self.r.tcps[key].is_connected() {
            let e = LastError::net(NetError::SOCKET_NOT_CONNECTED);
            return self.r.reply(callback, Err(e));
        }
        self.r.queue_send(key, data, Box::new(callback));
    }

    /// Disconnects and destroys the socket; the id is invalid at once and no event for it
    /// follows (D6). In-flight sends fail with -15, a connect in progress with -3.
    pub fn close<F>(&mut self, socket_id: TcpSocketId, callback: F)
    where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<()>) + 'static,
    {
        let result = if self.r.close_tcp(socket_id.raw()) {
            Ok(())
        } else {
            Err(LastError::socket_not_found())
        };
        self.r.reply_unit(callback, result);
    }

    /// The socket's state as of this call.
    pub fn get_info<F>(&mut self, socket_id: TcpSocketId, callback: F)
    where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<SocketInfo>) + 'static,
    {
        let result = match self.r.tcp_key(socket_id) {
            Some(key) => Ok(info(&self.r.tcps[key])),
            None => Err(LastError::socket_not_found()),
        };
        self.r.reply(callback, result);
    }

    /// Every live tcp socket (created and accepted), in id order.
    pub fn get_sockets<F>(&mut self, callback: F)
    where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<Vec<SocketInfo>>) + 'static,
    {
        let infos = self
            .r
            .tcp_ids
            .keys()
            .map(|key| info(&self.r.tcps[key]))
            .collect();
        self.r.reply(callback, Ok(infos));
    }

    /// `onReceive`.
    pub fn on_receive(&mut self) -> Event<'_, S, ReceiveInfo> {
        self.r.receive_event()
    }

    /// `onReceiveError`.
    pub fn on_receive_error(&mut self) -> Event<'_, S, ReceiveErrorInfo> {
        self.r.receive_error_event()
    }
}

fn info<S>(entry: &TcpEntry<S>) -> SocketInfo {
    let (local, peer) = match &entry.conn {
        Conn::Connected { stream, peer } => (stream.local_addr().ok(), Some(*peer)),
        _ => (None, None),
    };
    SocketInfo {
        socket_id: TcpSocketId::from_raw(entry.id),
        persistent: entry.persistent,
        name: (!entry.name.is_empty()).then(|| entry.name.clone()),
        buffer_size: (entry.buffer_size > 0).then_some(entry.buffer_size),
        paused: entry.paused,
        connected: entry.is_connected(),
        local_address: local.map(|a| format_ip(a.ip())),
        local_port: local.map(|a| a.port()),
        peer_address: peer.map(|a| format_ip(a.ip())),
        peer_port: peer.map(|a| a.port()),
    }
}
