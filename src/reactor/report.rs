//! What a turn reports, and the flags a turn keeps right even when a callback panics.

/// What one [`Reactor::turn`](crate::Reactor::turn) did.
#[non_exhaustive]
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

/// Whether a turn is running, and whether the last one ended in a panic. A turn sets and
/// clears them around a `catch_unwind` of its body, so they stay right when a callback
/// panics (no guard object, no shared cells on the turn's path).
#[derive(Debug, Default)]
pub(super) struct TurnFlags {
    pub(super) in_turn: bool,
    /// A callback or listener panicked out of the last turn.
    pub(super) panicked: bool,
}
