//! A `chrome.sockets.tcpServer` socket's entry: its state, listen/pause/disconnect/close, and
//! the accept path with its per-turn batch and its error policy.
//!
//! States: created (no fd) → listening (fd registered unless paused) → disconnected (no fd,
//! id valid) → listening again …; `close` removes the entry. `paused` is independent of them.

use std::io;
use std::net::SocketAddr;

use mio::net::TcpListener;
use mio::Interest;

use crate::ids::{self, MAX_KEY};
use crate::net_error::accept_errno_is_retryable;
use crate::queue::Task;
use crate::tcp_server::{AcceptErrorInfo, AcceptInfo};
use crate::tcp_socket::TcpEntry;
use crate::{sys, AcceptedSockets, NetError, Reactor, ServerSocketId, TcpSocketId};

/// A server socket.
#[derive(Debug)]
pub(crate) struct ServerEntry {
    pub(crate) id: i32,
    pub(crate) name: String,
    pub(crate) persistent: bool,
    pub(crate) paused: bool,
    pub(crate) listening: Option<Listening>,
    /// A `Task::Accept` for this entry is queued (so at most one is).
    pub(crate) accept_queued: bool,
}

/// The bound, listening fd of a server.
#[derive(Debug)]
pub(crate) struct Listening {
    pub(crate) listener: TcpListener,
    pub(crate) local: SocketAddr,
    /// Registered with the poll; false exactly while the server is paused.
    pub(crate) registered: bool,
}

impl ServerEntry {
    pub(crate) fn new(id: i32, name: String, persistent: bool) -> Self {
        ServerEntry {
            id,
            name,
            persistent,
            paused: false,
            listening: None,
            accept_queued: false,
        }
    }
}

impl<S: 'static> Reactor<S> {
    /// The slab key of a live server id.
    pub(crate) fn server_key(&self, id: ServerSocketId) -> Option<usize> {
        self.server_ids.get(id.raw())
    }

    /// Binds and listens; the caller has validated id, permission and arguments.
    pub(crate) fn start_listening(
        &mut self,
        key: usize,
        addr: SocketAddr,
        backlog: i32,
    ) -> Result<(), NetError> {
        let std_listener =
            sys::bind_listener(addr, backlog).map_err(|e| NetError::from_io_error(&e))?;
        let mut listener = TcpListener::from_std(std_listener);
        let local = listener
            .local_addr()
            .map_err(|e| NetError::from_io_error(&e))?;
        let entry = &mut self.servers[key];
        let mut registered = false;
        if !entry.paused {
            sys::register(
                self.poll.registry(),
                &mut listener,
                ids::server_token(entry.id, key),
                Interest::READABLE,
            )
            .map_err(|e| NetError::from_io_error(&e))?;
            registered = true;
        }
        entry.listening = Some(Listening {
            listener,
            local,
            registered,
        });
        Ok(())
    }

    /// Stores the flag; pausing deregisters the listener, resuming registers it again and
    /// queues an accept so connections already waiting are taken (D1). If that registration
    /// fails the server stays paused and `on_accept_error` is queued with the mapped code.
    pub(crate) fn set_server_paused(&mut self, key: usize, paused: bool) -> io::Result<()> {
        let entry = &mut self.servers[key];
        entry.paused = paused;
        let token = ids::server_token(entry.id, key);
        let Some(l) = entry.listening.as_mut() else {
            return Ok(());
        };
        if paused && l.registered {
            l.registered = false;
            self.poll.registry().deregister(&mut l.listener)?;
        } else if !paused && !l.registered {
            let registered = sys::register(
                self.poll.registry(),
                &mut l.listener,
                token,
                Interest::READABLE,
            );
            if let Err(e) = registered {
                // Nothing would ever accept: stay paused and say why once, like any accept
                // error, rather than claim to be accepting while connections pile up.
                entry.paused = true;
                self.queue.push(Task::AcceptError(AcceptErrorInfo {
                    socket_id: ServerSocketId::from_raw(entry.id),
                    result_code: NetError::from_io_error(&e),
                }));
                return Err(e);
            }
            l.registered = true;
            self.queue_accept(key);
        }
        Ok(())
    }

    /// Drops the listening fd (the port is free at once); the id stays valid.
    pub(crate) fn stop_listening(&mut self, key: usize) {
        if let Some(mut l) = self.servers[key].listening.take() {
            if l.registered {
                if let Err(e) = self.poll.registry().deregister(&mut l.listener) {
                    log::debug!("deregistering a listener failed: {e}");
                }
            }
        }
    }

    /// `close`: stops listening and removes the id at once. Queued accepts find it gone.
    pub(crate) fn close_server(&mut self, id: i32) -> bool {
        let Some(key) = self.server_ids.remove(id) else {
            return false;
        };
        self.stop_listening(key);
        self.servers.remove(key);
        true
    }

    /// A readiness event for a listener: queue one accept step unless one is queued.
    pub(crate) fn server_ready(&mut self, id: i32, key: usize) {
        match self.servers.get(key) {
            Some(e) if e.id == id && !e.paused && e.listening.is_some() => self.queue_accept(key),
            _ => log::trace!("stale readiness event for server {id}"),
        }
    }

    fn queue_accept(&mut self, key: usize) {
        let entry = &mut self.servers[key];
        if !entry.accept_queued {
            entry.accept_queued = true;
            let id = entry.id;
            self.push(Task::Accept { key, id });
        }
    }

    /// Accepts up to the batch limit from one listener, dispatching `on_accept` after each.
    ///
    /// Each iteration re-checks that the server still exists, is listening and is not paused,
    /// since a listener may have closed, paused or disconnected it. Would-block ends the
    /// step; the retryable errnos are skipped silently; any other error pauses the server and
    /// raises `on_accept_error` once. A full batch queues another step for the next turn.
    pub(crate) fn accept_batch(&mut self, key: usize, id: i32, state: &mut S) {
        match self.servers.get_mut(key) {
            Some(e) if e.id == id => e.accept_queued = false,
            _ => return,
        }
        for _ in 0..self.accept_batch {
            let entry = match self.servers.get_mut(key) {
                Some(e) if e.id == id && !e.paused => e,
                _ => return,
            };
            let Some(l) = entry.listening.as_ref() else {
                return;
            };
            match sys::accept(&l.listener) {
                Ok((stream, peer)) => self.announce_accepted(id, stream, peer, state),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.raw_os_error().is_some_and(accept_errno_is_retryable) => {
                    log::debug!("accept on server {id}: {e}; retrying");
                }
                Err(e) => {
                    self.accept_failed(key, id, &e, state);
                    return;
                }
            }
        }
        // Batch used up with connections possibly still waiting: come back next turn.
        if let Some(e) = self.servers.get(key) {
            if e.id == id && !e.paused && e.listening.is_some() {
                self.queue_accept(key);
            }
        }
    }

    fn announce_accepted(
        &mut self,
        server: i32,
        stream: mio::net::TcpStream,
        peer: SocketAddr,
        state: &mut S,
    ) {
        if self.accepted_sockets == AcceptedSockets::ChromeDefaults {
            if let Err(e) = stream.set_nodelay(true) {
                log::debug!("TCP_NODELAY on an accepted socket: {e}");
            }
        }
        let Some(client) = self.tcp_ids.allocate() else {
            log::error!("tcp socket ids exhausted; closing an accepted connection");
            return;
        };
        let entry = self.tcps.vacant_entry();
        let key = entry.key();
        if key > MAX_KEY {
            log::error!("too many tcp sockets; closing an accepted connection");
            return;
        }
        entry.insert(TcpEntry::accepted(client, stream, peer));
        self.tcp_ids.insert(client, key);
        let info = AcceptInfo {
            socket_id: ServerSocketId::from_raw(server),
            client_socket_id: TcpSocketId::from_raw(client),
        };
        crate::event::dispatch(self, state, |r| &mut r.on_accept, &info);
    }

    /// A non-retryable accept error: pause (deregister) and raise `on_accept_error` once.
    fn accept_failed(&mut self, key: usize, id: i32, error: &io::Error, state: &mut S) {
        let code = error
            .raw_os_error()
            .map_or(NetError::FAILED, NetError::from_accept_errno);
        log::warn!("accept on server {id} failed: {error}; pausing it");
        if let Err(e) = self.set_server_paused(key, true) {
            log::debug!("deregistering a failed listener: {e}");
        }
        let info = AcceptErrorInfo {
            socket_id: ServerSocketId::from_raw(id),
            result_code: code,
        };
        crate::event::dispatch(self, state, |r| &mut r.on_accept_error, &info);
    }
}
