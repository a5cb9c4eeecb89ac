//! Event listener registries: Chrome's `addListener` / `removeListener` / `hasListener` /
//! `hasListeners`, and how an event reaches its listeners.
//!
//! Dispatch rules (those of JavaScript event dispatch):
//! - every listener registered when dispatch starts is called once, in registration order;
//! - a listener added while an event is being dispatched first sees the next event;
//! - a listener removed while an event is being dispatched is not called afterwards, even if
//!   it had not been reached yet;
//! - a listener that panics is removed (its closure may be half-way through a change, so it is
//!   not called again); the other listeners still get the event, then the panic unwinds out
//!   of the turn; the reactor itself stays consistent.

use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering};

use crate::Reactor;

/// Identifies one registered listener; returned by [`Event::add_listener`]. Unique in the
/// process, so an id from one event never names a listener of another.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ListenerId(u64);

/// Issues listener ids for every event of every reactor: a per-event counter would let
/// `on_receive().remove_listener(id_from_on_accept)` remove an unrelated listener.
static NEXT_LISTENER_ID: AtomicU64 = AtomicU64::new(0);

type ListenerFn<S, A> = Box<dyn FnMut(&mut Reactor<S>, &mut S, &A)>;

/// The listeners of one event.
///
/// Invariant: `slots` is sorted by id (ids come from [`NEXT_LISTENER_ID`], which only grows,
/// and are appended); `next` is above every id added so far. A slot's closure is `None` only
/// while it runs (`running` names it) or after it panicked (then `running` still names it
/// until the next dispatch removes the slot).
pub(crate) struct Listeners<S, A> {
    slots: Vec<(u64, Option<ListenerFn<S, A>>)>,
    next: u64,
    running: Option<u64>,
}

impl<S, A> Listeners<S, A> {
    pub(crate) fn new() -> Self {
        Listeners {
            slots: Vec::new(),
            next: 0,
            running: None,
        }
    }

    pub(crate) fn clear(&mut self) {
        self.slots.clear();
        self.running = None;
    }

    fn position(&self, id: u64) -> Option<usize> {
        self.slots.binary_search_by_key(&id, |s| s.0).ok()
    }

    /// Drops the slot of a listener that panicked during the previous dispatch.
    fn remove_panicked(&mut self) {
        if let Some(id) = self.running.take() {
            if let Some(i) = self.position(id) {
                self.slots.remove(i);
            }
        }
    }
}

impl<S, A> fmt::Debug for Listeners<S, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Listeners")
            .field("count", &self.slots.len())
            .finish()
    }
}

/// One event of a namespace, such as `chrome.sockets.tcpServer.onAccept`.
///
/// Borrowed from the reactor by `reactor.tcp_server().on_accept()` and friends. Listeners are
/// `FnMut(&mut Reactor<S>, &mut S, &Info)`: they may call the API, which queues work for a
/// later turn. Events go to every listener; listeners filter on the socket id, as in Chrome.
///
/// ```
/// # use chrome_sockets::Reactor;
/// let mut r: Reactor = Reactor::new()?;
/// let id = r.tcp_server().on_accept().add_listener(|r, _, info| {
///     r.tcp().close(info.client_socket_id, |_, _, _| {});
/// });
/// assert!(r.tcp_server().on_accept().has_listener(id));
/// assert!(r.tcp_server().on_accept().remove_listener(id));
/// assert!(!r.tcp_server().on_accept().has_listeners());
/// # Ok::<(), std::io::Error>(())
/// ```
#[must_use]
pub struct Event<'r, S, A> {
    listeners: &'r mut Listeners<S, A>,
}

impl<'r, S, A> Event<'r, S, A> {
    pub(crate) fn new(listeners: &'r mut Listeners<S, A>) -> Self {
        Event { listeners }
    }

    /// Registers `listener`; it is called for every later event until removed.
    pub fn add_listener<F>(&mut self, listener: F) -> ListenerId
    where
        F: FnMut(&mut Reactor<S>, &mut S, &A) + 'static,
    {
        let id = NEXT_LISTENER_ID.fetch_add(1, Ordering::Relaxed);
        self.listeners.next = id + 1;
        self.listeners.slots.push((id, Some(Box::new(listener))));
        ListenerId(id)
    }

    /// Unregisters a listener. Returns whether it was registered.
    pub fn remove_listener(&mut self, id: ListenerId) -> bool {
        match self.listeners.position(id.0) {
            Some(i) => {
                self.listeners.slots.remove(i);
                true
            }
            None => false,
        }
    }

    /// Whether `id` is registered.
    pub fn has_listener(&self, id: ListenerId) -> bool {
        self.listeners.position(id.0).is_some()
    }

    /// Whether any listener is registered.
    pub fn has_listeners(&self) -> bool {
        !self.listeners.slots.is_empty()
    }
}

impl<S, A> fmt::Debug for Event<'_, S, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("listeners", &self.listeners.slots.len())
            .finish()
    }
}

/// Calls every listener of the registry `select` picks out of the reactor with `arg`.
///
/// Each closure is taken out of its slot while it runs, so it can get `&mut Reactor`; it is
/// put back only if its slot still exists afterwards. No allocation: the walk is by id with a
/// cursor, bounded by the id counter at the start (so listeners added meanwhile wait).
pub(crate) fn dispatch<S, A>(
    r: &mut Reactor<S>,
    state: &mut S,
    select: fn(&mut Reactor<S>) -> &mut Listeners<S, A>,
    arg: &A,
) {
    let registry = select(r);
    registry.remove_panicked();
    let end = registry.next;
    let mut cursor = 0;
    let mut panicked = None;
    loop {
        let registry = select(r);
        let i = registry.slots.partition_point(|s| s.0 < cursor);
        let Some((id, slot)) = registry.slots.get_mut(i) else {
            break;
        };
        let id = *id;
        if id >= end {
            break;
        }
        cursor = id + 1;
        let Some(mut listener) = slot.take() else {
            continue;
        };
        registry.running = Some(id);
        let outcome = panic::catch_unwind(AssertUnwindSafe(|| listener(r, state, arg)));
        let registry = select(r);
        registry.running = None;
        match outcome {
            Ok(()) => {
                if let Some(i) = registry.position(id) {
                    registry.slots[i].1 = Some(listener);
                }
            }
            Err(payload) => {
                // Removed at once; the other listeners still get this event (as a throwing
                // JavaScript listener does not keep the others from theirs), then the first
                // panic goes on unwinding out of the turn.
                if let Some(i) = registry.position(id) {
                    registry.slots.remove(i);
                }
                panicked.get_or_insert(payload);
            }
        }
    }
    if let Some(payload) = panicked {
        panic::resume_unwind(payload);
    }
}
