//! One turn of the reactor, and `run`: the only reader of `mio::Events` and the only place
//! that calls application code.
//!
//! A turn:
//! 1. polls the OS, with the timeout forced to zero while anything is queued;
//! 2. turns each readiness event into queued work right away: an accept step for a listener
//!    or a read step for a socket (each queued at most once), while finishing a connect and
//!    writing pending sends happen inline, since they call no application code; the waker's
//!    event collects finished host-name resolutions;
//! 3. queues the due timers, in deadline order (a timer cleared before its task runs, even by
//!    an earlier callback of the same turn, never fires);
//! 4. runs queued work in FIFO order ([`Reactor::run_task`]): callbacks, timers, events, and
//!    the accept and read steps, until the queue is empty or the turn's budget (64 tasks by
//!    default, [`ReactorBuilder::turn_budget`](crate::ReactorBuilder::turn_budget)) is spent.
//!    Work queued by a callback joins the back of the queue and may run in the same turn, so
//!    an accept-and-close needs no second poll for the `close` callback; the budget keeps a
//!    chain of callbacks from holding off the poll for more than one budget. A step accepts or
//!    reads one connection or chunk at a time and hands each outcome to [`Reactor::emit`]
//!    before the next, re-checking that the socket is still live and unpaused, so a
//!    `set_paused(true)` or `close` made by a listener stops the batch at once (D8): nothing
//!    already polled leaks through. A step that used up its batch continues on the next
//!    turn, after a poll (deferred, see [`Queue::deferring`](crate::queue::Queue::deferring)).

use std::io;
use std::panic::{self, AssertUnwindSafe};
use std::time::Duration;

use super::builder::AcceptedSockets;
use super::report::TurnReport;
use super::Reactor;
use crate::error::ReentrantTurn;
use crate::ids::{self, Source};
use crate::info::{AcceptErrorInfo, AcceptInfo, ReceiveErrorInfo, ReceiveInfo};
use crate::listeners::dispatch;
use crate::queue::{Io, Task};
use crate::tcp::entry::TcpEntry;
use crate::tcp::read::{Read, READS_PER_STEP};
use crate::tcp_server::entry::{Accepted, ServerEntry};
use crate::timer::Moment;

/// Queues the next step of the entry at `key` in `$r.$table` (if it is still the socket `id`
/// and `$still` holds) with `$queue_step`, deferred to the next turn: a step that used up its
/// batch must not run again before the next poll.
macro_rules! defer_step {
    ($r:expr, $table:ident, $key:expr, $id:expr, $still:ident, $queue_step:ident) => {{
        let registry = $r.poll.registry();
        let write_pending = &mut $r.write_pending;
        let table = &mut $r.$table;
        $r.queue.deferring(|queue| {
            let mut cx = Io {
                registry,
                queue,
                write_pending,
            };
            match table.get_mut($key, $id) {
                Some(e) if e.$still() => e.$queue_step($key, &mut cx),
                _ => {}
            }
        });
    }};
}

/// An event on its way to its listeners.
enum Emit {
    Accept(AcceptInfo),
    AcceptError(AcceptErrorInfo),
    Receive(ReceiveInfo),
    ReceiveError(ReceiveErrorInfo),
}

impl<S: 'static> Reactor<S> {
    /// Runs one turn: waits up to `timeout` for I/O (`None`: until something happens; forced to
    /// zero while work is queued; shortened to the next timer), then runs queued work in FIFO
    /// order, lending `state` to every callback and listener, until the queue is empty or the
    /// turn's budget of tasks is spent
    /// ([`ReactorBuilder::turn_budget`](crate::ReactorBuilder::turn_budget), default 64).
    /// Work queued by a callback may run in the same turn, after everything queued before
    /// it; what the budget leaves over runs first on the next turn, and until then
    /// [`next_timeout`](Reactor::next_timeout) is zero. The report says how much ran.
    ///
    /// A turn with `Some(Duration::ZERO)` never blocks, for host loops (see
    /// [`AsRawFd`](std::os::fd::AsRawFd)).
    ///
    /// # Errors
    /// The OS poll's error (`EINTR` is treated as a turn with no events), or, when called from
    /// inside one of this reactor's callbacks, listeners or timers, an `ErrorKind::Other`
    /// error holding [`ReentrantTurn`]: a turn is not re-entrant (queue
    /// the work instead). Nothing runs and nothing changes then.
    ///
    /// # Panics
    /// A panic in a callback or listener unwinds out of `turn`, and the reactor stays
    /// consistent: the panicking callback is consumed, a panicking listener is removed (the
    /// event's other listeners still get it before the panic goes on), the rest of the
    /// interrupted batch runs on the next turn, and accepts and reads are re-armed so no
    /// connection or byte waits for a new readiness edge.
    pub fn turn(&mut self, timeout: Option<Duration>, state: &mut S) -> io::Result<TurnReport> {
        if self.flags.in_turn {
            return Err(ReentrantTurn::error());
        }
        self.flags.in_turn = true;
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| self.turn_body(timeout, state)));
        self.flags.in_turn = false;
        match outcome {
            Ok(result) => result,
            Err(payload) => {
                self.flags.panicked = true;
                panic::resume_unwind(payload)
            }
        }
    }

    /// [`turn`](Reactor::turn) once it is known not to be re-entered.
    fn turn_body(&mut self, timeout: Option<Duration>, state: &mut S) -> io::Result<TurnReport> {
        if std::mem::take(&mut self.flags.panicked) {
            self.queue.end_turn();
            self.recover_after_panic();
        }

        let mut report = TurnReport::default();
        let timeout = self.poll_timeout(timeout);
        // Always put back below (readiness calls no application code, so nothing unwinds in
        // between); a fresh buffer only if that ever failed.
        let mut events = self
            .events
            .take()
            .unwrap_or_else(|| mio::Events::with_capacity(256));
        let polled = self.poll.poll(&mut events, timeout);
        let result = match polled {
            Ok(()) => {
                for event in events.iter() {
                    report.events += 1;
                    self.readiness(event);
                }
                Ok(())
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(()),
            Err(e) => Err(e),
        };
        self.events = Some(events);
        result?;

        // The due timers, by a clock read after the poll (the poll may have blocked for any
        // time up to its timeout), so a timer fires on the first turn whose poll returns at
        // or after its deadline. No clock read when no timer is pending (the accept path's
        // turns without timers have none); see `poll_timeout` for the read before the poll.
        if self.timers.next_deadline().is_some() {
            let now = Moment::now();
            while let Some(id) = self.timers.pop_due(now) {
                self.queue.push(Task::Timer(id));
            }
        }

        while report.tasks < self.turn_budget {
            let Some(task) = self.queue.pop() else {
                break;
            };
            report.tasks += 1;
            if self.run_task(task, state) {
                report.timers += 1;
            }
        }
        self.queue.end_turn();
        Ok(report)
    }

    /// Turns until [`stop`](Reactor::stop) or [`Waker::stop`](crate::Waker::stop) is called
    /// or nothing can happen any more (no sockets, timers, queued work or pending host-name
    /// resolutions). A stop made before `run` makes it return before its first turn; either
    /// way the request is used up, and a later `run` turns again.
    ///
    /// # Errors
    /// As [`turn`](Reactor::turn). Called from inside a callback it fails at once with
    /// [`ReentrantTurn`], leaving a pending stop request in place.
    pub fn run(&mut self, state: &mut S) -> io::Result<()> {
        if self.flags.in_turn {
            return Err(ReentrantTurn::error());
        }
        loop {
            if self.take_stop() {
                return Ok(());
            }
            if self.is_idle() {
                return Ok(());
            }
            self.turn(None, state)?;
        }
    }

    /// A callback panicked out of the last turn, possibly in the middle of an accept or read
    /// step. Readiness is edge-triggered, so a step cut short would wait for the next edge:
    /// queue an accept for every active listener and a read for every reading socket (at
    /// worst one would-block syscall each). The rest of the interrupted batch is still queued.
    fn recover_after_panic(&mut self) {
        log::warn!("a callback panicked during the last turn; re-arming accepts and reads");
        for key in self.servers.keys_where(ServerEntry::is_accepting) {
            let mut cx = lend!(self);
            self.servers[key].queue_accept(key, &mut cx);
        }
        for key in self.tcps.keys_where(TcpEntry::needs_rearm) {
            let mut cx = lend!(self);
            self.tcps[key].queue_read(key, &mut cx);
        }
    }

    /// The poll's timeout: `timeout`, shortened to [`next_timeout`](Reactor::next_timeout).
    ///
    /// Clock reads: a turn reads the clock at most twice, and only while a timer is pending:
    /// here, to shorten a poll that may block (exactly, so the poll returns by the deadline),
    /// and after the poll, to find the due timers. A poll that cannot block needs no read
    /// here: one the caller made non-blocking (`Some(Duration::ZERO)`, a host loop's turn),
    /// or one forced to zero by queued work or readiness left behind (`next_timeout` answers
    /// zero before looking at the clock). The read after the poll cannot be skipped: nothing
    /// bounds how long the poll took (the thread may be descheduled even in a zero-timeout
    /// poll), and a due timer must fire in this turn.
    fn poll_timeout(&mut self, timeout: Option<Duration>) -> Option<Duration> {
        if timeout == Some(Duration::ZERO) {
            return timeout;
        }
        match self.next_timeout() {
            Some(next) => Some(timeout.map_or(next, |t| t.min(next))),
            None => timeout,
        }
    }

    /// Turns one readiness event into queued work.
    fn readiness(&mut self, event: &mio::event::Event) {
        let mut cx = lend!(self);
        match ids::decode(event.token()) {
            Source::Waker => {
                for res in self.resolver.take_answers() {
                    if let Some(key) = self.tcps.key(res.tcp_id) {
                        self.tcps[key].resolved(key, res, &mut cx);
                    }
                }
            }
            Source::Signal => self.signal_ready(),
            Source::Server { id, key } => match self.servers.get_mut(key, id) {
                Some(e) if e.is_accepting() => e.queue_accept(key, &mut cx),
                _ => log::trace!("stale readiness event for server {id}"),
            },
            Source::Tcp { id, key } => match self.tcps.get_mut(key, id) {
                Some(e) => e.ready(key, event, &mut cx),
                None => log::trace!("stale readiness event for tcp socket {id}"),
            },
        }
    }

    /// Runs one queued task; returns whether it was a timer that fired. Together with
    /// [`emit`](Self::emit), the only code that calls application callbacks and listeners.
    fn run_task(&mut self, task: Task<Reactor<S>, S>, state: &mut S) -> bool {
        match task {
            Task::Call(callback) => callback(self, state),
            Task::Done(callback, result) => callback(self, state, result.map_err(|e| *e)),
            Task::Timer(id) => {
                // A timer cleared after it fell due (even by an earlier callback of this turn)
                // has no callback any more: it never fires.
                let Some(callback) = self.timers.take(id) else {
                    return false;
                };
                callback(self, state);
                return true;
            }
            Task::Accept { key, id } => self.accept_step(key, id, state),
            Task::Read { key, id } => self.read_step(key, id, state),
            Task::ReceiveError(info) => {
                if self.tcps.key(info.socket_id.raw()).is_some() {
                    self.emit(Emit::ReceiveError(info), state);
                }
            }
            Task::AcceptError(info) => {
                if self.servers.key(info.socket_id.raw()).is_some() {
                    self.emit(Emit::AcceptError(info), state);
                }
            }
        }
        false
    }

    /// Calls the listeners of one event.
    fn emit(&mut self, event: Emit, state: &mut S) {
        match event {
            Emit::Accept(info) => dispatch(self, state, |r| &mut r.listeners.on_accept, info),
            Emit::AcceptError(info) => {
                dispatch(self, state, |r| &mut r.listeners.on_accept_error, info)
            }
            Emit::Receive(info) => dispatch(self, state, |r| &mut r.listeners.on_receive, info),
            Emit::ReceiveError(info) => {
                dispatch(self, state, |r| &mut r.listeners.on_receive_error, info)
            }
        }
    }

    /// Accepts up to the batch limit from one listener, dispatching `on_accept` after each
    /// connection; the entry re-checks liveness and `paused` before every accept. A full
    /// batch defers another step to the next turn.
    fn accept_step(&mut self, key: usize, id: i32, state: &mut S) {
        match self.servers.get_mut(key, id) {
            Some(e) => e.begin_accept_step(),
            None => return,
        }
        let nodelay = self.accepted_sockets == AcceptedSockets::ChromeDefaults;
        for _ in 0..self.accept_batch {
            let mut cx = lend!(self);
            let Some(server) = self.servers.get_mut(key, id) else {
                return;
            };
            match server.accept_one(key, &mut self.tcps, nodelay, &mut cx) {
                Accepted::Socket(info) => self.emit(Emit::Accept(info), state),
                Accepted::Skipped => {}
                Accepted::Done => return,
                Accepted::Failed(info) => return self.emit(Emit::AcceptError(info), state),
            }
        }
        // Batch used up with connections possibly still waiting: come back next turn, after
        // a poll (fairness: at most one batch per listener per turn, see `ReactorBuilder::accept_batch`).
        defer_step!(self, servers, key, id, is_accepting, queue_accept);
    }

    /// Reads up to [`READS_PER_STEP`] chunks from one socket, dispatching `on_receive` after
    /// each; the entry re-checks `paused` before every read, so a listener's pause or close
    /// stops it.
    fn read_step(&mut self, key: usize, id: i32, state: &mut S) {
        match self.tcps.get_mut(key, id) {
            Some(e) => e.begin_read_step(),
            None => return,
        }
        for _ in 0..READS_PER_STEP {
            let mut cx = lend!(self);
            let Some(entry) = self.tcps.get_mut(key, id) else {
                return;
            };
            match entry.read_one(&mut self.read_buf, &mut cx) {
                Read::Data { info, more } => {
                    self.emit(Emit::Receive(info), state);
                    match self.tcps.get(key, id) {
                        Some(e) if more || e.read_closed() => {}
                        _ => return,
                    }
                }
                Read::Lost(info) => return self.emit(Emit::ReceiveError(info), state),
                Read::Again => {}
                Read::Done => return,
            }
        }
        // Chunks used up: come back next turn, after a poll.
        defer_step!(self, tcps, key, id, is_reading, queue_read);
    }
}
