//! One-shot timers: [`TimerId`] and a binary heap keyed by `(deadline, seq)`.
//!
//! `seq` comes from a counter, so timers with equal deadlines fire in the order they were set,
//! and it doubles as the id. A cleared timer's closure is dropped at once; its heap entry is
//! skipped when it reaches the top (and the heap is rebuilt if such dead entries pile up), so
//! setting, clearing and firing are all O(log n) and a turn never scans the pending timers.
//!
//! A due timer leaves the heap but keeps its closure in the map until its queued task runs
//! ([`Timers::take`]), so a callback that runs earlier in the same turn can still clear it.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::time::Instant;

/// Identifies a timer set with [`Reactor::set_timeout`](crate::Reactor::set_timeout).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct TimerId(u64);

/// The pending timers of a reactor; `T` is the boxed callback.
pub(crate) struct Timers<T> {
    heap: BinaryHeap<Reverse<(Instant, u64)>>,
    callbacks: HashMap<u64, T>,
    next: u64,
}

impl<T> Timers<T> {
    pub(crate) fn new() -> Self {
        Timers {
            heap: BinaryHeap::new(),
            callbacks: HashMap::new(),
            next: 0,
        }
    }

    pub(crate) fn insert(&mut self, deadline: Instant, callback: T) -> TimerId {
        let seq = self.next;
        self.next += 1;
        self.heap.push(Reverse((deadline, seq)));
        self.callbacks.insert(seq, callback);
        TimerId(seq)
    }

    /// Cancels a timer; returns whether it was still pending.
    pub(crate) fn remove(&mut self, id: TimerId) -> bool {
        let removed = self.callbacks.remove(&id.0).is_some();
        if removed && self.heap.len() > 64 && self.heap.len() > 2 * self.callbacks.len() {
            let callbacks = &self.callbacks;
            self.heap
                .retain(|Reverse((_, seq))| callbacks.contains_key(seq));
        }
        removed
    }

    /// The earliest live deadline.
    pub(crate) fn next_deadline(&mut self) -> Option<Instant> {
        while let Some(Reverse((deadline, seq))) = self.heap.peek() {
            if self.callbacks.contains_key(seq) {
                return Some(*deadline);
            }
            self.heap.pop();
        }
        None
    }

    /// Takes the earliest live timer due at `now` off the heap. Its callback stays pending
    /// (clearable) until [`take`](Timers::take) removes it.
    pub(crate) fn pop_due(&mut self, now: Instant) -> Option<TimerId> {
        while let Some(&Reverse((deadline, seq))) = self.heap.peek() {
            if deadline > now {
                return None;
            }
            self.heap.pop();
            if self.callbacks.contains_key(&seq) {
                return Some(TimerId(seq));
            }
        }
        None
    }

    /// Removes and returns the callback of a timer that [`pop_due`](Timers::pop_due) returned,
    /// unless it was cleared meanwhile.
    pub(crate) fn take(&mut self, id: TimerId) -> Option<T> {
        self.callbacks.remove(&id.0)
    }

    pub(crate) fn len(&self) -> usize {
        self.callbacks.len()
    }

    pub(crate) fn clear(&mut self) {
        self.heap.clear();
        self.callbacks.clear();
    }
}

impl<T> fmt::Debug for Timers<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timers")
            .field("pending", &self.callbacks.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn due_timers_pop_in_deadline_then_insertion_order() {
        let now = Instant::now();
        let mut t = Timers::new();
        t.insert(now + Duration::from_millis(5), "late");
        t.insert(now, "first");
        t.insert(now, "second");
        t.insert(now + Duration::from_secs(60), "future");
        let later = now + Duration::from_millis(10);
        let fired: Vec<_> =
            std::iter::from_fn(|| t.pop_due(later).and_then(|id| t.take(id))).collect();
        assert_eq!(fired, vec!["first", "second", "late"]);
        assert_eq!(t.len(), 1);
        assert_eq!(t.next_deadline(), Some(now + Duration::from_secs(60)));
    }

    #[test]
    fn cleared_timers_never_fire_and_do_not_pile_up() {
        let now = Instant::now();
        let mut t = Timers::new();
        let ids: Vec<_> = (0..1000).map(|i| t.insert(now, i)).collect();
        for id in &ids[1..] {
            assert!(t.remove(*id));
        }
        assert!(!t.remove(ids[1]));
        assert!(t.heap.len() < 200, "dead heap entries are compacted");
        let due: Vec<_> = std::iter::from_fn(|| t.pop_due(now)).collect();
        assert_eq!(due, vec![ids[0]]);
        assert_eq!(t.next_deadline(), None);
        assert_eq!(t.take(ids[0]), Some(0));
    }

    #[test]
    fn a_due_timer_can_be_cleared_until_taken() {
        let now = Instant::now();
        let mut t = Timers::new();
        let a = t.insert(now, "a");
        let b = t.insert(now, "b");
        assert_eq!(t.pop_due(now), Some(a));
        assert_eq!(t.pop_due(now), Some(b));
        assert_eq!(t.pop_due(now), None);
        assert_eq!(t.len(), 2, "due timers stay pending until taken");
        assert!(t.remove(b));
        assert_eq!(t.take(a), Some("a"));
        assert_eq!(t.take(b), None, "a cleared due timer never fires");
        assert_eq!(t.len(), 0);
    }
}
