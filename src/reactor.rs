//! [`Reactor`]: the single-threaded event loop that owns every socket, and its builder.

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use mio::{Events, Poll};
use slab::Slab;

use crate::event::{Event, Listeners};
use crate::ids::{IdTable, WAKER_TOKEN};
use crate::queue::{Callback, Queue, Task};
use crate::server_socket::ServerEntry;
use crate::tcp::{ReceiveErrorInfo, ReceiveInfo, Tcp};
use crate::tcp_server::{AcceptErrorInfo, AcceptInfo, TcpServer};
use crate::tcp_socket::{Resolution, TcpEntry};
use crate::timer::{TimerId, Timers};
use crate::turn::TurnFlags;
use crate::{SocketsManifest, Waker};

/// What the reactor does to each accepted connection before announcing it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AcceptedSockets {
    /// Chrome's options: `TCP_NODELAY` on (one `setsockopt` per accept). Chrome also turns on
    /// 45 s keep-alive; this crate does not (deviation D11, see [`deviations`](crate::deviations)).
    #[default]
    ChromeDefaults,
    /// Leave the accepted fd exactly as `accept4(2)` returned it: the fewest syscalls.
    Untouched,
}

/// Default number of connections one listener may accept in one turn.
pub const DEFAULT_ACCEPT_BATCH: usize = 64;

/// Builds a [`Reactor`] with non-default options.
///
/// ```
/// use chrome_sockets::{AcceptedSockets, Reactor, ReactorBuilder, SocketsManifest};
/// let manifest = SocketsManifest::new().allow_listen(["127.0.0.1:*"])?;
/// let r: Reactor = ReactorBuilder::new()
///     .accept_batch(16)
///     .accepted_sockets(AcceptedSockets::Untouched)
///     .manifest(manifest)
///     .build()?;
/// # drop(r);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct ReactorBuilder {
    accept_batch: usize,
    accepted_sockets: AcceptedSockets,
    manifest: Option<SocketsManifest>,
    events_capacity: usize,
}

impl ReactorBuilder {
    /// A builder with the default options (the same as [`Reactor::builder`]).
    pub fn new() -> Self {
        Self::default()
    }

    /// At most `n` accepts per listener per turn (at least 1; default 64). A listener with more
    /// connections waiting is served again on the next turn, after every other ready socket.
    pub fn accept_batch(mut self, n: usize) -> Self {
        self.accept_batch = n.max(1);
        self
    }

    /// What to do to accepted sockets (default [`AcceptedSockets::ChromeDefaults`]).
    pub fn accepted_sockets(mut self, what: AcceptedSockets) -> Self {
        self.accepted_sockets = what;
        self
    }

    /// Checks every `listen` and `connect` against a sockets manifest, as Chrome does for an
    /// app's `"sockets"` manifest key: a call no pattern allows fails with "Does not have
    /// permission", after the id lookup and before address validation or any syscall.
    /// Without a manifest, everything is allowed (Chrome's pattern `""`).
    ///
    /// An invalid pattern is rejected when the manifest is built, as Chrome rejects the
    /// manifest at load time: [`SocketsManifest::allow_listen`] and
    /// [`SocketsManifest::allow_connect`] return a [`ManifestError`](crate::ManifestError)
    /// ("Invalid host:port pattern '&lt;pattern&gt;'"), so a reactor never holds one.
    ///
    /// ```
    /// use chrome_sockets::{Reactor, ReactorBuilder, SocketsManifest};
    /// // "sockets": {"tcpServer": {"listen": ["127.0.0.1:*"]}, "tcp": {"connect": "*:443"}}
    /// let manifest = SocketsManifest::new()
    ///     .allow_listen(["127.0.0.1:*"])?
    ///     .allow_connect(["*:443"])?;
    /// let r: Reactor = ReactorBuilder::new().manifest(manifest).build()?;
    /// # drop(r);
    /// let err = SocketsManifest::new().allow_listen(["a:b:c"]).unwrap_err();
    /// assert_eq!(err.to_string(), "Invalid host:port pattern 'a:b:c'");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn manifest(mut self, manifest: SocketsManifest) -> Self {
        self.manifest = Some(manifest);
        self
    }

    /// How many readiness events one OS poll may return (default 1024).
    pub fn events_capacity(mut self, n: usize) -> Self {
        self.events_capacity = n.max(1);
        self
    }

    /// Creates the reactor: an epoll instance and its waker (two fds).
    pub fn build<S: 'static>(self) -> io::Result<Reactor<S>> {
        let poll = Poll::new()?;
        let waker = Arc::new(mio::Waker::new(poll.registry(), WAKER_TOKEN)?);
        let (resolved_tx, resolved_rx) = mpsc::channel();
        Ok(Reactor {
            poll,
            events: Events::with_capacity(self.events_capacity),
            servers: Slab::new(),
            server_ids: IdTable::new(),
            tcps: Slab::new(),
            tcp_ids: IdTable::new(),
            queue: Queue::new(),
            timers: Timers::new(),
            on_accept: Listeners::new(),
            on_accept_error: Listeners::new(),
            on_receive: Listeners::new(),
            on_receive_error: Listeners::new(),
            accept_batch: self.accept_batch,
            accepted_sockets: self.accepted_sockets,
            manifest: self.manifest,
            write_pending: 0,
            waker,
            resolved_tx,
            resolved_rx,
            resolutions: 0,
            next_resolution: 0,
            stop_requested: false,
            flags: TurnFlags::new(),
        })
    }
}

impl Default for ReactorBuilder {
    fn default() -> Self {
        ReactorBuilder {
            accept_batch: DEFAULT_ACCEPT_BATCH,
            accepted_sockets: AcceptedSockets::ChromeDefaults,
            manifest: None,
            events_capacity: 1024,
        }
    }
}

/// The event loop: owns the OS poll, every server and tcp socket, the queue of pending
/// callbacks and events, timers and event listeners.
///
/// `S` is the application state that [`turn`](Reactor::turn) and [`run`](Reactor::run) lend
/// to every callback and listener as their second argument (calloop's shared-data pattern);
/// use `()` when there is none. The first argument is the reactor itself, so callbacks can
/// make further calls.
///
/// # Callback timing
/// A call validates and takes effect at once (a `get_info` right after `listen` sees the port),
/// but its callback never runs inside the call: it is queued, and runs during a later
/// [`turn`](Reactor::turn), in the order queued, exactly once. Work queued while a turn runs
/// callbacks waits for the next turn.
///
/// ```
/// use chrome_sockets::{tcp_server::SocketProperties, Reactor};
///
/// #[derive(Default)]
/// struct App { port: Option<u16> }
///
/// let mut r: Reactor<App> = Reactor::new()?;
/// let mut app = App::default();
/// r.tcp_server().create(SocketProperties::default(), |r, _, created| {
///     let id = created.unwrap().socket_id;
///     r.tcp_server().listen(id, "127.0.0.1", 0, None, move |r, _, result| {
///         result.unwrap();
///         r.tcp_server().get_info(id, |_, app: &mut App, info| {
///             app.port = info.unwrap().local_port;
///         });
///     });
/// });
/// while app.port.is_none() {
///     r.turn(None, &mut app)?;
/// }
/// assert_ne!(app.port, Some(0));
/// # Ok::<(), std::io::Error>(())
/// ```
pub struct Reactor<S = ()> {
    pub(crate) poll: Poll,
    pub(crate) events: Events,
    /// Server entries; each stores its own id (checked on every token or key lookup).
    pub(crate) servers: Slab<ServerEntry>,
    pub(crate) server_ids: IdTable,
    /// Tcp entries; each stores its own id.
    pub(crate) tcps: Slab<TcpEntry<S>>,
    pub(crate) tcp_ids: IdTable,
    pub(crate) queue: Queue<S>,
    pub(crate) timers: Timers<Callback<S>>,
    pub(crate) on_accept: Listeners<S, AcceptInfo>,
    pub(crate) on_accept_error: Listeners<S, AcceptErrorInfo>,
    pub(crate) on_receive: Listeners<S, ReceiveInfo>,
    pub(crate) on_receive_error: Listeners<S, ReceiveErrorInfo>,
    pub(crate) accept_batch: usize,
    pub(crate) accepted_sockets: AcceptedSockets,
    pub(crate) manifest: Option<SocketsManifest>,
    /// Bytes handed to `send` and not yet written, across all sockets (the write quota).
    pub(crate) write_pending: usize,
    pub(crate) waker: Arc<mio::Waker>,
    /// Host-name resolutions finish on helper threads and come back here.
    pub(crate) resolved_tx: mpsc::Sender<Resolution>,
    pub(crate) resolved_rx: mpsc::Receiver<Resolution>,
    /// Resolutions started and not yet received.
    pub(crate) resolutions: usize,
    pub(crate) next_resolution: u64,
    pub(crate) stop_requested: bool,
    pub(crate) flags: TurnFlags,
}

impl<S: 'static> Reactor<S> {
    /// A reactor with default options. See [`Reactor::builder`] for the others.
    pub fn new() -> io::Result<Self> {
        ReactorBuilder::default().build()
    }

    /// A builder for a reactor with non-default options. (`Reactor::builder()` needs the state
    /// type spelled out, as in `Reactor::<()>::builder()`; [`ReactorBuilder::new`] does not.)
    pub fn builder() -> ReactorBuilder {
        ReactorBuilder::default()
    }

    /// `chrome.sockets.tcpServer`: server sockets.
    pub fn tcp_server(&mut self) -> TcpServer<'_, S> {
        TcpServer::new(self)
    }

    /// `chrome.sockets.tcp`: accepted and connected sockets.
    pub fn tcp(&mut self) -> Tcp<'_, S> {
        Tcp::new(self)
    }

    /// Makes [`run`](Reactor::run) return after the turn in progress (or before its next one).
    pub fn stop(&mut self) {
        self.stop_requested = true;
    }

    /// A handle that wakes a blocking [`turn`](Reactor::turn) from another thread.
    pub fn waker(&self) -> Waker {
        Waker::new(self.waker.clone())
    }

    /// How long a host loop may sleep before calling [`turn`](Reactor::turn): zero when work is
    /// queued, else the time to the next timer, else `None` (only I/O, signalled by the poll fd,
    /// can create work).
    pub fn next_timeout(&mut self) -> Option<Duration> {
        if !self.queue.is_empty() {
            return Some(Duration::ZERO);
        }
        self.timers
            .next_deadline()
            .map(|d| d.saturating_duration_since(Instant::now()))
    }

    /// Runs `callback` on the first turn at least `delay` from now. Due timers fire in
    /// deadline order (equal deadlines in the order set); a timer set from a callback fires on
    /// a later turn.
    ///
    /// ```
    /// # use chrome_sockets::Reactor;
    /// # use std::time::Duration;
    /// let mut r: Reactor<u32> = Reactor::new()?;
    /// let mut fired = 0;
    /// r.set_timeout(Duration::from_millis(5), |_, fired: &mut u32| *fired += 1);
    /// r.run(&mut fired)?;
    /// assert_eq!(fired, 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_timeout<F>(&mut self, delay: Duration, callback: F) -> TimerId
    where
        F: FnOnce(&mut Reactor<S>, &mut S) + 'static,
    {
        let now = Instant::now();
        let deadline = now.checked_add(delay).unwrap_or_else(|| far_future(now));
        self.timers.insert(deadline, Box::new(callback))
    }

    /// Cancels a timer. Returns whether it was still pending (false once it fired or was
    /// cleared). A cleared timer never fires, even one already due whose callback an earlier
    /// callback of the same turn clears.
    ///
    /// Timers live in a binary heap keyed by deadline: setting, clearing and firing cost
    /// O(log n), so many pending timers do not slow a turn down.
    pub fn clear_timeout(&mut self, id: TimerId) -> bool {
        self.timers.remove(id)
    }

    /// The app's event page was suspended: closes every non-persistent server and tcp socket,
    /// exactly as `close` would (their ports are free at once; callbacks already queued still
    /// run). Persistent ones survive and `get_sockets` still lists them. Accepted sockets are
    /// non-persistent unless `tcp().update(id, ..persistent(true)..)` made them persistent.
    pub fn suspend_app(&mut self) {
        let servers: Vec<i32> = self
            .server_ids
            .keys()
            .filter(|&k| !self.servers[k].persistent)
            .map(|k| self.servers[k].id)
            .collect();
        for id in servers {
            self.close_server(id);
        }
        let tcps: Vec<i32> = self
            .tcp_ids
            .keys()
            .filter(|&k| !self.tcps[k].persistent)
            .map(|k| self.tcps[k].id)
            .collect();
        for id in tcps {
            self.close_tcp(id);
        }
    }

    /// The app was unloaded: closes every socket, persistent ones too, drops every pending
    /// callback, timer and event listener. The reactor stays usable (ids keep counting up).
    pub fn unload_app(&mut self) {
        let servers: Vec<i32> = self.server_ids.keys().map(|k| self.servers[k].id).collect();
        for id in servers {
            self.close_server(id);
        }
        let tcps: Vec<i32> = self.tcp_ids.keys().map(|k| self.tcps[k].id).collect();
        for id in tcps {
            self.close_tcp(id);
        }
        self.queue.clear();
        self.timers.clear();
        self.on_accept.clear();
        self.on_accept_error.clear();
        self.on_receive.clear();
        self.on_receive_error.clear();
    }

    pub(crate) fn push(&mut self, task: Task<S>) {
        self.queue.push(task);
    }

    /// Queues `callback(result)` for a later turn.
    pub(crate) fn reply<T: 'static>(
        &mut self,
        callback: impl FnOnce(&mut Reactor<S>, &mut S, T) + 'static,
        result: T,
    ) {
        self.queue
            .push(Task::Call(Box::new(move |r, s| callback(r, s, result))));
    }

    /// Queues `callback(result)` for a later turn, for calls answering with `Result<()>`: the
    /// same as [`reply`](Self::reply) without the allocation of a closure binding the result.
    pub(crate) fn reply_unit(
        &mut self,
        callback: impl FnOnce(&mut Reactor<S>, &mut S, crate::Result<()>) + 'static,
        result: crate::Result<()>,
    ) {
        self.queue.push(Task::Done(Box::new(callback), result));
    }

    /// Whether nothing can happen any more: no socket, timer, queued work or resolution.
    pub(crate) fn is_idle(&self) -> bool {
        self.queue.is_empty()
            && self.timers.len() == 0
            && self.servers.is_empty()
            && self.tcps.is_empty()
            && self.resolutions == 0
    }

    pub(crate) fn accept_event(&mut self) -> Event<'_, S, AcceptInfo> {
        Event::new(&mut self.on_accept)
    }

    pub(crate) fn accept_error_event(&mut self) -> Event<'_, S, AcceptErrorInfo> {
        Event::new(&mut self.on_accept_error)
    }

    pub(crate) fn receive_event(&mut self) -> Event<'_, S, ReceiveInfo> {
        Event::new(&mut self.on_receive)
    }

    pub(crate) fn receive_error_event(&mut self) -> Event<'_, S, ReceiveErrorInfo> {
        Event::new(&mut self.on_receive_error)
    }
}

fn far_future(now: Instant) -> Instant {
    // About 30 years: later than any timer anyone waits for, and safe to add to.
    now + Duration::from_secs(30 * 365 * 24 * 3600)
}

/// The poll fd: readable when a turn has I/O to handle. A host loop watches it (with its own
/// poll/epoll/GUI loop) and calls `turn(Some(Duration::ZERO), ..)` when it is readable or
/// [`next_timeout`](Reactor::next_timeout) expires.
impl<S> AsRawFd for Reactor<S> {
    fn as_raw_fd(&self) -> RawFd {
        self.poll.as_raw_fd()
    }
}

/// The poll fd; see the `AsRawFd` impl.
impl<S> AsFd for Reactor<S> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        crate::sys::borrow_fd(&self.poll)
    }
}

impl<S> fmt::Debug for Reactor<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Reactor")
            .field("servers", &self.servers.len())
            .field("tcp_sockets", &self.tcps.len())
            .field("queued", &self.queue.len())
            .field("timers", &self.timers.len())
            .field("write_pending", &self.write_pending)
            .finish()
    }
}
