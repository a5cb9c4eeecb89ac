//! The FIFO of work a turn runs (queued callbacks, events, and I/O steps), and [`Io`], what
//! the reactor lends a socket entry so it can change its registration and queue work.
//!
//! One deque, in the order queued. A turn pops from its front until it is empty or the turn's
//! budget is spent, so work queued by a callback may run in the same turn, after everything
//! queued before it (never inside the call). The continuation of an accept or read step that
//! used up its batch is the one exception: it is *deferred* to the next turn (see
//! [`Queue::deferring`]), so one busy socket gets at most one batch per turn and the OS is
//! polled in between. If a callback panics, the rest stays queued and runs first on the next
//! turn: nothing is lost or run twice.
//!
//! `R` is the reactor type callbacks get as their first argument, a parameter so that this
//! module (and the entries that queue work) need nothing from the reactor.

use std::collections::VecDeque;
use std::fmt;

use crate::error::{LastError, Result};
use crate::info::{AcceptErrorInfo, ReceiveErrorInfo};
use crate::timer::TimerId;

/// A callback with its result already bound, ready to run.
pub(crate) type Callback<R, S> = Box<dyn FnOnce(&mut R, &mut S)>;

/// A callback still waiting for its result of type `T`.
pub(crate) type Reply<R, S, T> = Box<dyn FnOnce(&mut R, &mut S, T)>;

/// One unit of queued work.
pub(crate) enum Task<R, S> {
    /// An API callback.
    Call(Callback<R, S>),
    /// An API callback answering with `Result<()>`, and that result (an error boxed, so a
    /// task stays 32 bytes instead of 48). Boxing the app's closure alone does not allocate
    /// when it captures nothing (`|_, _, _| {}`), so the close on the accept-and-close path
    /// queues without a `malloc`.
    Done(
        Reply<R, S, Result<()>>,
        std::result::Result<(), Box<LastError>>,
    ),
    /// A due timer: its callback runs unless `clear_timeout` removed it before this task ran.
    Timer(TimerId),
    /// A listener has connections waiting: accept a batch and dispatch `on_accept` for each.
    Accept { key: usize, id: i32 },
    /// A tcp socket may have bytes to read: read some and dispatch `on_receive`.
    Read { key: usize, id: i32 },
    /// An `on_receive_error` decided outside a read (disconnect, failed write); dropped at
    /// delivery if the socket was closed meanwhile (D6).
    ReceiveError(ReceiveErrorInfo),
    /// An `on_accept_error` decided outside an accept (a resume whose registration failed);
    /// dropped at delivery if the server was closed meanwhile.
    AcceptError(AcceptErrorInfo),
}

pub(crate) struct Queue<R, S> {
    tasks: VecDeque<Task<R, S>>,
    /// Step continuations that wait for the next turn; moved behind `tasks` when a turn ends.
    deferred: Vec<Task<R, S>>,
    /// While set, [`push`](Self::push) defers instead of queuing.
    defer: bool,
}

impl<R, S> Queue<R, S> {
    pub(crate) fn new() -> Self {
        Queue {
            tasks: VecDeque::new(),
            deferred: Vec::new(),
            defer: false,
        }
    }

    #[inline]
    pub(crate) fn push(&mut self, task: Task<R, S>) {
        if self.defer {
            self.deferred.push(task);
        } else {
            self.tasks.push_back(task);
        }
    }

    /// Runs `f` with every push deferred to the next turn (for the continuation of a step
    /// that used up its batch: queuing it normally would let it run again in this turn).
    pub(crate) fn deferring<T>(&mut self, f: impl FnOnce(&mut Self) -> T) -> T {
        self.defer = true;
        let out = f(self);
        self.defer = false;
        out
    }

    /// Whether nothing is waiting to run.
    #[inline]
    pub(crate) fn is_empty(&self) -> bool {
        self.tasks.is_empty() && self.deferred.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.tasks.len() + self.deferred.len()
    }

    /// The next task of this turn.
    #[inline]
    pub(crate) fn pop(&mut self) -> Option<Task<R, S>> {
        self.tasks.pop_front()
    }

    /// The turn is over (or about to start, after a turn that panicked): deferred
    /// continuations join the queue, behind what is already there.
    #[inline]
    pub(crate) fn end_turn(&mut self) {
        if !self.deferred.is_empty() {
            self.tasks.extend(self.deferred.drain(..));
        }
    }

    pub(crate) fn clear(&mut self) {
        self.tasks.clear();
        self.deferred.clear();
    }
}

impl<R: 'static, S: 'static> Queue<R, S> {
    /// Queues `callback(result)`.
    pub(crate) fn reply<T: 'static>(
        &mut self,
        callback: impl FnOnce(&mut R, &mut S, T) + 'static,
        result: T,
    ) {
        self.push(Task::Call(Box::new(move |r, s| callback(r, s, result))));
    }

    /// Queues `callback(result)` for a call answering with `Result<()>`: the same as
    /// [`reply`](Self::reply) without the allocation of a closure binding the result.
    #[inline]
    pub(crate) fn reply_unit(
        &mut self,
        callback: impl FnOnce(&mut R, &mut S, Result<()>) + 'static,
        result: Result<()>,
    ) {
        self.push(Task::Done(Box::new(callback), result.map_err(Box::new)));
    }
}

impl<R, S> fmt::Debug for Queue<R, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("tasks", &self.tasks.len())
            .field("deferred", &self.deferred.len())
            .finish()
    }
}

/// What the reactor lends a socket entry for one state change: the poll's registry (to
/// register or deregister its fd), the queue (to queue callbacks, events and I/O steps) and
/// the write quota's counter.
pub(crate) struct Io<'a, R, S> {
    pub(crate) registry: &'a mio::Registry,
    pub(crate) queue: &'a mut Queue<R, S>,
    /// Bytes handed to `send` and not yet written, across all sockets (the write quota).
    pub(crate) write_pending: &'a mut usize,
}
