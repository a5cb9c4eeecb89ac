//! Connects to host names through the reactor's resolver pool: answers for connects that
//! were closed, disconnected or timed out while their name was looked up are discarded
//! without touching the socket, and lookups beyond the pool's threads wait their turn.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use crate::util::*;
use chrome_sockets::tcp::SocketProperties;
use chrome_sockets::{LastError, Reactor, ReactorBuilder, TcpSocketId};

/// A recording reactor whose pool has `threads` resolver threads, and its empty state.
fn reactor_with_resolvers(threads: usize) -> (Reactor<Rec>, Rec) {
    let mut r = ReactorBuilder::new()
        .resolver_threads(threads)
        .build()
        .expect("reactor");
    record_events(&mut r);
    (r, Rec::default())
}

/// Creates `n` tcp sockets.
fn create_n(r: &mut Reactor<Rec>, rec: &mut Rec, n: usize) -> Vec<TcpSocketId> {
    (0..n)
        .map(|_| create(r, rec, SocketProperties::new()))
        .collect()
}

/// Results of connect callbacks, in the order they ran.
type Results = Rc<RefCell<Vec<(TcpSocketId, Result<(), LastError>)>>>;

/// Turns until the old lookups are surely answered: `run`-style idleness is not public, so
/// wait for a connect queued behind them on a one-thread pool.
fn drain_lookups(r: &mut Reactor<Rec>, rec: &mut Rec) {
    let id = create(r, rec, SocketProperties::new());
    let res = ask(r, rec, |r, cb| {
        r.tcp().connect(id, "localhost", closed_port(), cb)
    });
    assert_last_error(&res, "net::ERR_CONNECTION_REFUSED", Some(-102));
    ask(r, rec, |r, cb| r.tcp().close(id, cb)).unwrap();
}

/// Once the old lookups are answered ([`drain_lookups`]): the connect callbacks ran `n` times
/// in all, and no connection beyond those already accepted waits on `listener`.
#[track_caller]
fn assert_settled(
    r: &mut Reactor<Rec>,
    rec: &mut Rec,
    results: &Results,
    n: usize,
    listener: &std::net::TcpListener,
) {
    drain_lookups(r, rec);
    assert_eq!(
        results.borrow().len(),
        n,
        "the callbacks did not run exactly once each"
    );
    assert_nothing_to_accept(listener, "an answered lookup made a connection");
}

#[test]
fn answer_for_a_disconnected_lookup_never_reaches_the_connect_that_took_over() {
    let _fds = FdGuard::new();
    let (mut r, mut rec) = reactor_with_resolvers(1);
    let (listener, port) = std_listener_and_port();
    let id = create(&mut r, &mut rec, SocketProperties::new());
    let results: Results = Rc::default();
    let out = results.clone();
    // Looked up, then disconnected in the same breath: the lookup's answer comes later.
    r.tcp().connect(id, "localhost", port, move |_, _, res| {
        out.borrow_mut().push((id, res))
    });
    let disconnected = ask(&mut r, &mut rec, |r, cb| r.tcp().disconnect(id, cb));
    assert_eq!(disconnected, Ok(()));
    assert_last_error(&results.borrow()[0].1, "net::ERR_ABORTED", Some(-3));
    // A new connect of the same socket to an IP literal takes over.
    let res = ask(&mut r, &mut rec, |r, cb| {
        r.tcp().connect(id, "127.0.0.1", port, cb)
    });
    assert_eq!(res, Ok(()));
    let _peer = std_accept(&listener);
    // The first callback ran exactly once.
    assert_settled(&mut r, &mut rec, &results, 1, &listener);
    let i = info(&mut r, &mut rec, id);
    assert!(i.connected, "the old answer left the new connection alone");
    assert_eq!(i.peer_address.as_deref(), Some("127.0.0.1"));
}

#[test]
fn lookups_of_closed_connects_are_answered_at_once_and_never_connect() {
    let _fds = FdGuard::new();
    let (mut r, mut rec) = reactor_with_resolvers(2);
    let (listener, port) = std_listener_and_port();
    let ids = create_n(&mut r, &mut rec, 200);
    let results: Results = Rc::default();
    for &id in &ids {
        let out = results.clone();
        r.tcp().connect(id, "localhost", port, move |_, _, res| {
            out.borrow_mut().push((id, res))
        });
    }
    for &id in &ids {
        r.tcp().close(id, |_, _, res| res.expect("close"));
    }
    turn_until(&mut r, &mut rec, |_| results.borrow().len() == ids.len());
    for (_, res) in results.borrow().iter() {
        assert_last_error(res, "Socket not found", None);
    }
    // Each callback ran exactly once; no closed connect reached the listener.
    assert_settled(&mut r, &mut rec, &results, ids.len(), &listener);
}

#[test]
fn connect_timeout_while_the_name_waits_for_a_resolver_thread_answers_118() {
    let _fds = FdGuard::new();
    let (mut r, mut rec) = reactor_with_resolvers(1);
    let refused = closed_port();
    let (listener, port) = std_listener_and_port();
    let id = create(&mut r, &mut rec, SocketProperties::new());
    // 1,000 lookups ahead of it on the one thread, issued with it before any turn: the
    // timer fires first.
    let ahead = create_n(&mut r, &mut rec, 1000);
    let answered = Rc::new(RefCell::new(0usize));
    for &id in &ahead {
        let n = answered.clone();
        r.tcp().connect(id, "localhost", refused, move |_, _, _| {
            *n.borrow_mut() += 1
        });
    }
    let res = ask(&mut r, &mut rec, |r, cb| {
        r.tcp()
            .connect_timeout(id, "localhost", port, Duration::from_millis(1), cb)
    });
    assert_last_error(&res, "net::ERR_CONNECTION_TIMED_OUT", Some(-118));
    turn_until(&mut r, &mut rec, |_| *answered.borrow() == ahead.len());
    drain_lookups(&mut r, &mut rec);
    assert!(
        !info(&mut r, &mut rec, id).connected,
        "the late answer did not connect it"
    );
    assert_nothing_to_accept(&listener, "the timed-out lookup made no connection");
    // The socket connects again as any other.
    let res = ask(&mut r, &mut rec, |r, cb| {
        r.tcp().connect(id, "localhost", port, cb)
    });
    assert_eq!(res, Ok(()));
}

#[test]
fn dropping_a_reactor_with_lookups_queued_does_not_wait_for_them() {
    let _fds = FdGuard::new();
    let (mut r, mut rec) = reactor_with_resolvers(1);
    let refused = closed_port();
    for id in create_n(&mut r, &mut rec, 1000) {
        r.tcp().connect(id, "localhost", refused, |_, _, _| {});
    }
    // Bounded by one lookup in progress, not 1,000 (the fd guard then sees the pool's
    // thread let go of the reactor's waker).
    drop_within(r, Duration::from_secs(1));
}
