//! The listener registries behind every event, and how an event reaches its listeners.
//!
//! Dispatch rules (those of JavaScript event dispatch):
//! - every listener registered when dispatch starts is called once, in registration order;
//! - a listener added while an event is being dispatched first sees the next event;
//! - a listener removed while an event is being dispatched is not called afterwards, even if
//!   it had not been reached yet;
//! - a listener that panics is removed (its closure may be half-way through a change, so it is
//!   not called again) and its id is kept for `Reactor::take_removed_listeners`; the other
//!   listeners still get the event, then the panic unwinds out of the turn; the reactor
//!   itself stays consistent;
//! - an owning listener gets the event by value: moved to it when no listener is left to call
//!   after it, a clone otherwise (so the other listeners see the event unchanged).
//!
//! `R` is the reactor type a listener gets as its first argument; it is a parameter so that
//! this module needs nothing from the reactor. Only the turn's dispatcher calls [`dispatch`].

use std::any::Any;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread;

use crate::info::{AcceptErrorInfo, AcceptInfo, ReceiveErrorInfo, ReceiveInfo};

/// Issues listener ids for every event of every reactor: a per-event counter would let
/// `on_receive().remove_listener(id_from_on_accept)` remove an unrelated listener.
static NEXT_LISTENER_ID: AtomicU64 = AtomicU64::new(0);

type BorrowFn<R, S, A> = Box<dyn FnMut(&mut R, &mut S, &A)>;
type OwnFn<R, S, A> = Box<dyn FnMut(&mut R, &mut S, A)>;

/// A listener: borrowing (`addListener`) or owning (gets the event by value).
pub(crate) enum ListenerFn<R, S, A> {
    Borrow(BorrowFn<R, S, A>),
    Own(OwnFn<R, S, A>),
}

/// A listener's id and closure (`None` while it runs).
type Slot<R, S, A> = (u64, Option<ListenerFn<R, S, A>>);

/// The listeners of one event.
///
/// Invariant: `slots` is sorted by id (ids come from [`NEXT_LISTENER_ID`], which only grows,
/// and are appended); `next` is above every id added so far. A slot's closure is `None` only
/// while it runs (`running` names it) or after it panicked (then `running` still names it
/// until the next dispatch removes the slot).
pub(crate) struct Listeners<R, S, A> {
    slots: Vec<Slot<R, S, A>>,
    next: u64,
    running: Option<u64>,
    /// Listeners removed because they panicked, not yet taken by the application.
    panicked: Vec<u64>,
}

impl<R, S, A> Listeners<R, S, A> {
    pub(crate) fn new() -> Self {
        Listeners {
            slots: Vec::new(),
            next: 0,
            running: None,
            panicked: Vec::new(),
        }
    }

    /// Registers `listener` under a fresh, process-unique id.
    pub(crate) fn add(&mut self, listener: ListenerFn<R, S, A>) -> u64 {
        let id = NEXT_LISTENER_ID.fetch_add(1, Ordering::Relaxed);
        self.next = id + 1;
        self.slots.push((id, Some(listener)));
        id
    }

    /// Unregisters a listener; returns whether it was registered.
    pub(crate) fn remove(&mut self, id: u64) -> bool {
        match self.position(id) {
            Some(i) => {
                self.slots.remove(i);
                true
            }
            None => false,
        }
    }

    pub(crate) fn contains(&self, id: u64) -> bool {
        self.position(id).is_some()
    }

    pub(crate) fn len(&self) -> usize {
        self.slots.len()
    }

    pub(crate) fn clear(&mut self) {
        self.slots.clear();
        self.running = None;
    }

    /// The index of the first slot whose id is above `id`.
    fn after(&self, id: u64) -> usize {
        self.slots.partition_point(|s| s.0 <= id)
    }

    fn position(&self, id: u64) -> Option<usize> {
        self.slots.binary_search_by_key(&id, |s| s.0).ok()
    }

    /// The listener `id`, taken from slot `guess`, returned `outcome`; returns the index of the
    /// slot after its own, where the walk goes on.
    ///
    /// Returned normally: its closure goes back into its slot, expected at `guess` unless
    /// listeners were added or removed meanwhile, nowhere if it was removed. Panicked: removed
    /// at once (its closure may be half-way through a change) and kept for
    /// `take_removed_listeners`; the first panic of a dispatch is kept in `first_panic`, to go
    /// on unwinding once the other listeners had the event (as a throwing JavaScript listener
    /// does not keep the others from theirs).
    #[inline(always)]
    fn settle(
        &mut self,
        guess: usize,
        id: u64,
        listener: ListenerFn<R, S, A>,
        outcome: thread::Result<()>,
        first_panic: &mut Option<Box<dyn Any + Send>>,
    ) -> usize {
        self.running = None;
        if let Err(payload) = outcome {
            self.remove(id);
            self.panicked.push(id);
            first_panic.get_or_insert(payload);
            return self.after(id);
        }
        let at = match self.slots.get(guess) {
            Some(s) if s.0 == id => guess,
            _ => match self.position(id) {
                Some(at) => at,
                None => return self.after(id),
            },
        };
        self.slots[at].1 = Some(listener);
        at + 1
    }

    /// Drops the slot of a listener that panicked during the previous dispatch.
    fn remove_panicked(&mut self) {
        if let Some(id) = self.running.take() {
            self.remove(id);
        }
    }
}

impl<R, S, A> fmt::Debug for Listeners<R, S, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listeners")
            .field("count", &self.slots.len())
            .finish()
    }
}

/// The listener registries of the four events, one per event.
pub(crate) struct EventListeners<R, S> {
    pub(crate) on_accept: Listeners<R, S, AcceptInfo>,
    pub(crate) on_accept_error: Listeners<R, S, AcceptErrorInfo>,
    pub(crate) on_receive: Listeners<R, S, ReceiveInfo>,
    pub(crate) on_receive_error: Listeners<R, S, ReceiveErrorInfo>,
}

impl<R, S> EventListeners<R, S> {
    pub(crate) fn new() -> Self {
        EventListeners {
            on_accept: Listeners::new(),
            on_accept_error: Listeners::new(),
            on_receive: Listeners::new(),
            on_receive_error: Listeners::new(),
        }
    }

    pub(crate) fn clear(&mut self) {
        self.on_accept.clear();
        self.on_accept_error.clear();
        self.on_receive.clear();
        self.on_receive_error.clear();
    }

    /// The ids of the listeners removed because they panicked, of all four events, in the
    /// order they were registered; each id is returned once.
    pub(crate) fn take_panicked(&mut self) -> Vec<u64> {
        let mut ids = std::mem::take(&mut self.on_accept.panicked);
        ids.append(&mut self.on_accept_error.panicked);
        ids.append(&mut self.on_receive.panicked);
        ids.append(&mut self.on_receive_error.panicked);
        ids.sort_unstable();
        ids
    }
}

/// Calls every listener of the registry `select` picks out of `r` with `arg` (an owning
/// listener gets it by value: the last one to be called gets `arg` itself, others a clone).
///
/// Each closure is taken out of its slot while it runs, so it can get `&mut R`; it is put back
/// only if its slot still exists afterwards. No allocation: the walk goes by slot index and
/// stops at the first id at or above the id counter at the start (so listeners added meanwhile
/// wait). After each listener the walk finds its slot again where it was (one comparison when
/// listeners do not add or remove listeners, the usual case; a binary search otherwise) and
/// goes on at the next one. Slots are sorted by id, so whether a listener is the last to be
/// called is one look at the next slot. With one listener this walk costs what the
/// single-listener copy it replaced did, within a few instructions (`docs/performance.md`,
/// "Instructions per connection").
pub(crate) fn dispatch<R, S, A>(
    r: &mut R,
    state: &mut S,
    select: impl Fn(&mut R) -> &mut Listeners<R, S, A>,
    arg: A,
) where
    A: Clone,
{
    let registry = select(r);
    registry.remove_panicked();
    let end = registry.next;
    let mut i = 0;
    let mut panicked = None;
    // Every listener but the last is called with a borrow of `arg` here; the walk stops at the
    // last one, which is called below with `arg` itself.
    let last = loop {
        let registry = select(r);
        let Some((id, slot)) = registry.slots.get_mut(i) else {
            break None;
        };
        let id = *id;
        if id >= end {
            break None;
        }
        let Some(mut listener) = slot.take() else {
            i += 1;
            continue;
        };
        registry.running = Some(id);
        if registry.slots.get(i + 1).map_or(true, |s| s.0 >= end) {
            break Some((i, id, listener));
        }
        let outcome = call(&mut listener, r, state, Event::Shared(&arg));
        i = select(r).settle(i, id, listener, outcome, &mut panicked);
    };
    if let Some((i, id, mut listener)) = last {
        let outcome = call(&mut listener, r, state, Event::Owned(arg));
        select(r).settle(i, id, listener, outcome, &mut panicked);
    }
    if let Some(payload) = panicked {
        panic::resume_unwind(payload);
    }
}

/// The event as one listener gets it: `arg` itself for the last listener of a dispatch, a
/// borrow of it for the others.
enum Event<'a, A> {
    Owned(A),
    Shared(&'a A),
}

/// Calls one listener, catching a panic; an owning listener given a borrow gets a clone.
#[inline(always)]
fn call<R, S, A: Clone>(
    listener: &mut ListenerFn<R, S, A>,
    r: &mut R,
    state: &mut S,
    event: Event<'_, A>,
) -> thread::Result<()> {
    panic::catch_unwind(AssertUnwindSafe(|| match (listener, event) {
        (ListenerFn::Borrow(f), Event::Owned(arg)) => f(r, state, &arg),
        (ListenerFn::Borrow(f), Event::Shared(arg)) => f(r, state, arg),
        (ListenerFn::Own(f), Event::Owned(arg)) => f(r, state, arg),
        (ListenerFn::Own(f), Event::Shared(arg)) => f(r, state, arg.clone()),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    /// Which listener ran on which event: `(listener, event)`.
    type Log = Vec<(u32, u32)>;

    /// A stand-in reactor: one registry, and the ids of its listeners in the order added.
    struct R {
        on: Listeners<R, Log, u32>,
        ids: Vec<u64>,
    }

    impl R {
        fn add(&mut self, listener: ListenerFn<R, Log, u32>) {
            let id = self.on.add(listener);
            self.ids.push(id);
        }
    }

    /// `n` borrowing listeners; listener `i` logs `(i, event)`, then does `then(r, i, event)`.
    fn logging(n: u32, then: impl Fn(&mut R, u32, u32) + Clone + 'static) -> R {
        let mut r = R {
            on: Listeners::new(),
            ids: Vec::new(),
        };
        for i in 0..n {
            let then = then.clone();
            r.add(ListenerFn::Borrow(Box::new(move |r, log, e| {
                log.push((i, *e));
                then(r, i, *e);
            })));
        }
        r
    }

    /// A borrowing listener that logs `(tag, event)`.
    fn logs_as(tag: u32) -> ListenerFn<R, Log, u32> {
        ListenerFn::Borrow(Box::new(move |_, log, e| log.push((tag, *e))))
    }

    fn fire(r: &mut R, log: &mut Log, event: u32) {
        dispatch(r, log, |r| &mut r.on, event);
    }

    #[test]
    fn the_walk_finds_its_place_after_adds_and_removes_during_dispatch() {
        // Listener 1 removes listener 0 (already run) and 2 (not reached), and adds one.
        let mut r = logging(4, |r, i, e| {
            if i == 1 && e == 0 {
                let (a, b) = (r.ids[0], r.ids[2]);
                assert!(r.on.remove(a) && r.on.remove(b));
                r.add(logs_as(9));
            }
        });
        let mut log = Vec::new();
        fire(&mut r, &mut log, 0);
        assert_eq!(log, [(0, 0), (1, 0), (3, 0)]);
        log.clear();
        fire(&mut r, &mut log, 1);
        assert_eq!(log, [(1, 1), (3, 1), (9, 1)]);
        assert_eq!(r.on.len(), 3);
    }

    #[test]
    fn a_listener_removing_itself_is_not_put_back_and_the_rest_still_run() {
        let mut r = logging(3, |r, i, _| {
            if i == 0 {
                let me = r.ids[0];
                r.on.remove(me);
            }
        });
        let mut log = Vec::new();
        fire(&mut r, &mut log, 0);
        fire(&mut r, &mut log, 1);
        assert_eq!(log, [(0, 0), (1, 0), (2, 0), (1, 1), (2, 1)]);
    }

    #[test]
    fn a_panicking_listener_is_removed_after_the_others_ran() {
        let mut r = logging(3, |_, i, _| assert!(i != 1, "listener 1 panics"));
        let mut log = Vec::new();
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| fire(&mut r, &mut log, 0)));
        assert!(outcome.is_err());
        fire(&mut r, &mut log, 1);
        assert_eq!(log, [(0, 0), (1, 0), (2, 0), (0, 1), (2, 1)]);
        assert_eq!(r.on.panicked, [r.ids[1]]);
    }

    // One listener: the walk keeps the same rules (a single-listener copy of the walk used to
    // serve this case).

    #[test]
    fn an_only_listener_that_replaces_itself_is_not_put_back_and_its_successor_waits() {
        let mut r = logging(1, |r, _, _| {
            let me = r.ids[0];
            assert!(r.on.remove(me));
            r.add(logs_as(1));
        });
        let mut log = Vec::new();
        fire(&mut r, &mut log, 0);
        assert_eq!(log, [(0, 0)], "a listener added during dispatch waits");
        fire(&mut r, &mut log, 1);
        assert_eq!(log, [(0, 0), (1, 1)]);
        assert_eq!(r.on.len(), 1);
        assert!(!r.on.contains(r.ids[0]) && r.on.contains(r.ids[1]));
    }

    #[test]
    fn an_only_listener_that_adds_one_is_put_back_first() {
        let mut r = logging(1, |r, i, e| {
            if i == 0 && e == 0 {
                r.add(logs_as(1));
            }
        });
        let mut log = Vec::new();
        fire(&mut r, &mut log, 0);
        fire(&mut r, &mut log, 1);
        assert_eq!(log, [(0, 0), (0, 1), (1, 1)]);
    }

    #[test]
    fn an_only_listener_that_panics_is_removed_and_reported() {
        let mut r = logging(1, |_, _, _| panic!("the only listener panics"));
        let mut log = Vec::new();
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| fire(&mut r, &mut log, 0)));
        assert!(outcome.is_err(), "the panic goes on after dispatch");
        fire(&mut r, &mut log, 1);
        assert_eq!(log, [(0, 0)], "not called again");
        assert_eq!(r.on.len(), 0);
        assert_eq!(r.on.panicked, [r.ids[0]]);
    }

    /// An event that counts its clones.
    struct Counted(Rc<Cell<u32>>);

    impl Clone for Counted {
        fn clone(&self) -> Self {
            self.0.set(self.0.get() + 1);
            Counted(Rc::clone(&self.0))
        }
    }

    /// A stand-in reactor whose event counts its clones; the log names who was called.
    struct Owning {
        on: Listeners<Owning, Vec<char>, Counted>,
    }

    /// One listener per letter of `kinds`, each logging its letter: `o` owning, `b` borrowing,
    /// `a` borrowing and adding a borrowing listener `n`.
    fn owning(kinds: &str) -> Owning {
        let mut o = Owning {
            on: Listeners::new(),
        };
        for kind in kinds.chars() {
            o.on.add(match kind {
                'o' => ListenerFn::Own(Box::new(|_, log, _| log.push('o'))),
                'b' => ListenerFn::Borrow(Box::new(|_, log, _| log.push('b'))),
                _ => ListenerFn::Borrow(Box::new(|o, log, _| {
                    log.push('a');
                    o.on.add(ListenerFn::Borrow(Box::new(|_, log, _| log.push('n'))));
                })),
            });
        }
        o
    }

    /// Dispatches one event; returns who was called and how many clones of the event were made.
    fn clones(o: &mut Owning) -> (Vec<char>, u32) {
        let count = Rc::new(Cell::new(0));
        let mut log = Vec::new();
        dispatch(o, &mut log, |o| &mut o.on, Counted(Rc::clone(&count)));
        (log, count.get())
    }

    #[test]
    fn an_only_owning_listener_gets_the_event_itself() {
        let mut o = owning("o");
        assert_eq!(clones(&mut o), (vec!['o'], 0));
        assert_eq!(clones(&mut o), (vec!['o'], 0));
    }

    #[test]
    fn an_owning_listener_gets_a_clone_unless_no_listener_is_left_to_call_after_it() {
        assert_eq!(clones(&mut owning("ob")), (vec!['o', 'b'], 1));
        assert_eq!(clones(&mut owning("bo")), (vec!['b', 'o'], 0));
        assert_eq!(clones(&mut owning("oo")), (vec!['o', 'o'], 1));
        assert_eq!(clones(&mut owning("obo")), (vec!['o', 'b', 'o'], 1));
        // A listener added during the dispatch waits, so it does not count as left to call.
        let mut o = owning("ao");
        assert_eq!(clones(&mut o), (vec!['a', 'o'], 0));
        assert_eq!(clones(&mut o), (vec!['a', 'o', 'n'], 1));
    }
}
