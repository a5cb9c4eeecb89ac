//! One `chrome.sockets.tcp` socket: its state, its registration with the poll, readiness,
//! and what a disconnect does to work in flight. The read, send and connect paths are
//! `impl TcpEntry` blocks in their own files.
//!
//! Registration with the poll is lazy: an accepted socket is registered only once the app
//! unpauses it or a send has to wait, so the accept path makes no `epoll_ctl` call. Once
//! registered (read and write interest, edge-triggered) a socket stays registered until its
//! fd is dropped; `paused` only decides whether a readable edge queues a read.

use std::collections::VecDeque;
use std::io;
use std::mem;
use std::net::SocketAddr;

use mio::net::TcpStream;
use mio::Interest;

use super::dict::{SocketInfo, SocketProperties};
use crate::address::format_ip;
use crate::error::{LastError, Result};
use crate::ids::{self, Identified, TcpSocketId};
use crate::info::{ReceiveErrorInfo, SendInfo};
use crate::net_error::NetError;
use crate::queue::{Io, Reply, Task};
use crate::reactor::deregister_then_drop;
use crate::resolver::Ticket;
use crate::sys;

/// A tcp socket. Fields are private to the `tcp` module: the view and the reactor go
/// through methods.
///
/// Kept small (an idle accepted connection is this entry and its id-map slot): what most
/// sockets never use lives in [`Extra`], allocated on first use.
pub(crate) struct TcpEntry<R, S> {
    pub(super) id: i32,
    /// As the app set it; 0 = unset (reads use 4096).
    pub(super) buffer_size: i32,
    persistent: bool,
    pub(super) paused: bool,
    /// The stream in `conn` is registered with the poll.
    pub(super) registered: bool,
    /// A `Task::Read` for this entry is queued (so at most one is).
    pub(super) read_queued: bool,
    /// The poll reported the peer's FIN (or a hang-up) on this connection: a short read no
    /// longer means the socket is drained, since no new edge will announce the EOF.
    pub(super) read_closed: bool,
    /// `shutdown_send` was called on this connection: no more sends are taken.
    pub(super) send_closed: bool,
    pub(super) conn: Conn,
    /// `None` until the socket is named, sends, connects or shuts down.
    pub(super) extra: Option<Box<Extra<R, S>>>,
}

/// The rarely used part of a [`TcpEntry`].
pub(super) struct Extra<R, S> {
    /// Empty when unnamed.
    pub(super) name: String,
    /// Sends in issue order; only the front one is being written.
    pub(super) sends: VecDeque<PendingSend<R, S>>,
    /// The callback of a connect in progress (`conn` is resolving or connecting).
    pub(super) connect: Option<Reply<R, S, Result<()>>>,
    /// Counts `connect` calls, so a connect timeout only ever aborts its own attempt.
    pub(super) connect_attempt: u64,
    /// The callback of a `shutdown_send` waiting for the queued sends to be written.
    pub(super) shutdown: Option<Reply<R, S, Result<()>>>,
}

impl<R, S> Default for Extra<R, S> {
    fn default() -> Self {
        Extra {
            name: String::new(),
            sends: VecDeque::new(),
            connect: None,
            connect_attempt: 0,
            shutdown: None,
        }
    }
}

/// One `send` waiting to be written (the send path is in `send.rs`).
pub(super) struct PendingSend<R, S> {
    pub(super) data: Vec<u8>,
    pub(super) written: usize,
    pub(super) callback: Reply<R, S, Result<SendInfo>>,
}

/// Where a tcp socket's connection stands.
#[derive(Debug)]
pub(super) enum Conn {
    /// No fd: created and never connected, or disconnected.
    Idle,
    /// The resolver pool is looking the host name up; dropping the ticket (any change of
    /// `conn`) makes the lookup unwanted, and only this ticket's answer is taken.
    Resolving {
        ticket: Ticket,
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

impl<R, S> Identified for TcpEntry<R, S> {
    fn id(&self) -> i32 {
        self.id
    }
}

impl<R: 'static, S: 'static> TcpEntry<R, S> {
    /// An unconnected socket with the given properties.
    pub(crate) fn created(id: i32, properties: SocketProperties) -> Self {
        let mut e = TcpEntry {
            id,
            buffer_size: properties.buffer_size.unwrap_or(0),
            persistent: properties.persistent.unwrap_or(false),
            paused: false,
            registered: false,
            read_queued: false,
            read_closed: false,
            send_closed: false,
            conn: Conn::Idle,
            extra: None,
        };
        if let Some(name) = properties.name.filter(|n| !n.is_empty()) {
            e.extra_mut().name = name;
        }
        e
    }

    /// The rarely used part, allocated now if it was not.
    pub(super) fn extra_mut(&mut self) -> &mut Extra<R, S> {
        self.extra.get_or_insert_with(Box::default)
    }

    /// Whether any send is queued.
    pub(super) fn has_sends(&self) -> bool {
        self.extra.as_ref().is_some_and(|e| !e.sends.is_empty())
    }

    /// The queued sends, if any part was ever allocated.
    pub(super) fn sends_mut(&mut self) -> Option<&mut VecDeque<PendingSend<R, S>>> {
        self.extra.as_deref_mut().map(|e| &mut e.sends)
    }

    /// Takes the callback of a waiting `shutdown_send`.
    pub(super) fn take_shutdown(&mut self) -> Option<Reply<R, S, Result<()>>> {
        self.extra.as_mut().and_then(|e| e.shutdown.take())
    }

    /// A freshly accepted connection: connected, paused (Chrome's accepted sockets start
    /// paused until the app unpauses them), not registered.
    pub(crate) fn accepted(id: i32, stream: TcpStream, peer: SocketAddr) -> Self {
        let mut e = TcpEntry::created(id, SocketProperties::default());
        e.paused = true;
        e.conn = Conn::Connected { stream, peer };
        e
    }

    pub(crate) fn is_persistent(&self) -> bool {
        self.persistent
    }

    pub(crate) fn is_connected(&self) -> bool {
        matches!(self.conn, Conn::Connected { .. })
    }

    /// Sets the properties that are `Some`; a new `buffer_size` applies from the next read.
    pub(crate) fn update(&mut self, properties: SocketProperties) {
        if let Some(name) = properties.name {
            if !name.is_empty() || self.extra.is_some() {
                self.extra_mut().name = name;
            }
        }
        if let Some(persistent) = properties.persistent {
            self.persistent = persistent;
        }
        if let Some(buffer_size) = properties.buffer_size {
            self.buffer_size = buffer_size;
        }
    }

    /// `SocketInfo` as of now.
    pub(crate) fn info(&self) -> SocketInfo {
        let (local, peer) = match &self.conn {
            Conn::Connected { stream, peer } => (stream.local_addr().ok(), Some(*peer)),
            _ => (None, None),
        };
        SocketInfo {
            socket_id: TcpSocketId::from_raw(self.id),
            persistent: self.persistent,
            name: self
                .extra
                .as_ref()
                .filter(|e| !e.name.is_empty())
                .map(|e| e.name.clone()),
            buffer_size: (self.buffer_size > 0).then_some(self.buffer_size),
            paused: self.paused,
            connected: self.is_connected(),
            local_address: local.map(|a| format_ip(a.ip())),
            local_port: local.map(|a| a.port()),
            peer_address: peer.map(|a| format_ip(a.ip())),
            peer_port: peer.map(|a| a.port()),
        }
    }

    /// Runs `f` on the connected stream; -2 "net::ERR_FAILED" if not connected or `f` fails
    /// (Chrome's answer for socket options).
    pub(crate) fn with_stream(&self, f: impl FnOnce(&TcpStream) -> io::Result<()>) -> Result<()> {
        match &self.conn {
            Conn::Connected { stream, .. } => {
                f(stream).map_err(|_| LastError::net(NetError::FAILED))
            }
            _ => Err(LastError::net(NetError::FAILED)),
        }
    }

    /// Stores the flag; returns whether this resumed a paused socket (the caller answers the
    /// call, then [`resume_reading`](Self::resume_reading)).
    pub(crate) fn set_paused(&mut self, paused: bool) -> bool {
        let resume = self.paused && !paused;
        self.paused = paused;
        resume
    }

    /// Unpausing a connected socket registers it and queues a read, so bytes the peer sent
    /// while it was paused are delivered.
    pub(crate) fn resume_reading(&mut self, key: usize, cx: &mut Io<'_, R, S>) {
        if !self.is_connected() {
            return;
        }
        match self.ensure_registered(key, cx) {
            Ok(()) => self.queue_read(key, cx),
            Err(e) => {
                log::warn!("registering tcp socket {}: {e}", self.id);
                self.drop_connection(cx);
                self.lost_while_reading(NetError::from_io_error(&e), cx);
            }
        }
    }

    /// After a `disconnect` was answered: a socket that was reading and connected is paused
    /// and gets `on_receive_error` -100.
    pub(crate) fn report_disconnect(&mut self, was_connected: bool, cx: &mut Io<'_, R, S>) {
        if was_connected && !self.paused {
            self.lost_while_reading(NetError::CONNECTION_CLOSED, cx);
        }
    }

    /// Pauses and queues `on_receive_error` with `code`.
    pub(super) fn lost_while_reading(&mut self, code: NetError, cx: &mut Io<'_, R, S>) {
        self.paused = true;
        cx.queue.push(Task::ReceiveError(ReceiveErrorInfo {
            socket_id: TcpSocketId::from_raw(self.id),
            result_code: code,
        }));
    }

    /// A readiness event for this socket: finish a connect, queue a read, flush sends.
    pub(crate) fn ready(&mut self, key: usize, event: &mio::event::Event, cx: &mut Io<'_, R, S>) {
        let failed = event.is_error();
        match self.conn {
            Conn::Connecting { .. } => {
                self.finish_connect(key, cx);
                // The event that completes a connect can also carry the peer's FIN.
                if self.is_connected() && (event.is_read_closed() || failed) {
                    self.read_closed = true;
                }
            }
            Conn::Connected { .. } => {
                if event.is_read_closed() || failed {
                    // Remembered while paused too: the edge is not repeated on unpause.
                    self.read_closed = true;
                }
                if !self.paused && (event.is_readable() || event.is_read_closed() || failed) {
                    self.queue_read(key, cx);
                }
                if self.has_sends() && (event.is_writable() || event.is_write_closed() || failed) {
                    self.flush_sends(key, cx);
                }
            }
            Conn::Idle | Conn::Resolving { .. } => {}
        }
    }

    /// Registers the socket's stream (read + write interest) if it is not yet.
    pub(super) fn ensure_registered(
        &mut self,
        key: usize,
        cx: &mut Io<'_, R, S>,
    ) -> io::Result<()> {
        if self.registered {
            return Ok(());
        }
        let token = ids::tcp_token(self.id, key);
        let stream = match &mut self.conn {
            Conn::Connecting { stream, .. } | Conn::Connected { stream, .. } => stream,
            Conn::Idle | Conn::Resolving { .. } => return Ok(()),
        };
        let interest = Interest::READABLE | Interest::WRITABLE;
        sys::register(cx.registry, stream, token, interest)?;
        self.registered = true;
        Ok(())
    }

    /// `close`, once the entry is out of its table: a connect in progress gets "Socket not
    /// found" (D5), queued sends and a waiting shutdown fail, and the fd is deregistered and
    /// dropped. An entry with nothing in flight and no registration (the accept-and-close
    /// path) has nothing to answer: dropping it closes the fd.
    #[inline]
    pub(crate) fn close(mut self, cx: &mut Io<'_, R, S>) {
        if self.extra.is_none() && !self.registered {
            return;
        }
        self.connect_overtaken_by_close(cx);
        self.drop_connection(cx);
    }

    /// Closes the fd and fails what was in flight: queued sends with -15 (D9), a connect in
    /// progress with -3 (D5: a disconnect overtook it; `close` answers it first, with "Socket
    /// not found"). Returns whether the socket was connected.
    pub(crate) fn drop_connection(&mut self, cx: &mut Io<'_, R, S>) -> bool {
        let conn = mem::replace(&mut self.conn, Conn::Idle);
        let was_connected = matches!(conn, Conn::Connected { .. });
        match conn {
            Conn::Connecting { stream, .. } | Conn::Connected { stream, .. } => {
                self.close_stream(stream, cx);
            }
            Conn::Idle | Conn::Resolving { .. } => {}
        }
        self.read_closed = false;
        self.send_closed = false;
        if let Some(sends) = self.sends_mut().filter(|s| !s.is_empty()) {
            for send in mem::take(sends) {
                send.fail(NetError::SOCKET_NOT_CONNECTED, cx);
            }
        }
        if let Some(callback) = self.take_shutdown() {
            let e = LastError::net(NetError::SOCKET_NOT_CONNECTED);
            cx.queue.reply_unit(callback, Err(e));
        }
        self.connect_overtaken_by_disconnect(cx);
        was_connected
    }

    /// Closes `stream`, this socket's fd just taken out of `conn`: deregistered first when
    /// registered (see [`deregister_then_drop`]), then dropped. The socket is unregistered
    /// afterwards.
    pub(super) fn close_stream(&mut self, stream: TcpStream, cx: &Io<'_, R, S>) {
        if mem::take(&mut self.registered) {
            deregister_then_drop(cx.registry, stream, "tcp socket", self.id);
        }
    }
}
