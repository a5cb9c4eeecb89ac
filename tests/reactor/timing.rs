//! Ensures design §2 callback timing: callbacks never run inside the call, run in queue order,
//! exactly once; a turn runs queued work (including work queued by its own callbacks, after
//! everything queued before it) until the queue is empty or its budget is spent, and a chain
//! of callbacks lets I/O in after one budget; event ordering (reference §2.3) and the
//! event-listener dispatch rules.
use crate::util::*;

use std::cell::Cell;
use std::io;
use std::net::{SocketAddr, TcpListener};
use std::rc::Rc;
use std::time::Duration;

use chrome_sockets::tcp_server::SocketProperties;
use chrome_sockets::{
    tcp, ListenerId, Reactor, ReactorBuilder, ReentrantTurn, ServerSocketId, TcpSocketId,
    DEFAULT_TURN_BUDGET,
};

#[derive(Default)]
struct App {
    log: Vec<String>,
    /// The number of the turn in progress (the test bumps it before each turn).
    turn: usize,
    /// Links of a callback chain run so far.
    chain: usize,
}

/// One turn that never blocks long, numbered in `app.turn`.
fn numbered_turn(r: &mut Reactor<App>, app: &mut App) -> chrome_sockets::TurnReport {
    app.turn += 1;
    r.turn(Some(Duration::from_millis(10)), app).expect("turn")
}

/// A port nothing listens on right now.
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn create_server(r: &mut Reactor<App>, app: &mut App) -> ServerSocketId {
    let out = slot();
    r.tcp_server()
        .create(SocketProperties::default(), put(&out));
    wait(r, app, &out).unwrap().socket_id
}

/// A callback that counts its runs.
fn bump<T>(ran: &Rc<Cell<i32>>) -> impl FnOnce(&mut Reactor<App>, &mut App, T) + 'static {
    let ran = ran.clone();
    move |_, _, _| ran.set(ran.get() + 1)
}

/// A callback that logs `tag`.
fn log<T>(tag: &'static str) -> impl FnOnce(&mut Reactor<App>, &mut App, T) + 'static {
    move |_, app, _| app.log.push(tag.into())
}

#[test]
fn callbacks_never_run_inside_the_call() {
    let mut r: Reactor<App> = Reactor::new().unwrap();
    let mut app = App::default();
    let ran = Rc::new(Cell::new(0));
    // Successes and failures alike are queued, never called inline.
    r.tcp_server()
        .create(SocketProperties::default(), bump(&ran));
    assert_eq!(ran.get(), 0);
    r.tcp_server()
        .get_info(ServerSocketId::from_raw(99), bump(&ran));
    assert_eq!(ran.get(), 0);
    r.tcp_server().listen(
        ServerSocketId::from_raw(1),
        "localhost",
        0,
        None,
        bump(&ran),
    );
    assert_eq!(ran.get(), 0);
    r.tcp_server().get_sockets(bump(&ran));
    assert_eq!(ran.get(), 0);
    r.tcp().create(tcp::SocketProperties::default(), bump(&ran));
    assert_eq!(ran.get(), 0);
    r.tcp()
        .send(TcpSocketId::from_raw(7), b"x".to_vec(), bump(&ran));
    assert_eq!(ran.get(), 0);
    let report = numbered_turn(&mut r, &mut app);
    assert_eq!(ran.get(), 6);
    assert_eq!(report.tasks, 6);
}

#[test]
fn callbacks_run_in_fifo_order_across_calls_and_namespaces_exactly_once() {
    let mut r: Reactor<App> = Reactor::new().unwrap();
    let mut app = App::default();
    r.tcp_server()
        .create(SocketProperties::default(), log("server.create"));
    r.tcp()
        .create(tcp::SocketProperties::default(), log("tcp.create"));
    r.tcp_server()
        .get_info(ServerSocketId::from_raw(1), log("server.get_info"));
    r.tcp()
        .get_info(TcpSocketId::from_raw(1), log("tcp.get_info"));
    r.tcp_server()
        .set_paused(ServerSocketId::from_raw(1), true, log("server.set_paused"));
    r.tcp().get_sockets(log("tcp.get_sockets"));
    r.tcp_server()
        .close(ServerSocketId::from_raw(1), log("server.close"));
    r.tcp_server().get_sockets(log("server.get_sockets"));
    for _ in 0..5 {
        numbered_turn(&mut r, &mut app);
    }
    assert_eq!(
        app.log,
        [
            "server.create",
            "tcp.create",
            "server.get_info",
            "tcp.get_info",
            "server.set_paused",
            "tcp.get_sockets",
            "server.close",
            "server.get_sockets"
        ]
    );
}

#[test]
fn callbacks_calling_the_api_get_their_callbacks_later_in_the_same_turn() {
    let mut r: Reactor<App> = Reactor::new().unwrap();
    let mut app = App::default();
    r.tcp_server()
        .create(SocketProperties::default(), |r, app, created| {
            app.log.push(format!("create@{}", app.turn));
            let id = created.unwrap().socket_id;
            r.tcp_server().get_info(id, |r, app, _| {
                app.log.push(format!("get_info@{}", app.turn));
                r.tcp_server().get_sockets(|_, app, _| {
                    app.log.push(format!("get_sockets@{}", app.turn));
                });
            });
        });
    r.tcp().get_sockets(|_, app, _| {
        app.log.push(format!("queued_before@{}", app.turn));
    });
    let reports: Vec<_> = (0..3)
        .map(|_| numbered_turn(&mut r, &mut app).tasks)
        .collect();
    // Never inside the call, but in the same turn, after everything queued before it.
    assert_eq!(
        app.log,
        ["create@1", "queued_before@1", "get_info@1", "get_sockets@1"]
    );
    assert_eq!(reports, [4, 0, 0]);
}

/// Queues a chain of `left` callbacks, each queuing the next from inside its own run.
fn chain(r: &mut Reactor<App>, left: usize) {
    r.tcp_server().get_sockets(move |r, app, _| {
        app.chain += 1;
        if left > 1 {
            chain(r, left - 1);
        }
    });
}

#[test]
fn a_chain_longer_than_the_budget_lets_io_in_after_one_budget() {
    let mut r: Reactor<App> = Reactor::new().unwrap();
    let mut app = App::default();
    r.tcp_server().on_accept().add_listener(|_, app, _| {
        app.log
            .push(format!("accept@{} after {}", app.turn, app.chain));
    });
    let (_, addr) = listen_on_loopback(&mut r, &mut app);
    chain(&mut r, 200);
    let first = numbered_turn(&mut r, &mut app);
    assert_eq!(first.tasks, DEFAULT_TURN_BUDGET);
    assert_eq!(app.chain, DEFAULT_TURN_BUDGET);
    assert_eq!(r.next_timeout(), Some(Duration::ZERO), "work remains");
    // A connection arrives while the chain runs: the next turn polls first, and its accept
    // step queues behind the one chain link left over, not behind the whole chain.
    let _client = connect(addr);
    let second = numbered_turn(&mut r, &mut app);
    assert_eq!(second.tasks, DEFAULT_TURN_BUDGET);
    assert_eq!(
        app.log,
        [format!("accept@2 after {}", DEFAULT_TURN_BUDGET + 1)]
    );
    while app.chain < 200 {
        assert!(app.turn < 10, "the chain ends within 4 turns");
        numbered_turn(&mut r, &mut app);
    }
    assert_eq!(app.turn, 4, "201 tasks at 64 a turn");
    assert_eq!(r.next_timeout(), None);
    assert_eq!(numbered_turn(&mut r, &mut app).tasks, 0);
}

#[test]
fn the_turn_budget_knob_bounds_each_turn_and_keeps_fifo_order() {
    let mut r: Reactor<App> = ReactorBuilder::new().turn_budget(3).build().unwrap();
    let mut app = App::default();
    for i in 0..10 {
        let tag = format!("call{i}");
        let f = move |r: &mut Reactor<App>, app: &mut App| {
            app.log.push(format!("{tag}@{}", app.turn));
            if i == 0 {
                r.tcp().get_sockets(|_, app, _| {
                    app.log.push(format!("child@{}", app.turn));
                });
            }
        };
        if i % 2 == 0 {
            r.tcp_server().get_sockets(move |r, app, _| f(r, app));
        } else {
            r.tcp().get_sockets(move |r, app, _| f(r, app));
        }
    }
    let mut reports = Vec::new();
    loop {
        let report = numbered_turn(&mut r, &mut app);
        reports.push(report.tasks);
        if report.tasks == 0 {
            break;
        }
        let more = app.log.len() < 11;
        assert_eq!(r.next_timeout() == Some(Duration::ZERO), more);
    }
    assert_eq!(reports, [3, 3, 3, 2, 0]);
    assert_eq!(
        app.log,
        [
            "call0@1", "call1@1", "call2@1", "call3@2", "call4@2", "call5@2", "call6@3", "call7@3",
            "call8@3", "call9@4", "child@4"
        ]
    );
    // At least one task a turn, whatever the knob says.
    let mut r: Reactor<App> = ReactorBuilder::new().turn_budget(0).build().unwrap();
    r.tcp().get_sockets(log("a"));
    r.tcp().get_sockets(log("b"));
    assert_eq!(numbered_turn(&mut r, &mut app).tasks, 1);
    assert_eq!(numbered_turn(&mut r, &mut app).tasks, 1);
}

#[test]
fn listen_callback_precedes_the_first_on_accept() {
    let mut r: Reactor<App> = Reactor::new().unwrap();
    let mut app = App::default();
    r.tcp_server()
        .on_accept()
        .add_listener(|_, app, _| app.log.push("accept".into()));
    let id = create_server(&mut r, &mut app);
    let port = free_port();
    r.tcp_server()
        .listen(id, "127.0.0.1", port.into(), None, |_, app, result| {
            result.unwrap();
            app.log.push("listen".into());
        });
    // The listener is live and a client is already queued before the first turn.
    let _client = connect(SocketAddr::from(([127, 0, 0, 1], port)));
    turn_until(&mut r, &mut app, |a| a.log.len() == 2);
    assert_eq!(app.log, ["listen", "accept"]);
}

#[test]
fn on_accept_events_come_in_accept_order_with_increasing_client_ids() {
    let mut r: Reactor<(Vec<TcpSocketId>, Vec<u16>)> = Reactor::new().unwrap();
    let mut state = (Vec::new(), Vec::new());
    r.tcp_server().on_accept().add_listener(|r, s, info| {
        s.0.push(info.client_socket_id);
        r.tcp().get_info(info.client_socket_id, |_, s, i| {
            s.1.push(i.unwrap().peer_port.unwrap());
        });
    });
    let (_, addr) = listen_on_loopback(&mut r, &mut state);
    // Each connect completes its handshake before the next starts: the kernel's accept queue
    // holds them in this order.
    let clients: Vec<_> = (0..50).map(|_| connect(addr)).collect();
    turn_until(&mut r, &mut state, |s| s.1.len() == 50);
    let ids: Vec<i32> = state.0.iter().map(|id| id.raw()).collect();
    assert!(
        ids.windows(2).all(|w| w[0] < w[1]),
        "strictly increasing: {ids:?}"
    );
    let ports: Vec<u16> = clients
        .iter()
        .map(|c| c.local_addr().unwrap().port())
        .collect();
    assert_eq!(state.1, ports, "on_accept in accept (= connect) order");
}

#[test]
fn listeners_added_during_dispatch_see_only_later_events_and_removed_ones_stop() {
    #[derive(Default)]
    struct Seen {
        first: Vec<TcpSocketId>,
        late: Vec<TcpSocketId>,
        once: Vec<TcpSocketId>,
        victim: Vec<TcpSocketId>,
    }
    let mut r: Reactor<Seen> = Reactor::new().unwrap();
    let mut seen = Seen::default();
    let once_id: Rc<Cell<Option<ListenerId>>> = Rc::new(Cell::new(None));
    let victim_id: Rc<Cell<Option<ListenerId>>> = Rc::new(Cell::new(None));
    let added = Rc::new(Cell::new(false));
    let (a, v) = (added.clone(), victim_id.clone());
    // The first listener adds a late listener on its first event and removes the victim
    // (registered after it, so not reached yet) on its second.
    r.tcp_server().on_accept().add_listener(move |r, s, info| {
        s.first.push(info.client_socket_id);
        if !a.replace(true) {
            r.tcp_server()
                .on_accept()
                .add_listener(|_, s, info| s.late.push(info.client_socket_id));
        } else if s.first.len() == 2 {
            assert!(r.tcp_server().on_accept().remove_listener(v.get().unwrap()));
        }
    });
    let o = once_id.clone();
    let id = r.tcp_server().on_accept().add_listener(move |r, s, info| {
        s.once.push(info.client_socket_id);
        // A listener removing itself while it runs.
        assert!(r.tcp_server().on_accept().remove_listener(o.get().unwrap()));
    });
    once_id.set(Some(id));
    let id = r
        .tcp_server()
        .on_accept()
        .add_listener(|_, s, info| s.victim.push(info.client_socket_id));
    victim_id.set(Some(id));

    let (_, addr) = listen_on_loopback(&mut r, &mut seen);
    let _clients: Vec<_> = (0..3).map(|_| connect(addr)).collect();
    turn_until(&mut r, &mut seen, |s| s.first.len() == 3);
    turn_n(&mut r, &mut seen, 3);
    let f = &seen.first;
    assert_eq!(f.len(), 3);
    assert_eq!(
        seen.late,
        [f[1], f[2]],
        "added during event 1: sees 2 and 3"
    );
    assert_eq!(seen.once, [f[0]], "removed itself after event 1");
    assert_eq!(
        seen.victim,
        [f[0]],
        "removed during event 2 before being reached"
    );
    let mut on_accept = r.tcp_server();
    let ev = on_accept.on_accept();
    assert!(!ev.has_listener(once_id.get().unwrap()));
    assert!(!ev.has_listener(victim_id.get().unwrap()));
}

#[test]
fn has_listener_and_has_listeners_follow_add_and_remove() {
    let mut r: Reactor = Reactor::new().unwrap();
    assert!(!r.tcp_server().on_accept().has_listeners());
    assert!(!r.tcp_server().on_accept_error().has_listeners());
    let a = r.tcp_server().on_accept().add_listener(|_, _, _| {});
    let e = r.tcp_server().on_accept_error().add_listener(|_, _, _| {});
    assert_ne!(a, e, "listener ids are distinct across events");
    assert!(r.tcp_server().on_accept().has_listener(a));
    assert!(r.tcp_server().on_accept().has_listeners());
    // An id names one listener of one event: another event's id removes nothing here.
    assert!(!r.tcp_server().on_accept().has_listener(e));
    assert!(!r.tcp_server().on_accept().remove_listener(e));
    assert!(r.tcp_server().on_accept().has_listener(a));
    assert!(!r.tcp().on_receive().remove_listener(a));
    assert!(r.tcp_server().on_accept_error().has_listener(e));
    assert!(r.tcp_server().on_accept().remove_listener(a));
    assert!(
        !r.tcp_server().on_accept().remove_listener(a),
        "second remove"
    );
    assert!(!r.tcp_server().on_accept().has_listener(a));
    assert!(!r.tcp_server().on_accept().has_listeners());
    assert!(r.tcp_server().on_accept_error().has_listeners());
}

#[test]
fn turn_or_run_from_inside_a_callback_or_listener_fails_with_reentrant_turn() {
    // Not `WouldBlock`, which host loops read as "try again": a nested turn is a bug.
    let mut r: Reactor<Vec<io::Error>> = Reactor::new().unwrap();
    let mut errors = Vec::new();
    r.tcp_server().on_accept().add_listener(|r, errors, _| {
        let err = r.turn(Some(Duration::ZERO), errors).unwrap_err();
        errors.push(err);
        // A stop request made before a nested `run` survives it.
        r.stop();
        errors.push(r.run(&mut Vec::new()).unwrap_err());
    });
    r.tcp_server()
        .create(SocketProperties::default(), |r, errors, _| {
            let err = r.turn(Some(Duration::ZERO), errors).unwrap_err();
            errors.push(err);
        });
    r.turn(Some(Duration::ZERO), &mut errors).unwrap();
    assert_eq!(errors.len(), 1);
    let (_, addr) = listen_on_loopback(&mut r, &mut errors);
    let _client = connect(addr);
    turn_until(&mut r, &mut errors, |e| e.len() == 3);
    for err in &errors {
        assert!(ReentrantTurn::is(err), "{err:?}");
        assert_eq!(err.kind(), io::ErrorKind::Other);
    }
    // The stop made inside the listener is still pending: `run` returns before turning.
    r.run(&mut errors).unwrap();
    // The reactor is still usable after refusing.
    let out = slot();
    r.tcp_server().get_sockets(put(&out));
    assert_eq!(wait(&mut r, &mut errors, &out).unwrap().len(), 2);
}

#[test]
fn ignore_fits_every_call_and_runs_as_its_callback_once() {
    // `chrome_sockets::ignore` type-checks as the callback of every call (each result type),
    // and each one is queued and run like any callback: one task per call, in one turn.
    let mut r: Reactor<()> = Reactor::new().unwrap();
    let (server, tcp) = (ServerSocketId::from_raw(77), TcpSocketId::from_raw(77));
    use chrome_sockets::ignore;
    r.tcp_server()
        .create(SocketProperties::new().name("kept"), ignore);
    r.tcp_server()
        .update(server, SocketProperties::new(), ignore);
    r.tcp_server().set_paused(server, true, ignore);
    r.tcp_server().listen(server, "127.0.0.1", 0, None, ignore);
    r.tcp_server().disconnect(server, ignore);
    r.tcp_server().get_info(server, ignore);
    r.tcp_server().get_sockets(ignore);
    r.tcp_server().close(server, ignore);
    r.tcp().create(tcp::SocketProperties::new(), ignore);
    r.tcp().update(tcp, tcp::SocketProperties::new(), ignore);
    r.tcp().set_paused(tcp, false, ignore);
    r.tcp().set_keep_alive(tcp, true, 1, ignore);
    r.tcp().set_no_delay(tcp, true, ignore);
    r.tcp().connect(tcp, "127.0.0.1", 1, ignore);
    r.tcp()
        .connect_timeout(tcp, "127.0.0.1", 1, Duration::from_secs(1), ignore);
    r.tcp().send(tcp, b"x".to_vec(), ignore);
    r.tcp().shutdown_send(tcp, ignore);
    r.tcp().end(tcp, ignore);
    r.tcp().disconnect(tcp, ignore);
    r.tcp().get_info(tcp, ignore);
    r.tcp().get_sockets(ignore);
    r.tcp().close(tcp, ignore);
    let report = r.turn(Some(Duration::ZERO), &mut ()).unwrap();
    // 22 calls; `connect_timeout` also set a timer, which its callback cleared.
    assert_eq!(report.tasks, 22);
    assert_eq!(
        r.next_timeout(),
        None,
        "the connect timeout's timer was cleared"
    );
    // The two creates took effect (ignoring a result changes nothing else).
    let out = slot();
    r.tcp_server().get_sockets(put(&out));
    let servers = wait(&mut r, &mut (), &out).unwrap();
    assert_eq!(servers.len(), 1);
    assert_eq!(servers[0].name.as_deref(), Some("kept"));
}
