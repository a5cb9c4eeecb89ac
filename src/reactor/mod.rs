//! [`Reactor`]: the single-threaded event loop that owns every socket, its builder, and its
//! turn.
//!
//! The reactor's fields are private to this module: the views (`tcp_server`, `tcp`, whose
//! files also hold [`Reactor::tcp_server`] and [`Reactor::tcp`]) reach sockets through the
//! accessors below, and socket entries get only what they need for one
//! change ([`Io`]: the registry, the queue, the write quota).

/// Lends an entry what it needs for one change ([`Io`]), borrowing only the fields named,
/// so the entry itself can be borrowed from its table at the same time.
macro_rules! lend {
    ($r:expr) => {
        crate::queue::Io {
            registry: $r.poll.registry(),
            queue: &mut $r.queue,
            write_pending: &mut $r.write_pending,
        }
    };
}

mod builder;
mod report;
mod turn;

use std::fmt;
use std::io;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mio::{Events, Poll};

pub use builder::{AcceptedSockets, ReactorBuilder, DEFAULT_ACCEPT_BATCH, DEFAULT_TURN_BUDGET};
pub use report::TurnReport;

use crate::error::Result;
use crate::ids::{Table, SIGNAL_TOKEN, WAKER_TOKEN};
use crate::listeners::EventListeners;
use crate::permission::SocketsManifest;
use crate::queue::{Callback, Io, Queue};
use crate::resolver::Resolver;
use crate::signal::SignalStop;
use crate::tcp::entry::TcpEntry;
use crate::tcp_server::entry::ServerEntry;
use crate::timer::{Moment, TimerId, Timers};
use crate::waker::Waker;

/// A tcp socket's entry in this reactor.
type TcpSocket<S> = TcpEntry<Reactor<S>, S>;
/// What this reactor lends an entry.
type Lent<'a, S> = Io<'a, Reactor<S>, S>;

impl ReactorBuilder {
    /// An empty socket table whose ids start where `ids_from` (a `fault-injection` knob) says.
    fn tables<E: crate::ids::Identified>(&self) -> Table<E> {
        #[allow(unused_mut)]
        let mut table = Table::new();
        #[cfg(feature = "fault-injection")]
        table.ids().start_at(self.first_id, self.last_id);
        table
    }

    /// Creates the reactor: an epoll instance and its waker (two fds).
    pub fn build<S: 'static>(self) -> io::Result<Reactor<S>> {
        let poll = Poll::new()?;
        let waker = Arc::new(mio::Waker::new(poll.registry(), WAKER_TOKEN)?);
        Ok(Reactor {
            poll,
            events: Some(Events::with_capacity(self.events_capacity)),
            servers: self.tables(),
            tcps: self.tables(),
            queue: Queue::new(),
            timers: Timers::new(),
            listeners: EventListeners::new(),
            accept_batch: self.accept_batch,
            turn_budget: self.turn_budget,
            accepted_sockets: self.accepted_sockets,
            manifest: self.manifest,
            write_pending: 0,
            write_quota: self.write_quota,
            read_buf: Vec::new(),
            resolver: Resolver::new(
                waker.clone(),
                self.resolver_threads,
                self.resolver_idle_timeout,
            ),
            waker,
            stop: Arc::new(AtomicBool::new(false)),
            signals: None,
            flags: report::TurnFlags::default(),
        })
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
/// [`turn`](Reactor::turn), in the order queued, exactly once. A turn runs queued work until
/// the queue is empty or its budget ([`ReactorBuilder::turn_budget`], 64 tasks by default) is
/// spent, so work queued by a callback may run in the same turn, after everything queued
/// before it; the rest waits for the next turn, which polls the OS first.
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
///
/// # Dropping
/// Dropping a reactor closes every socket it owns (the ports are free at once) and drops,
/// without running them, every queued callback, event, timer and listener, as
/// [`unload_app`](Reactor::unload_app) does: nobody is left to call. Turn it until the
/// callbacks you wait for have run before dropping it.
///
/// # Threads
/// A `Reactor` is neither `Send` nor `Sync`: callbacks and listeners are plain boxed closures
/// (they may hold `Rc`s and other single-threaded state, and run on the thread that turns
/// the reactor), so the reactor stays on the thread that created it. Other threads reach it
/// through [`Reactor::waker`] (`Send + Sync + Clone`) and their own channels. The reactor
/// starts threads only to resolve host names for `connect`
/// ([`ReactorBuilder::resolver_threads`]).
///
/// ```compile_fail
/// fn needs_send<T: Send>(_: T) {}
/// needs_send(chrome_sockets::Reactor::<()>::new().unwrap()); // error: not `Send`
/// ```
pub struct Reactor<S = ()> {
    poll: Poll,
    /// The poll's event buffer; taken out for the length of a poll and its readiness pass.
    events: Option<Events>,
    /// Server entries; each stores its own id (checked on every token or key lookup).
    servers: Table<ServerEntry>,
    /// Tcp entries; each stores its own id.
    tcps: Table<TcpSocket<S>>,
    queue: Queue<Reactor<S>, S>,
    timers: Timers<Callback<Reactor<S>, S>>,
    listeners: EventListeners<Reactor<S>, S>,
    accept_batch: usize,
    /// Tasks one turn may run before it polls again.
    turn_budget: usize,
    accepted_sockets: AcceptedSockets,
    manifest: Option<SocketsManifest>,
    /// Bytes handed to `send` and not yet written, across all sockets (the write quota).
    write_pending: usize,
    /// The most `write_pending` may reach ([`ReactorBuilder::write_quota`]).
    write_quota: usize,
    /// Every read lands here and is copied out at its length (`tcp/read.rs`): as long as the
    /// largest `buffer_size` read so far (at most 1 MiB), allocated on the first read.
    read_buf: Vec<u8>,
    /// Host-name lookups run on its threads (started on demand, at most
    /// [`ReactorBuilder::resolver_threads`]) and come back through the waker.
    resolver: Resolver,
    waker: Arc<mio::Waker>,
    /// Set by [`Reactor::stop`] and [`Waker::stop`]; [`run`](Reactor::run) checks and clears
    /// it before every turn.
    stop: Arc<AtomicBool>,
    /// The signals that stop this reactor ([`Reactor::stop_on_signals`]); while `Some`, the
    /// process's signal eventfd is registered with the poll under `SIGNAL_TOKEN`.
    signals: Option<SignalStop>,
    flags: report::TurnFlags,
}

impl<S: 'static> Reactor<S> {
    /// A reactor with default options. See [`Reactor::builder`] for the others.
    pub fn new() -> io::Result<Self> {
        ReactorBuilder::default().build()
    }

    /// How many times a socket id counter (servers' or tcp sockets') wrapped from `i32::MAX`
    /// back to 1 (deviation D12). Only with the `fault-injection` feature, for tests and the
    /// soak, which start the counters near the wrap with [`ReactorBuilder::ids_from`].
    #[cfg(feature = "fault-injection")]
    pub fn id_wraps(&mut self) -> u64 {
        self.servers.ids().wraps() + self.tcps.ids().wraps()
    }

    /// A builder for a reactor with non-default options. (`Reactor::builder()` needs the state
    /// type spelled out, as in `Reactor::<()>::builder()`; [`ReactorBuilder::new`] does not.)
    pub fn builder() -> ReactorBuilder {
        ReactorBuilder::default()
    }

    /// Makes [`run`](Reactor::run) return after the turn in progress (or before its next one).
    /// From another thread, use [`Waker::stop`].
    pub fn stop(&mut self) {
        self.stop.store(true, Ordering::Release);
    }

    /// A handle that wakes a blocking [`turn`](Reactor::turn), or stops
    /// [`run`](Reactor::run), from another thread.
    pub fn waker(&self) -> Waker {
        Waker::new(self.waker.clone(), self.stop.clone())
    }

    /// Makes each of `signals` (e.g. `libc::SIGINT`, `libc::SIGTERM`: 2 and 15 on Linux, for
    /// a program without a `libc` dependency) stop this reactor as
    /// [`Waker::stop`] would: [`run`](Reactor::run) returns once the signal comes, and a
    /// [`turn`](Reactor::turn) blocked in the poll returns at once. It arms no timer and
    /// starts no thread: the poll keeps waiting with no timeout while nothing else is
    /// pending ([`next_timeout`](Reactor::next_timeout) stays `None`). Replaces the set given
    /// before; an empty slice stops watching.
    ///
    /// The recipe for a server that stops on Ctrl-C or `kill`:
    ///
    /// ```
    /// use chrome_sockets::{tcp_server::SocketProperties, Reactor};
    ///
    /// let mut r: Reactor = Reactor::new()?;
    /// r.stop_on_signals(&[libc::SIGINT, libc::SIGTERM])?;
    /// r.tcp_server().create(SocketProperties::default(), |r, _, created| {
    ///     let id = created.unwrap().socket_id;
    ///     r.tcp_server().listen(id, "127.0.0.1", 0, None, |_, _, result| result.unwrap());
    /// });
    /// r.turn(None, &mut ())?; // runs the create and listen callbacks
    /// assert_eq!(r.next_timeout(), None); // no timer: the poll will wait with no timeout
    /// # // The signal a user's Ctrl-C or `kill` would send, sent to this process.
    /// # let pid = std::process::id().to_string();
    /// # std::process::Command::new("kill").args(["-TERM", &pid]).status()?;
    /// r.run(&mut ())?; // serves until SIGINT or SIGTERM, then returns
    /// // Tidy up here: `r` still owns every socket.
    /// # Ok::<(), std::io::Error>(())
    /// ```
    ///
    /// # How it works, and what it changes in the process
    /// Signal dispositions belong to the process, so one handler serves every reactor: it
    /// only counts the signal and writes to one eventfd (both async-signal-safe, `errno`
    /// preserved) that the process makes once and never closes, so no handler can ever
    /// write to a closed or reused fd. Each watching reactor registers that eventfd with its
    /// own poll; one signal wakes every reactor in the process, and each one that watches
    /// that signal stops (several reactors on several threads, as in sharded servers, all
    /// stop on one Ctrl-C). While at least one reactor watches a signal the handler replaces
    /// the signal's previous disposition (another library's handler is not called); once
    /// none does (the set is replaced, or the reactor is dropped) the previous disposition
    /// is put back (so a handler someone else installs for the signal meanwhile is replaced
    /// then too: install other handlers before the first watcher, or after the last). The
    /// first call costs the process one fd for good; each watching reactor costs nothing
    /// more than one registration.
    ///
    /// # Errors
    /// `InvalidInput` for a number outside 1..=64 or a signal that cannot be handled
    /// (`SIGKILL`, `SIGSTOP`, and the fault signals `SIGSEGV`, `SIGBUS`, `SIGILL`, `SIGFPE`);
    /// the OS error of `eventfd`, `sigaction` or the registration. On an error nothing
    /// changed: the set given before still applies.
    pub fn stop_on_signals(&mut self, signals: &[i32]) -> io::Result<()> {
        if signals.is_empty() {
            if self.signals.take().is_some() {
                let fd = crate::sys::signal_eventfd()?;
                self.poll
                    .registry()
                    .deregister(&mut mio::unix::SourceFd(&fd))?;
            }
            return Ok(());
        }
        let (watch, fd) = SignalStop::new(signals)?;
        if self.signals.is_none() {
            let interest = mio::Interest::READABLE;
            let mut source = mio::unix::SourceFd(&fd);
            crate::sys::register(self.poll.registry(), &mut source, SIGNAL_TOKEN, interest)?;
        }
        // The new watch is in place before the old one lets go, so a signal in both sets
        // keeps its handler throughout.
        self.signals = Some(watch);
        Ok(())
    }

    /// A signal of [`stop_on_signals`](Reactor::stop_on_signals) may have come: stop if one
    /// of this reactor's did.
    pub(crate) fn signal_ready(&mut self) {
        if self.signals.as_mut().is_some_and(SignalStop::fired) {
            self.stop.store(true, Ordering::Release);
        }
    }

    /// Takes a stop request made by [`stop`](Reactor::stop) or [`Waker::stop`].
    fn take_stop(&self) -> bool {
        // One load per turn of `run`; the swap only once a stop came.
        self.stop.load(Ordering::Acquire) && self.stop.swap(false, Ordering::Acquire)
    }

    /// How long a host loop may sleep before calling [`turn`](Reactor::turn): zero when work is
    /// queued or the last poll may have left readiness behind, else the time to the next timer,
    /// else `None` (only I/O, signalled by the poll fd, can create work).
    ///
    /// # The one rule of embedding
    /// After anything that calls into the reactor (a turn, or a call made outside a turn),
    /// read `next_timeout` again and wake up by then even if the poll fd stays quiet. A turn
    /// can leave work the fd will not report again: a listener with more connections than one
    /// accept batch, callbacks queued by callbacks, or readiness beyond a full events buffer
    /// ([`ReactorBuilder::events_capacity`]). An edge-triggered host (tokio's `AsyncFd`, an
    /// outer `mio::Poll`) gets no new edge for any of these, and a level-triggered one (GLib,
    /// calloop's `Mode::Level`) sees the fd quiet for the first two; `Some(Duration::ZERO)`
    /// is how the reactor asks for that next turn. The README's "Embedding" section shows the
    /// rule in each host.
    pub fn next_timeout(&mut self) -> Option<Duration> {
        if !self.queue.is_empty() || self.poll_left_readiness() {
            return Some(Duration::ZERO);
        }
        // The clock is read only when a timer is pending.
        let deadline = self.timers.next_deadline()?;
        Some(Moment::now().until(deadline))
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
        let deadline = Moment::now() + delay;
        self.timers.insert(deadline, Box::new(callback))
    }

    /// Whether the last poll filled its events buffer: readiness may still wait in the OS
    /// poll, and the poll fd raises no new edge for it. (At worst one turn finds nothing.)
    fn poll_left_readiness(&self) -> bool {
        // `None` while a turn holds the buffer. `count` is the number of events the last poll
        // returned, without iterating.
        self.events
            .as_ref()
            .is_some_and(|e| e.capacity() > 0 && e.iter().count() >= e.capacity())
    }

    /// Cancels a timer. Returns whether it was still pending (false once it fired or was
    /// cleared). A cleared timer never fires, even one already due whose callback an earlier
    /// callback of the same turn clears. Timer ids are unique in the process: another
    /// reactor's id finds nothing here and returns false.
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
        self.close_all(|server| !server.is_persistent(), |tcp| !tcp.is_persistent());
    }

    /// The app was unloaded: closes every socket, persistent ones too, drops every pending
    /// callback, timer and event listener. The reactor stays usable (ids keep counting up).
    pub fn unload_app(&mut self) {
        self.close_all(|_| true, |_| true);
        self.queue.clear();
        self.timers.clear();
        self.listeners.clear();
    }

    /// Closes the servers and tcp sockets the predicates pick, in id order.
    fn close_all(
        &mut self,
        server: impl Fn(&ServerEntry) -> bool,
        tcp: impl Fn(&TcpSocket<S>) -> bool,
    ) {
        let ids: Vec<i32> = self
            .servers
            .iter()
            .filter(|e| server(e))
            .map(id_of)
            .collect();
        for id in ids {
            self.close_server(id);
        }
        let ids: Vec<i32> = self.tcps.iter().filter(|e| tcp(e)).map(id_of).collect();
        for id in ids {
            self.close_tcp(id);
        }
    }

    /// Whether nothing can happen any more: no socket, timer, queued work or resolution.
    fn is_idle(&self) -> bool {
        self.queue.is_empty()
            && self.timers.len() == 0
            && self.servers.is_empty()
            && self.tcps.is_empty()
            && !self.resolver.is_busy()
    }

    // ----- for the views --------------------------------------------------------------------

    /// Queues `callback(result)` to run after the call returns (in this turn or a later one).
    pub(crate) fn reply<T: 'static>(
        &mut self,
        callback: impl FnOnce(&mut Reactor<S>, &mut S, T) + 'static,
        result: T,
    ) {
        self.queue.reply(callback, result);
    }

    /// Queues `callback(result)` to run after the call returns, for calls answering with `Result<()>`: the
    /// same as [`reply`](Self::reply) without the allocation of a closure binding the result.
    #[inline]
    pub(crate) fn reply_unit(
        &mut self,
        callback: impl FnOnce(&mut Reactor<S>, &mut S, Result<()>) + 'static,
        result: Result<()>,
    ) {
        self.queue.reply_unit(callback, result);
    }

    pub(crate) fn servers(&mut self) -> &mut Table<ServerEntry> {
        &mut self.servers
    }

    pub(crate) fn tcps(&mut self) -> &mut Table<TcpSocket<S>> {
        &mut self.tcps
    }

    /// The server at `key` (a live key from [`servers`](Self::servers)) and what it may use.
    pub(crate) fn server_io(&mut self, key: usize) -> (&mut ServerEntry, Lent<'_, S>) {
        let cx = lend!(self);
        (&mut self.servers[key], cx)
    }

    /// The tcp socket at `key` (a live key from [`tcps`](Self::tcps)) and what it may use.
    pub(crate) fn tcp_io(&mut self, key: usize) -> (&mut TcpSocket<S>, Lent<'_, S>) {
        let cx = lend!(self);
        (&mut self.tcps[key], cx)
    }

    pub(crate) fn manifest(&self) -> Option<&SocketsManifest> {
        self.manifest.as_ref()
    }

    pub(crate) fn write_pending(&self) -> usize {
        self.write_pending
    }

    pub(crate) fn write_quota(&self) -> usize {
        self.write_quota
    }

    pub(crate) fn listeners(&mut self) -> &mut EventListeners<Reactor<S>, S> {
        &mut self.listeners
    }

    /// [`tcp_io`](Self::tcp_io) and the resolver pool, for a `connect` (`tcp/connect.rs`).
    pub(crate) fn connect_io(
        &mut self,
        key: usize,
    ) -> (&mut TcpSocket<S>, Lent<'_, S>, &mut Resolver) {
        let cx = lend!(self);
        (&mut self.tcps[key], cx, &mut self.resolver)
    }

    /// `close` of a server: stops listening and removes the id at once; queued accepts find
    /// it gone. Returns whether the id was live.
    pub(crate) fn close_server(&mut self, id: i32) -> bool {
        let Some(mut entry) = self.servers.remove(id) else {
            return false;
        };
        entry.stop_listening(self.poll.registry());
        true
    }

    /// `close` of a tcp socket: removes the id at once and drops the connection; no event
    /// follows (D6), a connect in progress gets "Socket not found" (D5). Returns whether the
    /// id was live.
    #[inline]
    pub(crate) fn close_tcp(&mut self, id: i32) -> bool {
        let Some(entry) = self.tcps.remove(id) else {
            return false;
        };
        entry.close(&mut lend!(self));
        true
    }
}

/// Closes a socket's registered fd: deregisters `source` from the poll, then drops it. Every
/// registered tcp socket and listener that is closed goes through here (disconnect, close, a
/// failed or timed-out connect, a server's disconnect or close); pausing a server deregisters
/// its listener without closing it (`tcp_server/entry.rs`).
///
/// Deregistering first takes the fd out of epoll whatever else holds the socket open (a
/// forked child's copy): `close(2)` alone removes it only with the socket's last fd, and until
/// then epoll would go on reporting it under a token a later socket may get. A failed
/// deregister is logged (debug, with `what` and `id`) and not reported: `epoll_ctl(DEL)` fails
/// only for a bad fd or one epoll does not hold, the fd is closed right after, and the call
/// that closed it answers the app itself.
pub(crate) fn deregister_then_drop(
    registry: &mio::Registry,
    mut source: impl mio::event::Source,
    what: &str,
    id: i32,
) {
    if let Err(e) = registry.deregister(&mut source) {
        log::debug!("deregistering {what} {id}: {e}");
    }
    drop(source);
}

fn id_of<E: crate::ids::Identified>(entry: &E) -> i32 {
    entry.id()
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
        // mio's `Registry` is the poll's own handle to the same epoll fd.
        self.poll.registry().as_fd()
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

#[cfg(test)]
mod tests {
    /// An idle accepted connection is one slab entry plus its id-map slot; the entry's 72
    /// bytes are most of the library's bytes per connection at any scale (the growth table of
    /// `docs/performance.md`, "Performance at scale"): growing it shows up there.
    #[test]
    fn an_idle_connection_entry_is_at_most_72_bytes() {
        assert!(std::mem::size_of::<super::TcpSocket<()>>() <= 72);
    }
}
