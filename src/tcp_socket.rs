//! A `chrome.sockets.tcp` socket's entry: connection state, the read path in `buffer_size`
//! chunks, the FIFO of sends with the write quota, connect (with host-name resolution on a
//! helper thread), and what a disconnect does to work in flight.
//!
//! Registration with the poll is lazy: an accepted socket is registered only once the app
//! unpauses it or a send has to wait, so the accept path makes no `epoll_ctl` call. Once
//! registered (read and write interest, edge-triggered) a socket stays registered until its
//! fd is dropped; `paused` only decides whether a readable edge queues a read.

use std::collections::VecDeque;
use std::io;
use std::mem;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::fd::AsRawFd;

use mio::net::TcpStream;
use mio::Interest;

use crate::error::{LastError, Result};
use crate::ids;
use crate::queue::Task;
use crate::tcp::{ReceiveErrorInfo, ReceiveInfo, SendInfo};
use crate::{sys, NetError, Reactor, TcpSocketId};

/// Read size when `buffer_size` is unset or not positive (Chrome's `kDefaultBufferSize`).
pub(crate) const DEFAULT_BUFFER_SIZE: usize = 4096;
/// Largest read the reactor allocates for one `on_receive`, whatever `buffer_size` says.
pub(crate) const MAX_READ_SIZE: usize = 1 << 20;
/// Chrome's per-app write quota: bytes handed to `send` and not yet written.
pub(crate) const WRITE_QUOTA: usize = 200 * 1024 * 1024;
/// Chunks one read step may deliver before other sockets get their turn.
const READS_PER_STEP: usize = 16;

pub(crate) type ConnectCallback<S> = Box<dyn FnOnce(&mut Reactor<S>, &mut S, Result<()>)>;
pub(crate) type SendCallback<S> = Box<dyn FnOnce(&mut Reactor<S>, &mut S, Result<SendInfo>)>;

/// A tcp socket.
pub(crate) struct TcpEntry<S> {
    pub(crate) id: i32,
    pub(crate) name: String,
    pub(crate) persistent: bool,
    /// As the app set it; 0 = unset (reads use 4096).
    pub(crate) buffer_size: i32,
    pub(crate) paused: bool,
    pub(crate) conn: Conn,
    /// The stream in `conn` is registered with the poll.
    pub(crate) registered: bool,
    /// A `Task::Read` for this entry is queued (so at most one is).
    pub(crate) read_queued: bool,
    /// The poll reported the peer's FIN (or a hang-up) on this connection: a short read no
    /// longer means the socket is drained, since no new edge will announce the EOF.
    pub(crate) read_closed: bool,
    /// Sends in issue order; only the front one is being written.
    pub(crate) sends: VecDeque<PendingSend<S>>,
    /// The callback of a connect in progress (`conn` is resolving or connecting).
    pub(crate) connect: Option<ConnectCallback<S>>,
}

/// Where a tcp socket's connection stands.
#[derive(Debug)]
pub(crate) enum Conn {
    /// No fd: created and never connected, or disconnected.
    Idle,
    /// A helper thread is resolving the host name; `seq` matches its [`Resolution`].
    Resolving {
        seq: u64,
    },
    /// Non-blocking connect in progress; `rest` are the addresses to try next.
    Connecting {
        stream: TcpStream,
        rest: Vec<SocketAddr>,
    },
    Connected {
        stream: TcpStream,
        peer: SocketAddr,
    },
}

pub(crate) struct PendingSend<S> {
    data: Vec<u8>,
    written: usize,
    callback: SendCallback<S>,
}

/// A host-name resolution coming back from its helper thread.
#[derive(Debug)]
pub(crate) struct Resolution {
    tcp_id: i32,
    seq: u64,
    result: io::Result<Vec<SocketAddr>>,
}

impl<S> TcpEntry<S> {
    pub(crate) fn created(id: i32, name: String, persistent: bool, buffer_size: i32) -> Self {
        TcpEntry {
            id,
            name,
            persistent,
            buffer_size,
            paused: false,
            conn: Conn::Idle,
            registered: false,
            read_queued: false,
            read_closed: false,
            sends: VecDeque::new(),
            connect: None,
        }
    }

    /// A freshly accepted connection: connected, paused, not registered (Chrome §2.1).
    pub(crate) fn accepted(id: i32, stream: TcpStream, peer: SocketAddr) -> Self {
        let mut e = TcpEntry::created(id, String::new(), false, 0);
        e.paused = true;
        e.conn = Conn::Connected { stream, peer };
        e
    }

    pub(crate) fn is_connected(&self) -> bool {
        matches!(self.conn, Conn::Connected { .. })
    }

    fn read_size(&self) -> usize {
        if self.buffer_size <= 0 {
            DEFAULT_BUFFER_SIZE
        } else {
            (self.buffer_size as usize).min(MAX_READ_SIZE)
        }
    }
}

impl<S: 'static> Reactor<S> {
    /// The slab key of a live tcp id.
    pub(crate) fn tcp_key(&self, id: TcpSocketId) -> Option<usize> {
        self.tcp_ids.get(id.raw())
    }

    /// A readiness event for a tcp socket.
    pub(crate) fn tcp_ready(&mut self, id: i32, key: usize, event: &mio::event::Event) {
        let entry = match self.tcps.get_mut(key) {
            Some(e) if e.id == id => e,
            _ => {
                log::trace!("stale readiness event for tcp socket {id}");
                return;
            }
        };
        match entry.conn {
            Conn::Connecting { .. } => {
                self.finish_connect(key);
                // The event that completes a connect can also carry the peer's FIN.
                let entry = &mut self.tcps[key];
                if entry.is_connected() && (event.is_read_closed() || event.is_error()) {
                    entry.read_closed = true;
                }
            }
            Conn::Connected { .. } => {
                let failed = event.is_error();
                if event.is_read_closed() || failed {
                    // Remembered while paused too: the edge is not repeated on unpause.
                    entry.read_closed = true;
                }
                if !entry.paused && (event.is_readable() || event.is_read_closed() || failed) {
                    self.queue_read(key);
                }
                let entry = &self.tcps[key];
                if !entry.sends.is_empty()
                    && (event.is_writable() || event.is_write_closed() || failed)
                {
                    self.flush_sends(key);
                }
            }
            Conn::Idle | Conn::Resolving { .. } => {}
        }
    }

    pub(crate) fn queue_read(&mut self, key: usize) {
        let entry = &mut self.tcps[key];
        if !entry.read_queued {
            entry.read_queued = true;
            let id = entry.id;
            self.push(Task::Read { key, id });
        }
    }

    /// Reads up to a few `buffer_size` chunks, dispatching `on_receive` after each; re-checks
    /// liveness and `paused` before every read, so a listener's pause or close stops it.
    pub(crate) fn read_some(&mut self, key: usize, id: i32, state: &mut S) {
        match self.tcps.get_mut(key) {
            Some(e) if e.id == id => e.read_queued = false,
            _ => return,
        }
        for _ in 0..READS_PER_STEP {
            let entry = match self.tcps.get_mut(key) {
                Some(e) if e.id == id && !e.paused => e,
                _ => return,
            };
            let size = entry.read_size();
            let Conn::Connected { stream, .. } = &mut entry.conn else {
                return;
            };
            let mut data = vec![0; size];
            match sys::read(stream, &mut data) {
                Ok(0) => {
                    self.connection_lost(key, NetError::CONNECTION_CLOSED, state);
                    return;
                }
                Ok(n) => {
                    data.truncate(n);
                    let info = ReceiveInfo {
                        socket_id: TcpSocketId::from_raw(id),
                        data,
                    };
                    crate::event::dispatch(self, state, |r| &mut r.on_receive, &info);
                    let read_closed = match self.tcps.get(key) {
                        Some(e) if e.id == id => e.read_closed,
                        _ => return,
                    };
                    if n < size && !read_closed {
                        // The socket buffer was drained: the next byte or FIN is a new edge.
                        // A FIN already reported arrives with no new edge, so then read on
                        // until the EOF.
                        return;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.connection_lost(key, NetError::from_io_error(&e), state);
                    return;
                }
            }
        }
        match self.tcps.get(key) {
            Some(e) if e.id == id && !e.paused && e.is_connected() => self.queue_read(key),
            _ => {}
        }
    }

    /// EOF or a read error: disconnect, pause, and raise `on_receive_error` with `code`
    /// (-100 for EOF, the error's own code otherwise, D7).
    fn connection_lost(&mut self, key: usize, code: NetError, state: &mut S) {
        self.drop_connection(key);
        let entry = &mut self.tcps[key];
        entry.paused = true;
        let info = ReceiveErrorInfo {
            socket_id: TcpSocketId::from_raw(entry.id),
            result_code: code,
        };
        crate::event::dispatch(self, state, |r| &mut r.on_receive_error, &info);
    }

    /// Closes the fd and fails what was in flight: queued sends with -15 (D9), a connect in
    /// progress with -3 (D5). Returns whether the socket was connected.
    pub(crate) fn drop_connection(&mut self, key: usize) -> bool {
        let entry = &mut self.tcps[key];
        let conn = mem::replace(&mut entry.conn, Conn::Idle);
        let was_connected = matches!(conn, Conn::Connected { .. });
        match conn {
            Conn::Connecting { mut stream, .. } | Conn::Connected { mut stream, .. } => {
                if entry.registered {
                    if let Err(e) = self.poll.registry().deregister(&mut stream) {
                        log::debug!("deregistering tcp socket {}: {e}", entry.id);
                    }
                }
            }
            Conn::Idle | Conn::Resolving { .. } => {}
        }
        entry.registered = false;
        entry.read_closed = false;
        let sends = mem::take(&mut entry.sends);
        let connect = entry.connect.take();
        for send in sends {
            self.write_pending -= send.data.len() - send.written;
            self.reply(
                send.callback,
                Err(LastError::net(NetError::SOCKET_NOT_CONNECTED)),
            );
        }
        if let Some(callback) = connect {
            self.reply(callback, Err(LastError::net(NetError::ABORTED)));
        }
        was_connected
    }

    /// `close`: removes the id at once and drops the connection; no event follows (D6).
    pub(crate) fn close_tcp(&mut self, id: i32) -> bool {
        let Some(key) = self.tcp_ids.remove(id) else {
            return false;
        };
        self.drop_connection(key);
        self.tcps.remove(key);
        true
    }

    /// Registers the socket's stream (read + write interest) if it is not yet.
    pub(crate) fn ensure_registered(&mut self, key: usize) -> io::Result<()> {
        let entry = &mut self.tcps[key];
        if entry.registered {
            return Ok(());
        }
        let token = ids::tcp_token(entry.id, key);
        let stream = match &mut entry.conn {
            Conn::Connecting { stream, .. } | Conn::Connected { stream, .. } => stream,
            Conn::Idle | Conn::Resolving { .. } => return Ok(()),
        };
        sys::register(
            self.poll.registry(),
            stream,
            token,
            Interest::READABLE | Interest::WRITABLE,
        )?;
        entry.registered = true;
        Ok(())
    }

    /// Unpausing a connected socket registers it and queues a read, so bytes the peer sent
    /// while it was paused are delivered.
    pub(crate) fn resume_reading(&mut self, key: usize) {
        if !self.tcps[key].is_connected() {
            return;
        }
        match self.ensure_registered(key) {
            Ok(()) => self.queue_read(key),
            Err(e) => {
                log::warn!("registering tcp socket {}: {e}", self.tcps[key].id);
                self.drop_connection(key);
                let entry = &mut self.tcps[key];
                entry.paused = true;
                let info = ReceiveErrorInfo {
                    socket_id: TcpSocketId::from_raw(entry.id),
                    result_code: NetError::from_io_error(&e),
                };
                self.push(Task::ReceiveError(info));
            }
        }
    }

    /// Queues a send; the caller checked id, connection and quota.
    pub(crate) fn queue_send(&mut self, key: usize, data: Vec<u8>, callback: SendCallback<S>) {
        self.write_pending += data.len();
        let entry = &mut self.tcps[key];
        entry.sends.push_back(PendingSend {
            data,
            written: 0,
            callback,
        });
        if entry.sends.len() == 1 {
            self.flush_sends(key);
        }
    }

    /// Writes queued sends in order until the socket would block; each completed send's
    /// callback is queued with every byte counted.
    pub(crate) fn flush_sends(&mut self, key: usize) {
        loop {
            let entry = &mut self.tcps[key];
            let Conn::Connected { stream, .. } = &entry.conn else {
                return;
            };
            let fd = stream.as_raw_fd();
            let Some(front) = entry.sends.front_mut() else {
                return;
            };
            if front.written == front.data.len() {
                let done = entry.sends.pop_front().expect("front exists");
                let info = SendInfo {
                    result_code: NetError::OK,
                    bytes_sent: done.data.len(),
                };
                self.reply(done.callback, Ok(info));
                continue;
            }
            match sys::send(fd, &front.data[front.written..]) {
                Ok(n) => {
                    front.written += n;
                    self.write_pending -= n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if let Err(e) = self.ensure_registered(key) {
                        self.write_failed(key, &e);
                    }
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.write_failed(key, &e);
                    return;
                }
            }
        }
    }

    /// A write failed: the send being written gets the error's code, the socket is
    /// disconnected (queued sends get -15), and a reading socket gets `on_receive_error` -100
    /// after that callback (Chrome's order) and is paused.
    fn write_failed(&mut self, key: usize, error: &io::Error) {
        let code = NetError::from_io_error(error);
        let entry = &mut self.tcps[key];
        let reading = !entry.paused;
        let id = entry.id;
        if let Some(send) = entry.sends.pop_front() {
            self.write_pending -= send.data.len() - send.written;
            self.reply(send.callback, Err(LastError::net(code)));
        }
        self.drop_connection(key);
        if reading {
            self.tcps[key].paused = true;
            self.push(Task::ReceiveError(ReceiveErrorInfo {
                socket_id: TcpSocketId::from_raw(id),
                result_code: NetError::CONNECTION_CLOSED,
            }));
        }
    }

    /// Starts a non-blocking connect to the first address that takes one; on failure of all,
    /// answers the connect callback with the last error (connect column of the errno table).
    pub(crate) fn start_connect(&mut self, key: usize, mut addrs: Vec<SocketAddr>) {
        let mut last = NetError::NAME_NOT_RESOLVED;
        while !addrs.is_empty() {
            let addr = addrs.remove(0);
            match sys::connect(addr) {
                Ok(stream) => {
                    let entry = &mut self.tcps[key];
                    entry.conn = Conn::Connecting {
                        stream,
                        rest: addrs,
                    };
                    match self.ensure_registered(key) {
                        Ok(()) => return,
                        Err(e) => {
                            last = NetError::from_io_error(&e);
                            addrs = match mem::replace(&mut self.tcps[key].conn, Conn::Idle) {
                                Conn::Connecting { rest, .. } => rest,
                                _ => Vec::new(),
                            };
                        }
                    }
                }
                Err(e) => last = connect_error(&e),
            }
        }
        self.connect_done(key, Err(LastError::net(last)));
    }

    /// The connecting socket became writable or failed: finish, or try the next address.
    fn finish_connect(&mut self, key: usize) {
        let entry = &mut self.tcps[key];
        let Conn::Connecting { stream, .. } = &entry.conn else {
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
        match outcome {
            Ok(peer) => {
                let Conn::Connecting { stream, .. } = mem::replace(&mut entry.conn, Conn::Idle)
                else {
                    unreachable!("checked above");
                };
                if let Err(e) = stream.set_nodelay(true) {
                    log::debug!("TCP_NODELAY on a connected socket: {e}");
                }
                entry.conn = Conn::Connected { stream, peer };
                self.connect_done(key, Ok(()));
                if !self.tcps[key].paused {
                    self.queue_read(key);
                }
            }
            Err(e) => {
                let code = connect_error(&e);
                let rest = match mem::replace(&mut entry.conn, Conn::Idle) {
                    Conn::Connecting { mut stream, rest } => {
                        if entry.registered {
                            let _ = self.poll.registry().deregister(&mut stream);
                        }
                        rest
                    }
                    _ => Vec::new(),
                };
                self.tcps[key].registered = false;
                if rest.is_empty() {
                    self.connect_done(key, Err(LastError::net(code)));
                } else {
                    self.start_connect(key, rest);
                }
            }
        }
    }

    fn connect_done(&mut self, key: usize, result: Result<()>) {
        if let Some(callback) = self.tcps[key].connect.take() {
            self.reply(callback, result);
        }
    }

    /// Resolves `host` on a helper thread; the answer comes back through the waker.
    pub(crate) fn start_resolution(&mut self, key: usize, host: &str, port: u16) {
        let seq = self.next_resolution;
        self.next_resolution += 1;
        let tcp_id = self.tcps[key].id;
        let tx = self.resolved_tx.clone();
        let waker = self.waker.clone();
        let host = host.to_owned();
        let spawned = std::thread::Builder::new()
            .name("chrome-sockets-resolve".into())
            .spawn(move || {
                let result = (host.as_str(), port)
                    .to_socket_addrs()
                    .map(|addrs| addrs.collect());
                if tx
                    .send(Resolution {
                        tcp_id,
                        seq,
                        result,
                    })
                    .is_ok()
                {
                    let _ = waker.wake();
                }
            });
        match spawned {
            Ok(_) => {
                self.resolutions += 1;
                self.tcps[key].conn = Conn::Resolving { seq };
            }
            Err(e) => {
                log::warn!("cannot start a resolver thread: {e}");
                self.connect_done(key, Err(LastError::net(NetError::INSUFFICIENT_RESOURCES)));
            }
        }
    }

    /// Takes finished resolutions; one whose socket was closed, disconnected or reconnected
    /// meanwhile is dropped (its callback was already answered).
    pub(crate) fn collect_resolutions(&mut self) {
        while let Ok(res) = self.resolved_rx.try_recv() {
            self.resolutions -= 1;
            let Some(key) = self.tcp_key(TcpSocketId::from_raw(res.tcp_id)) else {
                continue;
            };
            match self.tcps[key].conn {
                Conn::Resolving { seq, .. } if seq == res.seq => {}
                _ => continue,
            }
            self.tcps[key].conn = Conn::Idle;
            match res.result {
                Ok(addrs) if !addrs.is_empty() => self.start_connect(key, addrs),
                Ok(_) | Err(_) => {
                    self.connect_done(key, Err(LastError::net(NetError::NAME_NOT_RESOLVED)))
                }
            }
        }
    }
}

fn connect_error(e: &io::Error) -> NetError {
    e.raw_os_error()
        .map_or_else(|| NetError::from_io_error(e), NetError::from_connect_errno)
}
