//! `chrome.sockets.tcp.connect` and its **extension** `connect_timeout`, in one place: the
//! checks (id, manifest permission, port, socket state), the hand-off of a host name to the
//! reactor's resolver pool (`resolver.rs`; the answer comes back through the reactor's waker
//! to [`TcpEntry::resolved`]), a non-blocking connect to each address in turn, its completion
//! on the socket's first readiness event ([`TcpEntry::ready`] routes it to `finish_connect`),
//! the timeout, what `close` and `disconnect` do to a connect in progress, and the callback.
//!
//! The public methods ([`Tcp::connect`](super::Tcp::connect),
//! [`Tcp::connect_timeout`](super::Tcp::connect_timeout)) forward to the functions here.

use std::io;
use std::mem;
use std::net::SocketAddr;
use std::time::Duration;

use super::entry::{Conn, TcpEntry};
use crate::address::parse_ip_literal;
use crate::error::{LastError, Result};
use crate::ids::TcpSocketId;
use crate::net_error::NetError;
use crate::queue::{Io, Reply};
use crate::reactor::Reactor;
use crate::resolver::{Resolution, Resolver};
use crate::sys;

/// Where `connect` goes.
#[derive(Debug)]
enum Target<'a> {
    /// An IP literal's address: connect at once.
    Addr(SocketAddr),
    /// A host name and port: resolve first, on the resolver pool.
    Host(&'a str, u16),
}

/// [`Tcp::connect`](super::Tcp::connect): checks the call (its docs list the errors in this
/// order), then starts the connect; `callback` is answered exactly once.
pub(super) fn connect<S: 'static>(
    r: &mut Reactor<S>,
    socket_id: TcpSocketId,
    address: &str,
    port: i32,
    callback: impl FnOnce(&mut Reactor<S>, &mut S, Result<()>) + 'static,
) {
    let key = match check(r, socket_id, address, port) {
        Ok(key) => key,
        Err(e) => return r.reply(callback, Err(e)),
    };
    r.tcps()[key].next_connect_attempt();
    let port = port as u16; // checked
    let target = match parse_ip_literal(address) {
        Some(ip) => Target::Addr(SocketAddr::new(ip, port)),
        None => Target::Host(address, port),
    };
    let (entry, mut cx, resolver) = r.connect_io(key);
    entry.connect(key, target, Box::new(callback), resolver, &mut cx);
}

/// The key of the socket `connect` may start on, or why it may not.
fn check<S: 'static>(
    r: &mut Reactor<S>,
    socket_id: TcpSocketId,
    address: &str,
    port: i32,
) -> Result<usize> {
    let key = r
        .tcps()
        .key(socket_id.raw())
        .ok_or_else(LastError::socket_not_found)?;
    if let Some(manifest) = r.manifest() {
        if !manifest.allows_connect(address, port as u16) {
            return Err(LastError::no_permission());
        }
    }
    if u16::try_from(port).is_err() {
        return Err(LastError::net(NetError::INVALID_ARGUMENT));
    }
    match r.tcps()[key].connect_refusal() {
        None => Ok(key),
        Some(e) => Err(e),
    }
}

/// [`Tcp::connect_timeout`](super::Tcp::connect_timeout): `connect`, with a timer that
/// abandons this attempt (and only this one) if it is still in progress when it fires.
pub(super) fn connect_timeout<S: 'static>(
    r: &mut Reactor<S>,
    socket_id: TcpSocketId,
    address: &str,
    port: i32,
    timeout: Duration,
    callback: impl FnOnce(&mut Reactor<S>, &mut S, Result<()>) + 'static,
) {
    // The attempt `connect` is about to start; if it refuses, no attempt carries this
    // number before the callback clears the timer.
    let attempt = match r.tcps().key(socket_id.raw()) {
        Some(key) => r.tcps()[key].upcoming_connect_attempt(),
        None => 0,
    };
    let timer = r.set_timeout(timeout, move |r, _| {
        if let Some(key) = r.tcps().key(socket_id.raw()) {
            let (entry, mut cx) = r.tcp_io(key);
            entry.connect_timed_out(attempt, &mut cx);
        }
    });
    connect(r, socket_id, address, port, move |r, s, result| {
        r.clear_timeout(timer);
        callback(r, s, result);
    });
}

impl<R: 'static, S: 'static> TcpEntry<R, S> {
    /// Why `connect` cannot start now: -23 when connected (accepted sockets too), -104
    /// while a connect is in progress.
    fn connect_refusal(&self) -> Option<LastError> {
        match self.conn {
            Conn::Idle => None,
            Conn::Connected { .. } => Some(LastError::net(NetError::SOCKET_IS_CONNECTED)),
            Conn::Resolving { .. } | Conn::Connecting { .. } => {
                Some(LastError::net(NetError::CONNECTION_FAILED))
            }
        }
    }

    /// A new `connect` starts: returns its attempt number.
    fn next_connect_attempt(&mut self) -> u64 {
        let extra = self.extra_mut();
        extra.connect_attempt += 1;
        extra.connect_attempt
    }

    /// The attempt number the next `connect` will get.
    fn upcoming_connect_attempt(&self) -> u64 {
        self.extra.as_ref().map_or(0, |e| e.connect_attempt) + 1
    }

    /// Starts a connect to `target` (resolving a host name through `resolver`); `callback`
    /// is answered when it completes or fails.
    fn connect(
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

    /// A connect timeout for `attempt` expired: if that connect is still in progress, it is
    /// abandoned (its fd closed) and its callback gets -118 `CONNECTION_TIMED_OUT`.
    fn connect_timed_out(&mut self, attempt: u64, cx: &mut Io<'_, R, S>) {
        let waiting = self
            .extra
            .as_ref()
            .is_some_and(|e| e.connect_attempt == attempt && e.connect.is_some());
        if !waiting {
            return;
        }
        match mem::replace(&mut self.conn, Conn::Idle) {
            Conn::Connecting { stream, .. } => self.close_stream(stream, cx),
            Conn::Resolving { .. } | Conn::Idle => {}
            connected @ Conn::Connected { .. } => {
                // Not reached (a connected socket has no connect callback); keep it as is.
                self.conn = connected;
                return;
            }
        }
        self.connect_done(Err(LastError::net(NetError::CONNECTION_TIMED_OUT)), cx);
    }

    /// `close` overtook a connect in progress: its callback gets "Socket not found", as
    /// Chrome 156 answers it (measured; D5). The fd is dropped by the close itself.
    pub(super) fn connect_overtaken_by_close(&mut self, cx: &mut Io<'_, R, S>) {
        self.connect_done(Err(LastError::socket_not_found()), cx);
    }

    /// `disconnect` (or a lost connection) overtook a connect in progress: its callback gets
    /// -3 `ABORTED` (D5; Chrome lets it complete). The caller drops the fd.
    pub(super) fn connect_overtaken_by_disconnect(&mut self, cx: &mut Io<'_, R, S>) {
        self.connect_done(Err(LastError::net(NetError::ABORTED)), cx);
    }

    /// Answers the connect in progress, if any, with `result`.
    fn connect_done(&mut self, result: Result<()>, cx: &mut Io<'_, R, S>) {
        if let Some(callback) = self.extra.as_mut().and_then(|e| e.connect.take()) {
            cx.queue.reply(callback, result);
        }
    }
}

fn connect_error(e: &io::Error) -> NetError {
    e.raw_os_error()
        .map_or_else(|| NetError::from_io_error(e), NetError::from_connect_errno)
}
