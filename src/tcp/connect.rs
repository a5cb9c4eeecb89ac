//! Connecting a tcp socket: a non-blocking connect to each address in turn, and host-name
//! resolution on a helper thread whose answer comes back through the reactor's waker.

use std::io;
use std::mem;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::{mpsc, Arc};

use super::entry::{Conn, TcpEntry};
use crate::error::{LastError, Result};
use crate::net_error::NetError;
use crate::queue::{Io, Reply};
use crate::sys;

/// Where `connect` goes.
#[derive(Debug)]
pub(crate) enum Target<'a> {
    /// An IP literal's address: connect at once.
    Addr(SocketAddr),
    /// A host name and port: resolve first, on a helper thread.
    Host(&'a str, u16),
}

/// A host-name resolution coming back from its helper thread.
#[derive(Debug)]
pub(crate) struct Resolution {
    pub(crate) tcp_id: i32,
    seq: u64,
    result: io::Result<Vec<SocketAddr>>,
}

/// Runs resolutions on helper threads and collects their answers.
#[derive(Debug)]
pub(crate) struct Resolver {
    tx: mpsc::Sender<Resolution>,
    rx: mpsc::Receiver<Resolution>,
    waker: Arc<mio::Waker>,
    /// Resolutions started and not yet received.
    pending: usize,
    next_seq: u64,
}

impl Resolver {
    /// Answers wake the poll through `waker`.
    pub(crate) fn new(waker: Arc<mio::Waker>) -> Self {
        let (tx, rx) = mpsc::channel();
        Resolver {
            tx,
            rx,
            waker,
            pending: 0,
            next_seq: 0,
        }
    }

    /// Whether a resolution is still out.
    pub(crate) fn is_busy(&self) -> bool {
        self.pending > 0
    }

    /// A finished resolution, if one came back.
    pub(crate) fn try_recv(&mut self) -> Option<Resolution> {
        let res = self.rx.try_recv().ok()?;
        self.pending -= 1;
        Some(res)
    }

    /// Starts resolving `host` for tcp socket `tcp_id`; returns the sequence number its
    /// answer will carry.
    fn start(&mut self, tcp_id: i32, host: &str, port: u16) -> io::Result<u64> {
        let seq = self.next_seq;
        self.next_seq += 1;
        let tx = self.tx.clone();
        let waker = self.waker.clone();
        let host = host.to_owned();
        std::thread::Builder::new()
            .name("chrome-sockets-resolve".into())
            .spawn(move || {
                let result = (host.as_str(), port)
                    .to_socket_addrs()
                    .map(|addrs| addrs.collect());
                let res = Resolution {
                    tcp_id,
                    seq,
                    result,
                };
                if tx.send(res).is_ok() {
                    let _ = waker.wake();
                }
            })?;
        self.pending += 1;
        Ok(seq)
    }
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
                Ok(seq) => self.conn = Conn::Resolving { seq },
                Err(e) => {
                    log::warn!("cannot start a resolver thread: {e}");
                    let e = LastError::net(NetError::INSUFFICIENT_RESOURCES);
                    self.connect_done(Err(e), cx);
                }
            },
        }
    }

    /// A resolution for this socket came back; one for an older connect is dropped (its
    /// callback was already answered).
    pub(crate) fn resolved(&mut self, key: usize, res: Resolution, cx: &mut Io<'_, R, S>) {
        match self.conn {
            Conn::Resolving { seq } if seq == res.seq => {}
            _ => return,
        }
        self.conn = Conn::Idle;
        match res.result {
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
        let Conn::Connecting { mut stream, rest } = mem::replace(&mut self.conn, Conn::Idle) else {
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
                if self.registered {
                    let _ = cx.registry.deregister(&mut stream);
                }
                drop(stream);
                self.registered = false;
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
