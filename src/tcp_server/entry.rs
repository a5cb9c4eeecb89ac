//! One `chrome.sockets.tcpServer` socket: its state, listen/pause/disconnect, and the accept
//! path with its error policy. The entry changes its own state and returns what happened;
//! the turn's dispatcher turns outcomes into events.
//!
//! States: created (no fd) → listening (fd registered unless paused) → disconnected (no fd,
//! id valid) → listening again …; `close` removes the entry. `paused` is independent of them.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsFd;

use mio::net::TcpListener;
use mio::{Interest, Registry};

use super::dict::{SocketInfo, SocketProperties};
use crate::address::format_ip;
use crate::ids::{self, Identified, ServerSocketId, Table, TcpSocketId};
use crate::info::{AcceptErrorInfo, AcceptInfo};
use crate::net_error::{accept_errno_is_retryable, NetError};
use crate::queue::{Io, Task};
use crate::reactor::deregister_then_drop;
use crate::sys::{self, AcceptError};
use crate::tcp::entry::TcpEntry;

/// A server socket.
#[derive(Debug)]
pub(crate) struct ServerEntry {
    id: i32,
    name: String,
    persistent: bool,
    /// `SO_REUSEPORT` at the next listen (an extension).
    reuse_port: bool,
    paused: bool,
    listening: Option<Listening>,
    /// A `Task::Accept` for this entry is queued (so at most one is).
    accept_queued: bool,
}

/// The bound, listening fd of a server.
#[derive(Debug)]
struct Listening {
    listener: TcpListener,
    local: SocketAddr,
    /// Registered with the poll; false exactly while the server is paused.
    registered: bool,
}

/// What one [`ServerEntry::accept_one`] did.
#[derive(Debug)]
pub(crate) enum Accepted {
    /// A connection became a new, paused tcp socket.
    Socket(AcceptInfo),
    /// A retryable error: try the next connection.
    Skipped,
    /// Nothing (more) to accept now: would block, paused or not listening.
    Done,
    /// A non-retryable error, or no tcp id left for the connection (-12, which closed it):
    /// the server is now paused.
    Failed(AcceptErrorInfo),
}

impl Identified for ServerEntry {
    fn id(&self) -> i32 {
        self.id
    }
}

impl ServerEntry {
    pub(crate) fn new(id: i32, properties: SocketProperties) -> Self {
        ServerEntry {
            id,
            name: properties.name.unwrap_or_default(),
            persistent: properties.persistent.unwrap_or(false),
            reuse_port: properties.reuse_port.unwrap_or(false),
            paused: false,
            listening: None,
            accept_queued: false,
        }
    }

    pub(crate) fn is_persistent(&self) -> bool {
        self.persistent
    }

    pub(crate) fn is_listening(&self) -> bool {
        self.listening.is_some()
    }

    /// Listening and not paused: readiness means connections to accept.
    pub(crate) fn is_accepting(&self) -> bool {
        !self.paused && self.listening.is_some()
    }

    /// Sets the properties that are `Some`.
    pub(crate) fn update(&mut self, properties: SocketProperties) {
        if let Some(name) = properties.name {
            self.name = name;
        }
        if let Some(persistent) = properties.persistent {
            self.persistent = persistent;
        }
        if let Some(reuse_port) = properties.reuse_port {
            self.reuse_port = reuse_port;
        }
    }

    /// The bound address while listening (paused or not).
    pub(crate) fn local_addr(&self) -> Option<SocketAddr> {
        self.listening.as_ref().map(|l| l.local)
    }

    /// `SocketInfo` as of now.
    pub(crate) fn info(&self) -> SocketInfo {
        let local = self.local_addr();
        SocketInfo {
            socket_id: ServerSocketId::from_raw(self.id),
            persistent: self.persistent,
            name: (!self.name.is_empty()).then(|| self.name.clone()),
            reuse_port: self.reuse_port,
            paused: self.paused,
            local_address: local.map(|a| format_ip(a.ip())),
            local_port: local.map(|a| a.port()),
        }
    }

    /// Binds and listens; the caller has validated permission and arguments.
    pub(crate) fn listen(
        &mut self,
        key: usize,
        addr: SocketAddr,
        backlog: i32,
        registry: &Registry,
    ) -> Result<(), NetError> {
        let net = |e: io::Error| NetError::from_io_error(&e);
        let bound = sys::bind_listener(addr, backlog, self.reuse_port).map_err(net)?;
        let mut listener = TcpListener::from_std(bound);
        let local = listener.local_addr().map_err(net)?;
        if !self.paused {
            let token = ids::server_token(self.id, key);
            sys::register(registry, &mut listener, token, Interest::READABLE).map_err(net)?;
        }
        self.listening = Some(Listening {
            listener,
            local,
            registered: !self.paused,
        });
        Ok(())
    }

    /// Stores the flag; pausing deregisters the listener, resuming registers it again and
    /// queues an accept so connections already waiting are taken (D1). If that registration
    /// fails the server stays paused and `on_accept_error` is queued with the mapped code.
    pub(crate) fn set_paused<R: 'static, S: 'static>(
        &mut self,
        key: usize,
        paused: bool,
        cx: &mut Io<'_, R, S>,
    ) -> io::Result<()> {
        self.paused = paused;
        let token = ids::server_token(self.id, key);
        let Some(l) = self.listening.as_mut() else {
            return Ok(());
        };
        if paused && l.registered {
            l.registered = false;
            cx.registry.deregister(&mut l.listener)?;
        } else if !paused && !l.registered {
            let registered = sys::register(cx.registry, &mut l.listener, token, Interest::READABLE);
            if let Err(e) = registered {
                // Nothing would ever accept: stay paused and say why once, like any accept
                // error, rather than claim to be accepting while connections pile up.
                self.paused = true;
                cx.queue.push(Task::AcceptError(AcceptErrorInfo {
                    socket_id: ServerSocketId::from_raw(self.id),
                    result_code: NetError::from_io_error(&e),
                }));
                return Err(e);
            }
            l.registered = true;
            self.queue_accept(key, cx);
        }
        Ok(())
    }

    /// Drops the listening fd (the port is free at once); the id stays valid.
    pub(crate) fn stop_listening(&mut self, registry: &Registry) {
        if let Some(l) = self.listening.take() {
            if l.registered {
                deregister_then_drop(registry, l.listener, "server", self.id);
            }
        }
    }

    /// Queues one accept step unless one is queued already.
    #[inline]
    pub(crate) fn queue_accept<R: 'static, S: 'static>(
        &mut self,
        key: usize,
        cx: &mut Io<'_, R, S>,
    ) {
        if !self.accept_queued {
            self.accept_queued = true;
            cx.queue.push(Task::Accept { key, id: self.id });
        }
    }

    /// The queued accept step starts: another may be queued from now on.
    pub(crate) fn begin_accept_step(&mut self) {
        self.accept_queued = false;
    }

    /// Accepts one connection into `tcps` as a new paused, unregistered tcp socket (with
    /// `TCP_NODELAY` when `nodelay`), or says why not.
    ///
    /// Re-checks `paused` and listening first, since a listener of the previous connection
    /// may have paused, disconnected or closed the server. Would-block ends the step; the
    /// retryable errnos are skipped silently; any other error pauses the server.
    #[inline]
    pub(crate) fn accept_one<R: 'static, S: 'static>(
        &mut self,
        key: usize,
        tcps: &mut Table<TcpEntry<R, S>>,
        nodelay: bool,
        cx: &mut Io<'_, R, S>,
    ) -> Accepted {
        let id = self.id;
        let Some(l) = self.listening.as_ref().filter(|_| !self.paused) else {
            return Accepted::Done;
        };
        match sys::accept(&l.listener) {
            Ok((stream, peer)) => {
                if nodelay {
                    if let Err(e) = sys::set_nodelay(stream.as_fd()) {
                        log::debug!("TCP_NODELAY on an accepted socket: {e}");
                    }
                }
                let Some((client, _)) =
                    tcps.insert(|client| TcpEntry::accepted(client, stream, peer))
                else {
                    // Every tcp id is live (2^31 - 1 sockets) or no token can carry another
                    // slab key: this connection is closed, and the app hears it as an accept
                    // error with the server paused, like any accept failure it must act on.
                    log::warn!("server {id}: no tcp socket id left; pausing it");
                    return self.fail_accept(key, NetError::INSUFFICIENT_RESOURCES, cx);
                };
                Accepted::Socket(AcceptInfo {
                    socket_id: ServerSocketId::from_raw(id),
                    client_socket_id: TcpSocketId::from_raw(client),
                })
            }
            Err(AcceptError::WouldBlock) => Accepted::Done,
            Err(AcceptError::Os(e)) if e.raw_os_error().is_some_and(accept_errno_is_retryable) => {
                log::debug!("accept on server {id}: {e}; retrying");
                Accepted::Skipped
            }
            Err(AcceptError::Os(e)) => {
                let code = e
                    .raw_os_error()
                    .map_or(NetError::FAILED, NetError::from_accept_errno);
                log::warn!("accept on server {id} failed: {e}; pausing it");
                self.fail_accept(key, code, cx)
            }
        }
    }

    /// Pauses the server and reports `code` as an accept error.
    #[cold]
    fn fail_accept<R: 'static, S: 'static>(
        &mut self,
        key: usize,
        code: NetError,
        cx: &mut Io<'_, R, S>,
    ) -> Accepted {
        if let Err(e) = self.set_paused(key, true, cx) {
            log::debug!("deregistering a failed listener: {e}");
        }
        Accepted::Failed(AcceptErrorInfo {
            socket_id: ServerSocketId::from_raw(self.id),
            result_code: code,
        })
    }
}
