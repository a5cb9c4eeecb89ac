//! The FIFO of work a turn runs: queued callbacks, events, and I/O steps.
//!
//! Two deques: `live` takes everything queued from now on; at the start of a turn's callback
//! phase `live` becomes `batch` and a fresh `live` starts, so work queued while the batch runs
//! waits for the next turn and nothing can starve I/O. If a callback panics, the rest of the
//! interrupted batch stays in `batch` and runs first on the next turn: nothing is lost or run
//! twice.

use std::collections::VecDeque;
use std::fmt;

use crate::tcp::ReceiveErrorInfo;
use crate::tcp_server::AcceptErrorInfo;
use crate::timer::TimerId;
use crate::Reactor;

/// A callback with its result already bound, ready to run.
pub(crate) type Callback<S> = Box<dyn FnOnce(&mut Reactor<S>, &mut S)>;

/// The callback of a call that answers with `Result<()>` (close, set_paused, ...), kept apart
/// from its result: boxing the app's closure alone does not allocate when it captures nothing
/// (`|_, _, _| {}`), so the close on the accept-and-close path queues without a `malloc`.
pub(crate) type UnitCallback<S> = Box<dyn FnOnce(&mut Reactor<S>, &mut S, crate::Result<()>)>;

/// One unit of queued work.
pub(crate) enum Task<S> {
    /// An API callback.
    Call(Callback<S>),
    /// An API callback answering with `Result<()>`, and that result.
    Done(UnitCallback<S>, crate::Result<()>),
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

pub(crate) struct Queue<S> {
    live: VecDeque<Task<S>>,
    batch: VecDeque<Task<S>>,
}

impl<S> Queue<S> {
    pub(crate) fn new() -> Self {
        Queue {
            live: VecDeque::new(),
            batch: VecDeque::new(),
        }
    }

    pub(crate) fn push(&mut self, task: Task<S>) {
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

    pub(crate) fn pop_batch(&mut self) -> Option<Task<S>> {
        self.batch.pop_front()
    }

    pub(crate) fn clear(&mut self) {
        self.live.clear();
        self.batch.clear();
    }
}

impl<S> fmt::Debug for Queue<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("live", &self.live.len())
            .field("batch", &self.batch.len())
            .finish()
    }
}
