//! The [`Tcp`] view: `chrome.sockets.tcp`'s methods, borrowed from a reactor.

use std::net::SocketAddr;

use super::connect::Target;
use super::dict::{CreateInfo, SocketInfo, SocketProperties};
use super::entry::TcpEntry;
use super::send::WRITE_QUOTA;
use crate::address::parse_ip_literal;
use crate::error::{LastError, Result};
use crate::event::Event;
use crate::ids::TcpSocketId;
use crate::info::{ReceiveErrorInfo, ReceiveInfo, SendInfo};
use crate::net_error::NetError;
use crate::reactor::Reactor;
use crate::sys;

/// `chrome.sockets.tcp`, borrowed from a [`Reactor`] by [`Reactor::tcp`].
///
/// Every callback is `FnOnce(&mut Reactor<S>, &mut S, Result<T, LastError>)`; where Chrome's
/// callback is optional, pass `|_, _, _| {}`.
#[must_use]
#[derive(Debug)]
pub struct Tcp<'r, S: 'static> {
    r: &'r mut Reactor<S>,
}

impl<S: 'static> Reactor<S> {
    /// `chrome.sockets.tcp`: accepted and connected sockets.
    pub fn tcp(&mut self) -> Tcp<'_, S> {
        Tcp { r: self }
    }
}

impl<'r, S: 'static> Tcp<'r, S> {
    /// Creates an unconnected socket (no fd until `connect`).
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
    pub fn update<F>(&mut self, socket_id: TcpSocketId, properties: SocketProperties, callback: F)
    where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<()>) + 'static,
    {
        let tcps = self.r.tcps();
        let result = match tcps.key(socket_id.raw()) {
            Some(key) => {
                tcps[key].update(properties);
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
        let tcps = self.r.tcps();
        let Some(key) = tcps.key(socket_id.raw()) else {
            return self
                .r
                .reply_unit(callback, Err(LastError::socket_not_found()));
        };
        let resume = tcps[key].set_paused(paused);
        // The callback is queued before the read step a resume queues, so it runs before the
        // `on_receive` it enables (as in Chrome, which replies before the read completes).
        self.r.reply_unit(callback, Ok(()));
        if resume {
            let (entry, mut cx) = self.r.tcp_io(key);
            entry.resume_reading(key, &mut cx);
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
        let result = self.with_stream(socket_id, |stream| {
            sys::set_keep_alive(std::os::fd::AsFd::as_fd(stream), enable, delay)
        });
        self.r.reply_unit(callback, result);
    }

    /// `TCP_NODELAY = no_delay`. Errors as for [`set_keep_alive`](Tcp::set_keep_alive).
    pub fn set_no_delay<F>(&mut self, socket_id: TcpSocketId, no_delay: bool, callback: F)
    where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<()>) + 'static,
    {
        let result = self.with_stream(socket_id, |stream| stream.set_nodelay(no_delay));
        self.r.reply_unit(callback, result);
    }

    fn with_stream(
        &mut self,
        socket_id: TcpSocketId,
        f: impl FnOnce(&mio::net::TcpStream) -> std::io::Result<()>,
    ) -> Result<()> {
        match self.r.tcps().by_id(socket_id.raw()) {
            Some(entry) => entry.with_stream(f),
            None => Err(LastError::socket_not_found_with(NetError::FAILED)),
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
        let target = match parse_ip_literal(peer_address) {
            Some(ip) => Target::Addr(SocketAddr::new(ip, port)),
            None => Target::Host(peer_address, port),
        };
        self.r.connect(key, target, Box::new(callback));
    }

    fn check_connect(&mut self, socket_id: TcpSocketId, address: &str, port: i32) -> Result<usize> {
        let key = self
            .r
            .tcps()
            .key(socket_id.raw())
            .ok_or_else(LastError::socket_not_found)?;
        if let Some(manifest) = self.r.manifest() {
            if !manifest.allows_connect(address, port as u16) {
                return Err(LastError::no_permission());
            }
        }
        if u16::try_from(port).is_err() {
            return Err(LastError::net(NetError::INVALID_ARGUMENT));
        }
        match self.r.tcps()[key].connect_refusal() {
            None => Ok(key),
            Some(e) => Err(e),
        }
    }

    /// Closes the connection; the id stays valid and may `connect` again. In-flight sends
    /// fail with -15 and a connect in progress with -3; a socket that was reading gets
    /// `on_receive_error` -100 after this callback and is left paused.
    pub fn disconnect<F>(&mut self, socket_id: TcpSocketId, callback: F)
    where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<()>) + 'static,
    {
        let Some(key) = self.r.tcps().key(socket_id.raw()) else {
            return self
                .r
                .reply_unit(callback, Err(LastError::socket_not_found()));
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
    /// more than 200 MiB pending across the reactor "Exceeded write quota." (checked first);
    /// unknown id "Socket not found"; not connected -15; a failed write its code (-101 for a
    /// reset peer), after which the socket is disconnected.
    pub fn send<F>(&mut self, socket_id: TcpSocketId, data: impl Into<Vec<u8>>, callback: F)
    where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<SendInfo>) + 'static,
    {
        let data = data.into();
        if self.r.write_pending().saturating_add(data.len()) > WRITE_QUOTA {
            return self.r.reply(callback, Err(LastError::write_quota()));
        }
        let Some(key) = self.r.tcps().key(socket_id.raw()) else {
            return self.r.reply(callback, Err(LastError::socket_not_found()));
        };
        let (entry, mut cx) = self.r.tcp_io(key);
        if !entry.is_connected() {
            let e = LastError::net(NetError::SOCKET_NOT_CONNECTED);
            return cx.queue.reply(callback, Err(e));
        }
        entry.send(key, data, Box::new(callback), &mut cx);
    }

    /// Disconnects and destroys the socket; the id is invalid at once and no event for it
    /// follows (D6). In-flight sends fail with -15, a connect in progress with -3.
    pub fn close<F>(&mut self, socket_id: TcpSocketId, callback: F)
    where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<()>) + 'static,
    {
        let closed = self.r.close_tcp(socket_id.raw());
        self.r.reply_unit(callback, LastError::found(closed));
    }

    /// The socket's state as of this call.
    pub fn get_info<F>(&mut self, socket_id: TcpSocketId, callback: F)
    where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<SocketInfo>) + 'static,
    {
        let info = self.r.tcps().by_id(socket_id.raw()).map(TcpEntry::info);
        self.r
            .reply(callback, info.ok_or_else(LastError::socket_not_found));
    }

    /// Every live tcp socket (created and accepted), in id order.
    pub fn get_sockets<F>(&mut self, callback: F)
    where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<Vec<SocketInfo>>) + 'static,
    {
        let infos = self.r.tcps().iter().map(TcpEntry::info).collect();
        self.r.reply(callback, Ok(infos));
    }

    /// `onReceive`.
    pub fn on_receive(&mut self) -> Event<'_, S, ReceiveInfo> {
        Event::new(&mut self.r.listeners().on_receive)
    }

    /// `onReceiveError`.
    pub fn on_receive_error(&mut self) -> Event<'_, S, ReceiveErrorInfo> {
        Event::new(&mut self.r.listeners().on_receive_error)
    }
}
