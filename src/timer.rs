//! One-shot timers: [`TimerId`] and a binary heap keyed by `(deadline, seq)`.
//!
//! `seq` comes from one process-wide counter ([`NEXT_TIMER_SEQ`], a `u64`: at a billion
//! timers a second it lasts 584 years), so timers with equal deadlines fire in the order they
//! were set, and no two timers of any reactors in the process share a `seq`. Callbacks live
//! in a slab; a [`TimerId`] is `seq` plus the slab key, and a slot is the timer's only while
//! it holds the same `seq` (keys are reused, `seq`s never), so finding a timer hashes nothing,
//! and another reactor's id never matches a slot here: `clear_timeout` with it does nothing. A cleared timer's closure is dropped at once; its heap entry is
//! skipped when it reaches the top (and the heap is rebuilt if such dead entries pile up), so
//! setting, clearing and firing are all O(log n) and a turn never scans the pending timers.
//!
//! The heap's top is always live (dead entries are popped off the top whenever a clear or a
//! pop exposes them), so [`Timers::next_deadline`], which every turn with a pending timer
//! asks, is a peek.
//!
//! A due timer leaves the heap but keeps its closure in the slab until its queued task runs
//! ([`Timers::take`]), so a callback that runs earlier in the same turn can still clear it.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::ops::Add;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use slab::Slab;

use crate::sys;

/// A reading of the monotonic clock (`CLOCK_MONOTONIC`, the clock of std's `Instant`) in
/// nanoseconds: one vDSO call to read, and integer compares and subtractions after that,
/// which matters because every turn with a timer pending reads the clock.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Debug)]
pub(crate) struct Moment(u64);

impl Moment {
    #[inline]
    pub(crate) fn now() -> Moment {
        Moment(sys::monotonic_nanos())
    }

    /// How long from `self` to `later` (zero if `later` is not later).
    #[inline]
    pub(crate) fn until(self, later: Moment) -> Duration {
        Duration::from_nanos(later.0.saturating_sub(self.0))
    }
}

/// `delay` after the moment, saturating (2^64 ns is 584 years: later than any timer anyone
/// waits for).
impl Add<Duration> for Moment {
    type Output = Moment;

    #[inline]
    fn add(self, delay: Duration) -> Moment {
        let nanos = u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX);
        Moment(self.0.saturating_add(nanos))
    }
}

/// The `seq` of the next timer set by any reactor of the process.
static NEXT_TIMER_SEQ: AtomicU64 = AtomicU64::new(0);

/// Identifies a timer set with [`Reactor::set_timeout`](crate::Reactor::set_timeout).
///
/// Ids order as the timers were set (a later `set_timeout` has a greater id) and are unique in
/// the process: another reactor's [`clear_timeout`](crate::Reactor::clear_timeout) with this id
/// finds nothing and returns `false`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TimerId {
    /// Unique per process, in the order set (compared first).
    seq: u64,
    /// Where the callback sits in the slab.
    key: usize,
}

impl fmt::Debug for TimerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("TimerId").field(&self.seq).finish()
    }
}

/// A pending timer's callback and the `seq` that owns its slot.
struct Slot<T> {
    seq: u64,
    callback: T,
}

/// The pending timers of a reactor; `T` is the boxed callback.
pub(crate) struct Timers<T> {
    /// `(deadline, seq, key)` of every timer not yet due, plus dead entries of cleared ones
    /// (never at the top).
    heap: BinaryHeap<Reverse<(Moment, u64, usize)>>,
    /// The callbacks of pending timers, due ones included until taken.
    slots: Slab<Slot<T>>,
}

impl<T> Timers<T> {
    pub(crate) fn new() -> Self {
        Timers {
            heap: BinaryHeap::new(),
            slots: Slab::new(),
        }
    }

    pub(crate) fn insert(&mut self, deadline: Moment, callback: T) -> TimerId {
        let seq = NEXT_TIMER_SEQ.fetch_add(1, Ordering::Relaxed);
        let key = self.slots.insert(Slot { seq, callback });
        self.heap.push(Reverse((deadline, seq, key)));
        TimerId { seq, key }
    }

    /// Whether the timer `seq` still has its callback at `key`.
    fn is_live(&self, seq: u64, key: usize) -> bool {
        self.slots.get(key).is_some_and(|slot| slot.seq == seq)
    }

    /// Pops dead entries off the top of the heap, so the top is live (or the heap empty).
    fn prune_top(&mut self) {
        while let Some(&Reverse((_, seq, key))) = self.heap.peek() {
            if self.is_live(seq, key) {
                return;
            }
            self.heap.pop();
        }
    }

    /// Cancels a timer; returns whether it was still pending.
    pub(crate) fn remove(&mut self, id: TimerId) -> bool {
        if !self.is_live(id.seq, id.key) {
            return false;
        }
        self.slots.remove(id.key);
        if self.heap.len() > 64 && self.heap.len() > 2 * self.slots.len() {
            let slots = &self.slots;
            self.heap
                .retain(|&Reverse((_, seq, key))| slots.get(key).is_some_and(|s| s.seq == seq));
        } else {
            self.prune_top();
        }
        true
    }

    /// The earliest live deadline: the top of the heap, which is always live.
    pub(crate) fn next_deadline(&self) -> Option<Moment> {
        self.heap.peek().map(|&Reverse((deadline, _, _))| deadline)
    }

    /// Takes the earliest live timer due at `now` off the heap. Its callback stays pending
    /// (clearable) until [`take`](Timers::take) removes it.
    pub(crate) fn pop_due(&mut self, now: Moment) -> Option<TimerId> {
        let &Reverse((deadline, seq, key)) = self.heap.peek()?;
        if deadline > now {
            return None;
        }
        self.heap.pop();
        self.prune_top();
        Some(TimerId { seq, key })
    }

    /// Removes and returns the callback of a timer that [`pop_due`](Timers::pop_due) returned,
    /// unless it was cleared meanwhile.
    pub(crate) fn take(&mut self, id: TimerId) -> Option<T> {
        if !self.is_live(id.seq, id.key) {
            return None;
        }
        Some(self.slots.remove(id.key).callback)
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    pub(crate) fn clear(&mut self) {
        self.heap.clear();
        self.slots.clear();
    }
}

impl<T> fmt::Debug for Timers<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Timers")
            .field("pending", &self.slots.len())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_timers_pop_in_deadline_then_insertion_order() {
        let now = Moment::now();
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
        let now = Moment::now();
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
        let now = Moment::now();
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

    #[test]
    fn a_stale_id_never_reaches_a_reused_slot() {
        let now = Moment::now();
        let mut t = Timers::new();
        let a = t.insert(now, "a");
        assert!(t.remove(a));
        let b = t.insert(now, "b");
        assert_eq!(a.key, b.key, "the slot is reused");
        assert!(a < b, "ids order as set");
        assert!(!t.remove(a), "a cleared id stays cleared");
        assert_eq!(t.take(a), None);
        assert_eq!(t.len(), 1);
        assert_eq!(t.pop_due(now), Some(b));
        assert_eq!(t.take(b), Some("b"));
    }

    #[test]
    fn the_earliest_deadline_skips_cleared_timers_at_once() {
        let now = Moment::now();
        let ms = Duration::from_millis;
        let mut t = Timers::new();
        let first = t.insert(now + ms(1), 1);
        let second = t.insert(now + ms(2), 2);
        t.insert(now + ms(3), 3);
        assert_eq!(t.next_deadline(), Some(now + ms(1)));
        assert!(t.remove(second));
        assert_eq!(
            t.next_deadline(),
            Some(now + ms(1)),
            "a cleared inner timer"
        );
        assert!(t.remove(first));
        assert_eq!(t.next_deadline(), Some(now + ms(3)), "cleared top timers");
        assert_eq!(
            t.heap.len(),
            1,
            "dead entries at the top are popped at once"
        );
        assert_eq!(t.pop_due(now + ms(2)), None);
        assert_eq!(t.pop_due(now + ms(3)).and_then(|id| t.take(id)), Some(3));
        assert_eq!(t.next_deadline(), None);
    }
}
