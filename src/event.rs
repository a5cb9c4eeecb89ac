//! [`Event`]: one event of a namespace with Chrome's `addListener` / `removeListener` /
//! `hasListener` / `hasListeners`. How listeners are called is described in the docs of
//! [`Event`]; the registries themselves live in the crate-private `listeners` module.

use std::fmt;

use crate::listeners::Listeners;
use crate::reactor::Reactor;

/// Identifies one registered listener; returned by [`Event::add_listener`]. Unique in the
/// process, so an id from one event never names a listener of another.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ListenerId(u64);

/// One event of a namespace, such as `chrome.sockets.tcpServer.onAccept`.
///
/// Borrowed from the reactor by `reactor.tcp_server().on_accept()` and friends. Listeners are
/// `FnMut(&mut Reactor<S>, &mut S, &Info)`: they may call the API, which queues work to run
/// after the listener returns. Events go to every listener; listeners filter on the socket id, as in Chrome.
///
/// Dispatch follows JavaScript's rules: every listener registered when an event starts is
/// called once, in registration order; one added meanwhile first sees the next event; one
/// removed meanwhile is not called any more. A listener that panics is removed, the other
/// listeners still get the event, then the panic unwinds out of the turn.
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
    listeners: &'r mut Listeners<Reactor<S>, S, A>,
}

impl<'r, S, A> Event<'r, S, A> {
    pub(crate) fn new(listeners: &'r mut Listeners<Reactor<S>, S, A>) -> Self {
        Event { listeners }
    }

    /// Registers `listener`; it is called for every later event until removed.
    pub fn add_listener<F>(&mut self, listener: F) -> ListenerId
    where
        F: FnMut(&mut Reactor<S>, &mut S, &A) + 'static,
    {
        ListenerId(self.listeners.add(Box::new(listener)))
    }

    /// Unregisters a listener. Returns whether it was registered.
    pub fn remove_listener(&mut self, id: ListenerId) -> bool {
        self.listeners.remove(id.0)
    }

    /// Whether `id` is registered.
    pub fn has_listener(&self, id: ListenerId) -> bool {
        self.listeners.contains(id.0)
    }

    /// Whether any listener is registered.
    pub fn has_listeners(&self) -> bool {
        self.listeners.len() > 0
    }
}

impl<S, A> fmt::Debug for Event<'_, S, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("listeners", &self.listeners.len())
            .finish()
    }
}
