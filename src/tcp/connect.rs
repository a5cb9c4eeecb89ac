//! Connecting a tcp socket: a non-blocking connect to each address in turn, and host-name
//! resolution on the reactor's resolver pool (`resolver.rs`), whose answer comes back
//! through the reactor's waker.

use std::io;
use std::mem;
use std::net::SocketAddr;

use super::entry::{Conn, TcpEntry};
use crate::error::{LastError, Result};
use crate::net_error::NetError;
use crate::queue::{Io, Reply};
use crate::resolver::{Resolution, Resolver};
use crate::sys;

/// Where `connect` goes.
#[derive(Debug)]
pub(crate) enum Target<'a> {
    /// An IP literal's address: connect at once.
    Addr(SocketAddr),
    /// A host name and port: resolve first, on the resolver pool.
    Host(&'a str, u16),
}

impl<R: 'static, S: 'static> TcpEntry<R, S> {
    /// Why `connect` cannot start now: -23 when connected (accepted sockets too), -104
    /// while a connect is in progress.
    pub(crate) fn connect_refusal(&self) -> Option<LastError> {
        match self.conn {
            Conn::Idle => None,
            Conn::Connected { .. } => Some(LastError::net(NetError::SOCKET_IS_CONNECTED)),
            Conn::Resolving { .. } | Conn::Connecting { .. } => {
                Some(LastError::net(NetError::CONNECTION_FAILED))
            }
        }
    }

    /// Starts a connect to `target` (resolving a host name through `resolver`); `callback`
    /// is answered when it completes or fails.
    pub(crate) fn connect(
        &mut self,
        key: usize,
        target: Target<'_>,
        callback: Reply<R, S, Result<()>>,
        resolver: &mut Resolver,
        cx: &mut Io<'_, R, S>,
    ) {
        self.extra_mut().connect = Some(callback);
        match target {
            Target::Addr(addr) => self.start_connect(key, vec![addr], cx),
            Target::Host(host, port) => match resolver.start(self.id, host, port) {
                Ok(ticket) => self.conn = Conn::Resolving { ticket },
                Err(e) => {
                    // No resolver thread runs and none could be started: the connect's
                    // callback hears it (-12), nothing is left queued.
                    log::warn!("cannot start a resolver thread: {e}");
                    let e = LastError::net(NetError::INSUFFICIENT_RESOURCES);
                    self.connect_done(Err(e), cx);
                }
            },
        }
    }

    /// A resolution for this socket came back. One for another connect (older, closed,
    /// disconnected or timed out: its ticket is gone and its callback was answered) is
    /// dropped without touching this socket.
    pub(crate) fn resolved(&mut self, key: usize, res: Resolution, cx: &mut Io<'_, R, S>) {
        match &self.conn {
            Conn::Resolving { ticket } if ticket.seq() == res.seq => {}
            _ => return,
        }
        let Some(result) = res.result else {
            // Skipped: not reached while the ticket lives, which it does here.
            return;
        };
        self.conn = Conn::Idle;
        match result {
            Ok(addrs) if !addrs.is_empty() => self.start_connect(key, addrs, cx),
            Ok(_) | Err(_) => {
                self.connect_done(Err(LastError::net(NetError::NAME_NOT_RESOLVED)), cx)
            }
        }
    }

    /// Starts a non-blocking connect to the first address that takes one; on failure of all,
    /// answers the connect callback with the last error (Chromium's `MapConnectError`).
    fn start_connect(&mut self, key: usize, mut addrs: Vec<SocketAddr>, cx: &mut Io<'_, R, S>) {
        let mut last = NetError::NAME_NOT_RESOLVED;
        while !addrs.is_empty() {
            let addr = addrs.remove(0);
            match sys::connect(addr) {
                Ok(stream) => {
                    self.conn = Conn::Connecting {
                        stream,
                        rest: addrs,
                    };
                    match self.ensure_registered(key, cx) {
                        Ok(()) => return,
                        Err(e) => {
                            last = NetError::from_io_error(&e);
                            addrs = match mem::replace(&mut self.conn, Conn::Idle) {
                                Conn::Connecting { rest, .. } => rest,
                                _ => Vec::new(),
                            };
                        }
                    }
                }
                Err(e) => last = connect_error(&e),
            }
        }
        self.connect_done(Err(LastError::net(last)), cx);
    }

    /// The connecting socket became writable or failed: finish, or try the next address.
    pub(super) fn finish_connect(&mut self, key: usize, cx: &mut Io<'_, R, S>) {
        let Conn::Connecting { stream, .. } = &self.conn else {
            return;
        };
        let outcome = match stream.take_error() {
            Ok(Some(e)) | Err(e) => Err(e),
            Ok(None) => match stream.peer_addr() {
                Ok(peer) => Ok(peer),
                Err(e) if e.kind() == io::ErrorKind::NotConnected => return,
                Err(e) => Err(e),
            },
        };
        let Conn::Connecting { stream, rest } = mem::replace(&mut self.conn, Conn::Idle) else {
            unreachable!("checked above");
        };
        match outcome {
            Ok(peer) => {
                if let Err(e) = stream.set_nodelay(true) {
                    log::debug!("TCP_NODELAY on a connected socket: {e}");
                }
                self.conn = Conn::Connected { stream, peer };
                self.connect_done(Ok(()), cx);
                if !self.paused {
                    self.queue_read(key, cx);
                }
            }
            Err(e) => {
                self.close_stream(stream, cx);
                if rest.is_empty() {
                    self.connect_done(Err(LastError::net(connect_error(&e))), cx);
                } else {
                    self.start_connect(key, rest, cx);
                }
            }
        }
    }

    /// `close` overtook a connect in progress: its callback gets "Socket not found", as
    /// Chrome 156 answers it (measured; D5). The fd is dropped by the close itself.
    pub(crate) fn connect_overtaken_by_close(&mut self, cx: &mut Io<'_, R, S>) {
        self.connect_done(Err(LastError::socket_not_found()), cx);
    }

    fn connect_done(&mut self, result: Result<()>, cx: &mut Io<'_, R, S>) {
        if let Some(callback) = self.take_connect() {
            cx.queue.reply(callback, result);
        }
    }
}

fn connect_error(e: &io::Error) -> NetError {
    e.raw_os_error()
        .map_or_else(|| NetError::from_io_error(e), NetError::from_connect_errno)
}
