//! [`Event`]: one event of a namespace with Chrome's `addListener` / `removeListener` /
//! `hasListener` / `hasListeners`. How listeners are called is described in the docs of
//! [`Event`]; the registries themselves live in the crate-private `listeners` module.

use std::fmt;

use crate::listeners::{ListenerFn, Listeners};
use crate::reactor::Reactor;

/// Identifies one registered listener; returned by [`Event::add_listener`]. Unique in the
/// process, so an id from one event, or from another reactor, never names a listener here.
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
/// listeners still get the event, then the panic unwinds out of the turn; an application
/// that catches the panic learns which listeners are gone from
/// [`Reactor::take_removed_listeners`] (and may add them again).
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
        ListenerId(self.listeners.add(ListenerFn::Borrow(Box::new(listener))))
    }

    /// **Extension**: registers a listener that gets the event by value, such as an
    /// `on_receive` whose [`ReceiveInfo::data`](crate::tcp::ReceiveInfo::data) it keeps
    /// without copying. It is called in registration order like any listener; when no
    /// listener registered before the event is left to call after it (the usual case: it is
    /// the last or only one), it gets the event itself, otherwise a clone, so the other
    /// listeners always see the event whole. Remove it with
    /// [`remove_listener`](Self::remove_listener).
    ///
    /// ```
    /// # use chrome_sockets::{tcp::SocketProperties, Reactor};
    /// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let port = i32::from(server.local_addr()?.port());
    /// # std::thread::spawn(move || {
    /// #     let (mut peer, _) = server.accept().unwrap();
    /// #     std::io::Write::write_all(&mut peer, b"moved").unwrap();
    /// # });
    /// let mut r: Reactor<Vec<Vec<u8>>> = Reactor::new()?;
    /// r.tcp().on_receive().add_owning_listener(|r, chunks, info| {
    ///     chunks.push(info.data); // the reactor's buffer, moved, not copied
    ///     r.stop();
    /// });
    /// r.tcp().create(SocketProperties::new(), move |r, _, created| {
    ///     let id = created.unwrap().socket_id;
    ///     r.tcp().connect(id, "127.0.0.1", port, |_, _, result| result.unwrap());
    /// });
    /// # r.set_timeout(std::time::Duration::from_secs(10), |r, _| r.stop()); // bounds `run`
    /// let mut chunks = Vec::new();
    /// r.run(&mut chunks)?;
    /// assert_eq!(chunks.concat(), b"moved");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn add_owning_listener<F>(&mut self, listener: F) -> ListenerId
    where
        F: FnMut(&mut Reactor<S>, &mut S, A) + 'static,
    {
        ListenerId(self.listeners.add(ListenerFn::Own(Box::new(listener))))
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

impl<S: 'static> Reactor<S> {
    /// The listeners removed since the last call because they panicked, of every event, in
    /// registration order. A panic in a listener unwinds out of [`turn`](Reactor::turn) and
    /// the listener is gone for good (it may have been half-way through a change); an
    /// application that catches the panic and goes on turning calls this to learn which
    /// listeners it lost, and may register them again.
    ///
    /// ```
    /// # use chrome_sockets::Reactor;
    /// # use std::panic::{catch_unwind, AssertUnwindSafe};
    /// let mut r: Reactor = Reactor::new()?;
    /// let flaky = r.tcp_server().on_accept().add_listener(|_, _, _| panic!("bug"));
    /// # let server = std::net::TcpListener::bind("127.0.0.1:0")?; // an accept, to trigger it
    /// # let port = i32::from(server.local_addr()?.port()); drop(server);
    /// # r.tcp_server().create(Default::default(), move |r, _, c| {
    /// #     let id = c.unwrap().socket_id;
    /// #     r.tcp_server().listen(id, "127.0.0.1", port, None, move |_, _, res| {
    /// #         res.unwrap();
    /// #         std::net::TcpStream::connect(("127.0.0.1", port as u16)).unwrap();
    /// #     });
    /// # });
    /// let mut panicked = false;
    /// for _ in 0..100 {
    ///     let turn = catch_unwind(AssertUnwindSafe(|| r.turn(Some(Default::default()), &mut ())));
    ///     if turn.is_err() {
    ///         panicked = true;
    ///         break;
    ///     }
    ///     # std::thread::sleep(std::time::Duration::from_millis(5));
    /// }
    /// assert!(panicked);
    /// assert_eq!(r.take_removed_listeners(), [flaky]);
    /// assert!(!r.tcp_server().on_accept().has_listener(flaky));
    /// assert!(r.take_removed_listeners().is_empty()); // each id is reported once
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn take_removed_listeners(&mut self) -> Vec<ListenerId> {
        let ids = self.listeners().take_panicked();
        ids.into_iter().map(ListenerId).collect()
    }
}

impl<S, A> fmt::Debug for Event<'_, S, A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Event")
            .field("listeners", &self.listeners.len())
            .finish()
    }
}
