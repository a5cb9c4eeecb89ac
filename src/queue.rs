//! The FIFO of work a turn runs (queued callbacks, events, and I/O steps), and [`Io`], what
//! the reactor lends a socket entry so it can change its registration and queue work.
//!
//! Two deques: `live` takes everything queued from now on; at the start of a turn's callback
//! phase `live` becomes `batch` and a fresh `live` starts, so work queued while the batch runs
//! waits for the next turn and nothing can starve I/O. If a callback panics, the rest of the
//! interrupted batch stays in `batch` and runs first on the next turn: nothing is lost or run
//! twice.
//!
//! `R` is the reactor type callbacks get as their first argument, a parameter so that this
//! module (and the entries that queue work) need nothing from the reactor.

use std::collections::VecDeque;
use std::fmt;

use crate::error::Result;
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
    /// An API callback answering with `Result<()>`, and that result. Boxing the app's closure
    /// alone does not allocate when it captures nothing (`|_, _, _| {}`), so the close on the
    /// accept-and-close path queues without a `malloc`.
    Done(Reply<R, S, Result<()>>, Result<()>),
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
    live: VecDeque<Task<R, S>>,
    batch: VecDeque<Task<R, S>>,
}

impl<R, S> Queue<R, S> {
    pub(crate) fn new() -> Self {
        Queue {
            live: VecDeque::new(),
            batch: VecDeque::new(),
        }
    }

    pub(crate) fn push(&mut self, task: Task<R, S>) {
        self.live.push_back(task);
    }

    /// Whether nothing is waiting to run.
    pub(crate) fn is_empty(&self) -> bool {
        self.live.is_empty() && self.batch.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.live.len() + self.batch.len()
    }

    /// Moves everything queued so far into the batch the current turn runs.
    pub(crate) fn begin_batch(&mut self) {
        if self.batch.is_empty() {
            std::mem::swap(&mut self.live, &mut self.batch);
        } else {
            self.batch.append(&mut self.live);
        }
    }

    pub(crate) fn pop_batch(&mut self) -> Option<Task<R, S>> {
        self.batch.pop_front()
    }

    pub(crate) fn clear(&mut self) {
        self.live.clear();
        self.batch.clear();
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
    pub(crate) fn reply_unit(
        &mut self,
        callback: impl FnOnce(&mut R, &mut S, Result<()>) + 'static,
        result: Result<()>,
    ) {
        self.push(Task::Done(Box::new(callback), result));
    }
}

impl<R, S> fmt::Debug for Queue<R, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("live", &self.live.len())
            .field("batch", &self.batch.len())
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
