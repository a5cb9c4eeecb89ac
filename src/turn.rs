//! One turn of the reactor, and `run`: the only reader of `mio::Events`.
//!
//! A turn:
//! 1. polls the OS, with the timeout forced to zero while anything is queued;
//! 2. turns readiness into queued I/O steps (accept a batch, read a chunk, finish a connect,
//!    flush sends); a listener or socket is queued at most once;
//! 3. queues the due timers, in deadline order (a timer cleared before its task runs, even by
//!    an earlier callback of the same turn, never fires);
//! 4. runs everything queued so far, in order. Accepts and reads happen when their step runs,
//!    so a `set_paused(true)` or `close` made by an earlier callback in the same batch stops
//!    them (D8): nothing already polled leaks through.

use std::cell::Cell;
use std::io;
use std::rc::Rc;
use std::time::{Duration, Instant};

use crate::ids::{self, Source};
use crate::queue::Task;
use crate::Reactor;

/// What one [`Reactor::turn`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TurnReport {
    /// Readiness events the OS poll returned.
    pub events: usize,
    /// Timers that fired.
    pub timers: usize,
    /// Queued callbacks, events and I/O steps that ran.
    pub tasks: usize,
}

impl TurnReport {
    /// Whether the turn did nothing at all (it timed out with nothing to run).
    pub fn is_empty(&self) -> bool {
        self.events == 0 && self.timers == 0 && self.tasks == 0
    }
}

/// Shared with the guard a turn holds, so they are kept right even when a callback panics.
#[derive(Debug)]
pub(crate) struct TurnFlags {
    in_turn: Rc<Cell<bool>>,
    /// A callback or listener panicked out of the last turn.
    panicked: Rc<Cell<bool>>,
}

impl TurnFlags {
    pub(crate) fn new() -> Self {
        TurnFlags {
            in_turn: Rc::new(Cell::new(false)),
            panicked: Rc::new(Cell::new(false)),
        }
    }
}

struct TurnGuard {
    in_turn: Rc<Cell<bool>>,
    panicked: Rc<Cell<bool>>,
}

impl Drop for TurnGuard {
    fn drop(&mut self) {
        self.in_turn.set(false);
        if std::thread::panicking() {
            self.panicked.set(true);
        }
    }
}

impl<S: 'static> Reactor<S> {
    /// Runs one turn: waits up to `timeout` for I/O (`None`: until something happens; forced to
    /// zero while work is queued; shortened to the next timer), then runs what is ready,
    /// lending `state` to every callback and listener.
    ///
    /// A turn with `Some(Duration::ZERO)` never blocks, for host loops (see
    /// [`AsRawFd`](std::os::fd::AsRawFd)).
    ///
    /// # Errors
    /// The OS poll's error (`EINTR` is treated as a turn with no events), or
    /// `ErrorKind::WouldBlock` when called from inside one of this reactor's callbacks (a turn
    /// is not re-entrant; queue the work instead).
    ///
    /// # Panics
    /// A panic in a callback or listener unwinds out of `turn`, and the reactor stays
    /// consistent: the panicking callback is consumed, a panicking listener is removed (the
    /// event's other listeners still get it before the panic goes on), the rest of the
    /// interrupted batch runs on the next turn, and accepts and reads are re-armed so no
    /// connection or byte waits for a new readiness edge.
    pub fn turn(&mut self, timeout: Option<Duration>, state: &mut S) -> io::Result<TurnReport> {
        if self.flags.in_turn.get() {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "Reactor::turn called from inside a callback of the same reactor",
            ));
        }
        self.flags.in_turn.set(true);
        let _guard = TurnGuard {
            in_turn: self.flags.in_turn.clone(),
            panicked: self.flags.panicked.clone(),
        };
        if self.flags.panicked.replace(false) {
            self.recover_after_panic();
        }

        let mut report = TurnReport::default();
        let timeout = self.poll_timeout(timeout);
        let mut events = std::mem::replace(&mut self.events, mio::Events::with_capacity(0));
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
        self.events = events;
        result?;

        // No clock read when no timer is pending (the accept path's turns have none).
        if self.timers.len() > 0 {
            let now = Instant::now();
            while let Some(id) = self.timers.pop_due(now) {
                self.push(Task::Timer(id));
            }
        }

        self.queue.begin_batch();
        while let Some(task) = self.queue.pop_batch() {
            report.tasks += 1;
            if self.run_task(task, state) {
                report.timers += 1;
            }
        }
        Ok(report)
    }

    /// Turns until [`stop`](Reactor::stop) is called or nothing can happen any more (no
    /// sockets, timers, queued work or pending host-name resolutions).
    pub fn run(&mut self, state: &mut S) -> io::Result<()> {
        loop {
            if self.stop_requested {
                self.stop_requested = false;
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
        let servers: Vec<usize> = self.server_ids.keys().collect();
        for key in servers {
            let e = &self.servers[key];
            if !e.paused && e.listening.is_some() {
                self.server_ready(e.id, key);
            }
        }
        let tcps: Vec<usize> = self.tcp_ids.keys().collect();
        for key in tcps {
            let e = &self.tcps[key];
            if !e.paused && e.registered && e.is_connected() {
                self.queue_read(key);
            }
        }
    }

    fn poll_timeout(&mut self, timeout: Option<Duration>) -> Option<Duration> {
        match self.next_timeout() {
            Some(next) => Some(timeout.map_or(next, |t| t.min(next))),
            None => timeout,
        }
    }

    /// Turns one readiness event into queued work.
    fn readiness(&mut self, event: &mio::event::Event) {
        match ids::decode(event.token()) {
            Source::Waker => self.collect_resolutions(),
            Source::Server { id, key } => self.server_ready(id, key),
            Source::Tcp { id, key } => self.tcp_ready(id, key, event),
        }
    }

    /// Runs one queued task; returns whether it was a timer that fired.
    fn run_task(&mut self, task: Task<S>, state: &mut S) -> bool {
        match task {
            Task::Call(callback) => callback(self, state),
            Task::Done(callback, result) => callback(self, state, result),
            Task::Timer(id) => {
                // A timer cleared after it fell due (even by an earlier callback of this turn)
                // has no callback any more: it never fires.
                let Some(callback) = self.timers.take(id) else {
                    return false;
                };
                callback(self, state);
                return true;
            }
            Task::Accept { key, id } => self.accept_batch(key, id, state),
            Task::Read { key, id } => self.read_some(key, id, state),
            Task::ReceiveError(info) => {
                if self.tcp_ids.get(info.socket_id.raw()).is_some() {
                    crate::event::dispatch(self, state, |r| &mut r.on_receive_error, &info);
                }
            }
            Task::AcceptError(info) => {
                if self.server_ids.get(info.socket_id.raw()).is_some() {
                    crate::event::dispatch(self, state, |r| &mut r.on_accept_error, &info);
                }
            }
        }
        false
    }
}
