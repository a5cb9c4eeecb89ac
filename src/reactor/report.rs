//! What a turn reports, and the flags a turn keeps right even when a callback panics.

use std::cell::Cell;
use std::rc::Rc;

/// What one [`Reactor::turn`](crate::Reactor::turn) did.
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
pub(super) struct TurnFlags {
    in_turn: Rc<Cell<bool>>,
    /// A callback or listener panicked out of the last turn.
    panicked: Rc<Cell<bool>>,
}

impl TurnFlags {
    pub(super) fn new() -> Self {
        TurnFlags {
            in_turn: Rc::new(Cell::new(false)),
            panicked: Rc::new(Cell::new(false)),
        }
    }

    /// Marks a turn as running until the guard drops; `None` if one already is (a callback
    /// called `turn` on its own reactor).
    pub(super) fn enter(&self) -> Option<TurnGuard> {
        if self.in_turn.replace(true) {
            return None;
        }
        Some(TurnGuard {
            in_turn: self.in_turn.clone(),
            panicked: self.panicked.clone(),
        })
    }

    /// Whether the last turn ended in a panic (and forgets it).
    pub(super) fn take_panicked(&self) -> bool {
        self.panicked.replace(false)
    }
}

/// Held for the length of a turn.
pub(super) struct TurnGuard {
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
