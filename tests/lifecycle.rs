//! Lifecycle: `suspend_app` closes exactly the non-persistent sockets, `unload_app` closes
//! everything and drops queued callbacks, timers and listeners, ports are free at once; races
//! (close, pause, disconnect and re-listen from inside `on_accept`, a slab slot reused inside
//! one poll batch, closing with callbacks queued, dropping the reactor mid-flight, panicking
//! callbacks, re-entrant `turn`) lose nothing, run nothing twice, leak nothing, and the reactor
//! keeps serving. Every test takes `serial()` (directly or through `FdGuard`): some count fds.
mod util;

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::time::Duration;

use chrome_sockets::tcp::SocketProperties as TcpProps;
use chrome_sockets::{tcp, tcp_server, Reactor, ReentrantTurn, ServerSocketId, TcpSocketId};
use util::*;

#[derive(Default)]
struct App {
    accepted: Vec<TcpSocketId>,
    received: Vec<u8>,
    servers: Option<Vec<tcp_server::SocketInfo>>,
    tcps: Option<Vec<tcp::SocketInfo>>,
    ran: Vec<&'static str>,
}

fn reactor() -> Reactor<App> {
    let mut r: Reactor<App> = Reactor::new().unwrap();
    r.tcp_server().on_accept().add_listener(|_, app, info| {
        app.accepted.push(info.client_socket_id);
    });
    r.tcp().on_receive().add_listener(|_, app, info| {
        app.received.extend_from_slice(&info.data);
    });
    r
}

/// Creates a server with the given persistence listening on 127.0.0.1:0.
#[track_caller]
fn server(r: &mut Reactor<App>, app: &mut App, persistent: bool) -> (ServerSocketId, SocketAddr) {
    let out: Rc<Cell<Option<(ServerSocketId, SocketAddr)>>> = Rc::default();
    let o = out.clone();
    let props = tcp_server::SocketProperties::new().persistent(persistent);
    r.tcp_server().create(props, move |r, _, created| {
        let id = created.unwrap().socket_id;
        r.tcp_server()
            .listen(id, "127.0.0.1", 0, None, move |r, _, result| {
                result.unwrap();
                r.tcp_server().get_info(id, move |_, _, info| {
                    let port = info.unwrap().local_port.unwrap();
                    o.set(Some((id, SocketAddr::from(([127, 0, 0, 1], port)))));
                });
            });
    });
    turn_until(r, app, |_| out.get().is_some());
    out.get().unwrap()
}

/// Creates an unconnected tcp socket.
#[track_caller]
fn created_tcp(r: &mut Reactor<App>, app: &mut App, persistent: bool) -> TcpSocketId {
    let out: Rc<Cell<Option<TcpSocketId>>> = Rc::default();
    let o = out.clone();
    let props = tcp::SocketProperties::new().persistent(persistent);
    r.tcp().create(props, move |_, _, created| {
        o.set(Some(created.unwrap().socket_id))
    });
    turn_until(r, app, |_| out.get().is_some());
    out.get().unwrap()
}

/// Both namespaces' `get_sockets`, as (server ids, tcp ids).
#[track_caller]
fn live_ids(r: &mut Reactor<App>, app: &mut App) -> (Vec<ServerSocketId>, BTreeSet<TcpSocketId>) {
    app.servers = None;
    app.tcps = None;
    r.tcp_server()
        .get_sockets(|_, app, infos| app.servers = Some(infos.unwrap()));
    r.tcp()
        .get_sockets(|_, app, infos| app.tcps = Some(infos.unwrap()));
    turn_until(r, app, |app| app.servers.is_some() && app.tcps.is_some());
    let servers = app.servers.take().unwrap();
    let tcps = app.tcps.take().unwrap();
    (
        servers.iter().map(|i| i.socket_id).collect(),
        tcps.iter().map(|i| i.socket_id).collect(),
    )
}

/// Reads until EOF (bounded by the client's read timeout).
#[track_caller]
fn assert_eof(client: &mut TcpStream) {
    let mut buf = [0u8; 16];
    assert_eq!(client.read(&mut buf).expect("read"), 0, "the peer closed");
}

/// Everything a lifecycle test starts from: a persistent and a non-persistent server, two
/// connections accepted by the persistent one (the first made persistent with tcp.update),
/// and a persistent and a non-persistent created (unconnected) tcp socket.
struct World {
    persistent_server: (ServerSocketId, SocketAddr),
    plain_server: (ServerSocketId, SocketAddr),
    kept_client: TcpStream,
    kept_accepted: TcpSocketId,
    lost_client: TcpStream,
    lost_accepted: TcpSocketId,
    persistent_tcp: TcpSocketId,
    plain_tcp: TcpSocketId,
}

fn world(r: &mut Reactor<App>, app: &mut App) -> World {
    let persistent_server = server(r, app, true);
    let plain_server = server(r, app, false);
    let kept_client = connect(persistent_server.1);
    turn_until(r, app, |app| app.accepted.len() == 1);
    let lost_client = connect(persistent_server.1);
    turn_until(r, app, |app| app.accepted.len() == 2);
    let (kept_accepted, lost_accepted) = (app.accepted[0], app.accepted[1]);
    let done = Rc::new(Cell::new(false));
    let d = done.clone();
    r.tcp().update(
        kept_accepted,
        tcp::SocketProperties::new().persistent(true),
        move |_, _, result| {
            result.unwrap();
            d.set(true);
        },
    );
    turn_until(r, app, |_| done.get());
    let persistent_tcp = created_tcp(r, app, true);
    let plain_tcp = created_tcp(r, app, false);
    World {
        persistent_server,
        plain_server,
        kept_client,
        kept_accepted,
        lost_client,
        lost_accepted,
        persistent_tcp,
        plain_tcp,
    }
}

#[test]
fn suspend_closes_exactly_the_non_persistent_sockets() {
    // Reference §5: suspend destroys every non-persistent resource (as close); accepted
    // sockets are non-persistent unless tcp.update made them persistent.
    let _serial = serial();
    let mut r = reactor();
    let mut app = App::default();
    let mut w = world(&mut r, &mut app);
    let sockets_before = fds_by_kind()["socket"];

    r.suspend_app();

    // The non-persistent server's port is free at once; the persistent one still listens.
    let rebound = TcpListener::bind(w.plain_server.1).expect("port freed by suspend");
    drop(rebound);
    assert!(TcpListener::bind(w.persistent_server.1).is_err());
    // The non-persistent accepted connection is gone; its peer sees EOF.
    assert_eof(&mut w.lost_client);
    // Exactly two fds closed: the plain server's listener and the lost accepted socket
    // (the created sockets have none).
    assert_eq!(fds_by_kind()["socket"], sockets_before - 2);

    let (servers, tcps) = live_ids(&mut r, &mut app);
    assert_eq!(servers, vec![w.persistent_server.0]);
    assert_eq!(
        tcps,
        BTreeSet::from([w.kept_accepted, w.persistent_tcp]),
        "lost {:?} and {:?}",
        w.lost_accepted,
        w.plain_tcp
    );

    // The persistent accepted socket still carries data, and the persistent server still
    // accepts.
    r.tcp()
        .set_paused(w.kept_accepted, false, |_, _, res| res.unwrap());
    w.kept_client.write_all(b"still here").unwrap();
    turn_until(&mut r, &mut app, |app| app.received == b"still here");
    let _third = connect(w.persistent_server.1);
    turn_until(&mut r, &mut app, |app| app.accepted.len() == 3);
}

#[test]
fn suspend_runs_callbacks_already_queued_as_close_would() {
    // suspend = close for each non-persistent socket: it does not drop queued callbacks.
    let _serial = serial();
    let mut r = reactor();
    let mut app = App::default();
    r.tcp_server()
        .get_sockets(|_, app, _| app.ran.push("queued before suspend"));
    r.suspend_app();
    turn_n(&mut r, &mut app, 1);
    assert_eq!(app.ran, vec!["queued before suspend"]);
}

#[test]
fn unload_closes_everything_and_drops_callbacks_timers_and_listeners() {
    let _serial = serial();
    let mut r = reactor();
    let mut app = App::default();
    r.tcp_server().on_accept_error().add_listener(|_, _, _| {});
    r.tcp().on_receive_error().add_listener(|_, _, _| {});
    let fds_before = fds_by_kind();
    let mut w = world(&mut r, &mut app);
    let last_server = w.plain_server.0;
    let last_tcp = w.plain_tcp;

    // Work pending at unload: a queued callback, a timer, an in-flight read.
    r.tcp().set_paused(w.kept_accepted, false, |_, app, _| {
        app.ran.push("set_paused")
    });
    r.tcp_server()
        .get_sockets(|_, app, _| app.ran.push("get_sockets"));
    r.set_timeout(Duration::ZERO, |_, app| app.ran.push("timer"));
    r.unload_app();

    // Persistent ones too: every port is free at once, every peer sees EOF.
    drop(TcpListener::bind(w.persistent_server.1).expect("persistent port freed"));
    drop(TcpListener::bind(w.plain_server.1).expect("plain port freed"));
    assert_eof(&mut w.kept_client);
    assert_eof(&mut w.lost_client);

    turn_n(&mut r, &mut app, 3);
    assert!(app.ran.is_empty(), "dropped callbacks ran: {:?}", app.ran);
    assert_eq!(r.next_timeout(), None, "no timer and no queued work left");
    assert!(!r.tcp_server().on_accept().has_listeners());
    assert!(!r.tcp_server().on_accept_error().has_listeners());
    assert!(!r.tcp().on_receive().has_listeners());
    assert!(!r.tcp().on_receive_error().has_listeners());
    let (servers, tcps) = live_ids(&mut r, &mut app);
    assert!(servers.is_empty() && tcps.is_empty());
    // run() has nothing left to wait for.
    r.run(&mut app).unwrap();
    drop((w.kept_client, w.lost_client));
    assert_fds_back_to(&fds_before);

    // Still usable, and ids keep counting up.
    r.tcp_server().on_accept().add_listener(|_, app, info| {
        app.accepted.push(info.client_socket_id);
    });
    app.accepted.clear();
    let (id, addr) = server(&mut r, &mut app, false);
    assert!(id.raw() > last_server.raw(), "{id:?} after {last_server:?}");
    let _client = connect(addr);
    turn_until(&mut r, &mut app, |app| app.accepted.len() == 1);
    assert!(app.accepted[0].raw() > last_tcp.raw());
}

#[test]
fn unload_from_a_callback_drops_the_rest_of_the_batch() {
    // Pending callbacks are dropped even when they were due in the very turn that unloads.
    let _serial = serial();
    let mut r = reactor();
    let mut app = App::default();
    r.tcp_server().get_sockets(|r, app, _| {
        app.ran.push("unloads");
        r.unload_app();
    });
    r.tcp()
        .get_sockets(|_, app, _| app.ran.push("after unload"));
    r.set_timeout(Duration::ZERO, |_, app| app.ran.push("timer"));
    turn_n(&mut r, &mut app, 3);
    assert_eq!(app.ran, vec!["unloads"]);
}

#[test]
fn unload_of_an_idle_reactor_is_harmless_and_run_returns() {
    // On a thread of its own, so a run() that never returns fails instead of hanging.
    let _serial = serial();
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut r = reactor();
        let mut app = App::default();
        r.unload_app();
        r.unload_app();
        done_tx.send(r.run(&mut app).is_ok()).unwrap();
    });
    assert_eq!(done_rx.recv_timeout(PATIENCE), Ok(true));
}

type R = Reactor<Rec>;

/// A client whose server-side connection was never accepted sees EOF or a reset.
#[track_caller]
fn assert_dropped_by_server(c: &mut std::net::TcpStream) {
    let (data, err) = read_to_end_or_error(c);
    assert!(data.is_empty());
    assert!(
        err.is_none() || err == Some(ErrorKind::ConnectionReset),
        "expected EOF or reset, got {err:?}"
    );
}

/// Turns (at most 500 times) until a turn panics; tells whether one did.
fn turn_until_panic(r: &mut R, rec: &mut Rec) -> bool {
    (0..500).any(|_| {
        catch_unwind(AssertUnwindSafe(|| {
            r.turn(Some(Duration::from_millis(10)), rec)
        }))
        .is_err()
    })
}

fn delivered(rec: &Rec) -> Vec<usize> {
    let mut t: Vec<usize> = rec.received.values().flat_map(|b| tokens_in(b)).collect();
    t.sort_unstable();
    t
}

#[test]
fn closing_the_server_inside_on_accept_stops_accepting_and_resets_the_queue() {
    let _fds = FdGuard::new();
    let (mut r, mut rec, server, addr) = serving(Rec::reading());
    r.tcp_server().on_accept().add_listener(move |r, _, info| {
        if info.socket_id == server {
            r.tcp_server().close(server, |_, _, res| res.unwrap());
        }
    });
    let mut clients: Vec<_> = (0..3).map(|i| token_client(addr, i)).collect();
    turn_until(&mut r, &mut rec, |rec| rec.received.len() == 1);
    idle_work(&mut r, &mut rec, 10);
    // design §3: close removes the id at once; no on_accept for it afterwards.
    assert_eq!(rec.accepted.len(), 1);
    assert_eq!(delivered(&rec), vec![0]);
    // The two still queued in the kernel were reset because the app closed its server.
    for c in &mut clients[1..] {
        assert_dropped_by_server(c);
    }
    let servers = ask(&mut r, &mut rec, |r, d| r.tcp_server().get_sockets(d)).unwrap();
    assert!(servers.is_empty());
    // The accepted socket survives its server (reference §1.6).
    let tcps = ask(&mut r, &mut rec, |r, d| r.tcp().get_sockets(d)).unwrap();
    assert_eq!(tcps.len(), 1);
    assert!(tcps[0].connected);
    // And the port is free at once.
    drop(std::net::TcpListener::bind(addr).expect("port free after close"));
}

#[test]
fn pausing_inside_on_accept_stops_the_batch_and_resume_takes_the_rest_once() {
    let _fds = FdGuard::new();
    let (mut r, mut rec, server, addr) = serving(Rec::reading());
    let pause_once = Rc::new(RefCell::new(true));
    let p = pause_once.clone();
    r.tcp_server().on_accept().add_listener(move |r, _, _| {
        if p.replace(false) {
            r.tcp_server()
                .set_paused(server, true, |_, _, res| res.unwrap());
        }
    });
    let _clients: Vec<_> = (0..3).map(|i| token_client(addr, i)).collect();
    turn_until(&mut r, &mut rec, |rec| rec.received.len() == 1);
    // The read ran in the turn that registered the socket, so the next poll may still report
    // that registration's edge (one event, nothing to run).
    assert_eq!(idle_work(&mut r, &mut rec, 1).tasks, 0);
    // D8: no on_accept after the pause, not even from the same batch.
    let work = idle_work(&mut r, &mut rec, 20);
    assert_eq!((work.events, work.tasks), (0, 0));
    assert_eq!(rec.accepted.len(), 1);
    ask(&mut r, &mut rec, |r, d| {
        r.tcp_server().set_paused(server, false, d)
    })
    .unwrap();
    turn_until(&mut r, &mut rec, |rec| delivered(rec).len() == 3);
    assert_eq!(delivered(&rec), vec![0, 1, 2]);
    assert_eq!(rec.accepted.len(), 3);
}

#[test]
fn disconnect_and_relisten_inside_on_accept_serves_new_clients_on_the_same_port() {
    let _fds = FdGuard::new();
    let (mut r, mut rec, server, addr) = serving(Rec::reading());
    let relistened = Rc::new(RefCell::new(None));
    let once = Rc::new(RefCell::new(true));
    {
        let relistened = relistened.clone();
        r.tcp_server().on_accept().add_listener(move |r, _, _| {
            if once.replace(false) {
                r.tcp_server().disconnect(server, |_, _, res| res.unwrap());
                let relistened = relistened.clone();
                r.tcp_server().listen(
                    server,
                    "127.0.0.1",
                    addr.port() as i32,
                    None,
                    move |_, _, res| *relistened.borrow_mut() = Some(res),
                );
            }
        });
    }
    let mut clients: Vec<_> = (0..3).map(|i| token_client(addr, i)).collect();
    turn_until(&mut r, &mut rec, |_| relistened.borrow().is_some());
    relistened
        .borrow_mut()
        .take()
        .unwrap()
        .expect("re-listen on the same port");
    for c in &mut clients[1..] {
        assert_dropped_by_server(c);
    }
    let _fresh = token_client(addr, 10);
    turn_until(&mut r, &mut rec, |rec| delivered(rec) == vec![0, 10]);
    assert_eq!(rec.accepted.len(), 2);
    assert!(rec.accepted.iter().all(|&(s, _)| s == server));
    assert!(rec.accept_errors.is_empty());
}

#[test]
fn a_slab_slot_reused_inside_one_poll_batch_gets_no_stale_readiness() {
    let _fds = FdGuard::new();
    let (mut r, mut rec, _server, addr) = serving(Rec::reading());
    let mut a = connect(addr);
    let mut b = connect(addr);
    turn_until(&mut r, &mut rec, |rec| rec.accepted.len() == 2);
    idle_work(&mut r, &mut rec, 2); // both unpaused and registered
    let (ida, idb) = (rec.accepted[0].1, rec.accepted[1].1);

    // Whichever of A and B is read first closes the other (design §2 ids: a stale
    // readiness event must never reach a socket that reused the slab slot).
    let closed: Rc<RefCell<Option<TcpSocketId>>> = Rc::new(RefCell::new(None));
    {
        let closed = closed.clone();
        r.tcp().on_receive().add_listener(move |r, _, info| {
            let me = info.socket_id;
            if closed.borrow().is_some() || (me != ida && me != idb) {
                return;
            }
            let other = if me == ida { idb } else { ida };
            r.tcp().close(other, |_, _, res| res.unwrap());
            *closed.borrow_mut() = Some(other);
        });
    }
    // One poll batch with readiness for A, the listener (client D with its token) and
    // B, in that order (epoll's ready list is FIFO). Reading A closes B; accepting D
    // puts it in B's freed slab slot (slab reuses the last freed key) and the recorder
    // unpauses it at once; then B's stale read step comes up for that slot.
    a.write_all(&token(1)).unwrap();
    std::thread::sleep(Duration::from_millis(20));
    let _d = token_client(addr, 4);
    std::thread::sleep(Duration::from_millis(20));
    b.write_all(&token(2)).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    turn_until(&mut r, &mut rec, |rec| delivered(rec).contains(&4));
    idle_work(&mut r, &mut rec, 5);
    let closed = closed.borrow().expect("one of A and B was read");
    let d = rec.accepted[2].1;
    // The closed socket's bytes reached no one: not itself after the close, not D.
    assert!(!rec.received.contains_key(&closed), "{:?}", rec.received);
    assert_eq!(rec.received[&d], token(4));
    let survivor = if closed == ida { idb } else { ida };
    let expected = if survivor == ida { token(1) } else { token(2) };
    assert_eq!(rec.received[&survivor], expected);
    assert_eq!(delivered(&rec).len(), 2, "each token once");
    assert!(
        rec.receive_errors.is_empty(),
        "D6: no event for the closed id"
    );
}

#[test]
fn closing_with_callbacks_queued_runs_each_once_with_chromes_results() {
    let _fds = FdGuard::new();
    let (mut r, mut rec, server, addr) = serving(Rec::reading());
    let _client = connect(addr);
    turn_until(&mut r, &mut rec, |rec| rec.accepted.len() == 1);
    idle_work(&mut r, &mut rec, 2);
    let id = rec.accepted[0].1;
    let log: Rc<RefCell<Vec<String>>> = Rc::new(RefCell::new(Vec::new()));
    let l = |name: &'static str| {
        let log = log.clone();
        move |_: &mut R, _: &mut Rec, res: Result<String, chrome_sockets::LastError>| {
            log.borrow_mut().push(match res {
                Ok(v) => format!("{name}: ok {v}"),
                Err(e) => format!("{name}: {e} {:?}", e.code().map(|c| c.code())),
            });
        }
    };
    let (f1, f2, f3, f4, f5, f6, f7) = (
        l("info"),
        l("big send"),
        l("small send"),
        l("no delay"),
        l("close"),
        l("info after"),
        l("close again"),
    );
    r.tcp().get_info(id, move |r, s, res| {
        f1(r, s, res.map(|i| i.connected.to_string()))
    });
    r.tcp().send(id, vec![1u8; 32 << 20], move |r, s, res| {
        f2(r, s, res.map(|i| i.bytes_sent.to_string()))
    });
    r.tcp().send(id, b"x".to_vec(), move |r, s, res| {
        f3(r, s, res.map(|i| i.bytes_sent.to_string()))
    });
    r.tcp().set_no_delay(id, true, move |r, s, res| {
        f4(r, s, res.map(|()| String::new()))
    });
    r.tcp()
        .close(id, move |r, s, res| f5(r, s, res.map(|()| String::new())));
    r.tcp().get_info(id, move |r, s, res| {
        f6(r, s, res.map(|i| i.connected.to_string()))
    });
    r.tcp()
        .close(id, move |r, s, res| f7(r, s, res.map(|()| String::new())));
    assert!(log.borrow().is_empty(), "no callback inside a call");
    idle_work(&mut r, &mut rec, 5);
    // D5/D9: the sends overtaken by the close fail with -15; the rest answer as of
    // their call; each exactly once; D6: no on_receive_error for the closed id.
    assert_eq!(
        *log.borrow(),
        vec![
            "info: ok true",
            "no delay: ok ",
            "big send: net::ERR_SOCKET_NOT_CONNECTED Some(-15)",
            "small send: net::ERR_SOCKET_NOT_CONNECTED Some(-15)",
            "close: ok ",
            "info after: Socket not found None",
            "close again: Socket not found None",
        ]
    );
    assert!(rec.receive_errors.is_empty());

    // A connect overtaken by a close: "Socket not found" as in Chrome (D5), once.
    let c = create(&mut r, &mut rec, TcpProps::default());
    let connect_result = Rc::new(RefCell::new(Vec::new()));
    {
        let cr = connect_result.clone();
        r.tcp()
            .connect(c, "127.0.0.1", addr.port() as i32, move |_, _, res| {
                cr.borrow_mut().push(res)
            });
    }
    ask(&mut r, &mut rec, |r, d| r.tcp().close(c, d)).unwrap();
    idle_work(&mut r, &mut rec, 5);
    let results = connect_result.borrow();
    assert_eq!(results.len(), 1);
    assert_last_error(&results[0], "Socket not found", None);

    // A server: listen's callback reports what took effect, close's comes after.
    let log2: Rc<RefCell<Vec<String>>> = Rc::new(RefCell::new(Vec::new()));
    let (g1, g2, g3) = (log2.clone(), log2.clone(), log2.clone());
    r.tcp_server().disconnect(server, move |_, _, res| {
        g1.borrow_mut().push(format!("disconnect {res:?}"))
    });
    r.tcp_server().close(server, move |_, _, res| {
        g2.borrow_mut().push(format!("close {res:?}"))
    });
    r.tcp_server().get_info(server, move |_, _, res| {
        g3.borrow_mut().push(format!("info {:?}", res.map(|_| ())))
    });
    idle_work(&mut r, &mut rec, 3);
    assert_eq!(
        *log2.borrow(),
        vec![
            "disconnect Ok(())",
            "close Ok(())",
            "info Err(LastError(\"Socket not found\"))"
        ]
    );
}

#[test]
fn dropping_the_reactor_mid_flight_frees_every_fd_and_port_and_runs_no_callback() {
    let _serial = serial();
    let before = fds_by_kind();
    let ran = Rc::new(RefCell::new(0));
    let (addr, mut peer_a, mut peer_b) = {
        let (mut r, mut rec, _server, addr) = serving(Rec::default());
        let peer_a = connect(addr);
        let peer_b = connect(addr);
        turn_until(&mut r, &mut rec, |rec| rec.accepted.len() == 2);
        let a = rec.accepted[0].1;
        ask(&mut r, &mut rec, |r, d| r.tcp().set_paused(a, false, d)).unwrap();
        // In flight: a send that cannot finish, a connect, queued callbacks, a timer.
        let count = |ran: &Rc<RefCell<i32>>| {
            let ran = ran.clone();
            move |_: &mut R, _: &mut Rec, _: ()| *ran.borrow_mut() += 1
        };
        let f = count(&ran);
        r.tcp()
            .send(a, vec![0u8; 32 << 20], move |r, s, _| f(r, s, ()));
        let target = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = target.local_addr().unwrap().port() as i32;
        let c = create(&mut r, &mut rec, TcpProps::default());
        let f = count(&ran);
        r.tcp()
            .connect(c, "127.0.0.1", port, move |r, s, _| f(r, s, ()));
        let f = count(&ran);
        r.tcp().get_sockets(move |r, s, _| f(r, s, ()));
        let f = count(&ran);
        r.set_timeout(Duration::ZERO, move |r, s| f(r, s, ()));
        drop(r);
        drop(target);
        (addr, peer_a, peer_b)
    };
    // design §5: dropping the reactor closes every fd it owns and runs no callback.
    assert_eq!(*ran.borrow(), 0);
    drop(std::net::TcpListener::bind(addr).expect("port rebindable at once"));
    for peer in [&mut peer_a, &mut peer_b] {
        let (_, err) = read_to_end_or_error(peer);
        assert!(
            err.is_none() || err == Some(ErrorKind::ConnectionReset),
            "peer sees EOF or reset, got {err:?}"
        );
    }
    drop((peer_a, peer_b));
    assert_fds_back_to(&before);
}

#[test]
fn a_panicking_listener_is_removed_and_queued_connections_are_still_accepted() {
    let _fds = FdGuard::new();
    let (mut r, mut rec, _server, addr) = serving(Rec::reading());
    let panicky = r
        .tcp_server()
        .on_accept()
        .add_listener(|_, _, _| panic!("listener panics (expected by the test)"));
    let _clients: Vec<_> = (0..3).map(|i| token_client(addr, i)).collect();
    // Turn until the panic comes out of turn.
    let panicked = turn_until_panic(&mut r, &mut rec);
    assert!(panicked, "the listener panicked out of turn");
    assert_eq!(rec.accepted.len(), 1, "the recorder ran before the panic");
    // Reactor::turn # Panics: the listener is removed, the rest of the batch runs on the
    // next turn, and accepts are re-armed so queued connections need no new edge.
    turn_until(&mut r, &mut rec, |rec| delivered(rec) == vec![0, 1, 2]);
    assert!(!r.tcp_server().on_accept().has_listener(panicky));
    assert_eq!(rec.accepted.len(), 3);
    let mut clients = rec.clients();
    clients.dedup();
    assert_eq!(clients.len(), 3, "each accepted once");
    let _later = token_client(addr, 3);
    turn_until(&mut r, &mut rec, |rec| delivered(rec) == vec![0, 1, 2, 3]);
}

#[test]
fn a_panicking_listener_does_not_keep_the_other_listeners_from_the_event() {
    let _fds = FdGuard::new();
    let mut r: R = Reactor::new().unwrap();
    let mut rec = Rec::reading();
    // The panicking listener comes first (event.rs dispatch rules: every listener
    // registered when dispatch starts is called once, as in JavaScript, where a throwing
    // listener does not keep the others from the event).
    let panicky = r
        .tcp_server()
        .on_accept()
        .add_listener(|_, _, _| panic!("listener panics (expected by the test)"));
    record_events(&mut r);
    let (_server, addr) = listen_on_loopback(&mut r, &mut rec);
    let _clients: Vec<_> = (0..3).map(|i| token_client(addr, i)).collect();
    let panicked = turn_until_panic(&mut r, &mut rec);
    assert!(panicked, "the panic still unwinds out of turn");
    assert_eq!(
        rec.accepted.len(),
        1,
        "the recorder got the event that panicked"
    );
    assert!(
        !r.tcp_server().on_accept().has_listener(panicky),
        "removed at once"
    );
    // design §8 (no lost connection): every connection reaches the app exactly once.
    turn_until(&mut r, &mut rec, |rec| delivered(rec) == vec![0, 1, 2]);
    assert_eq!(rec.accepted.len(), 3);
    let all = ask(&mut r, &mut rec, |r, d| r.tcp().get_sockets(d)).unwrap();
    assert_eq!(all.len(), 3);
}

#[test]
fn a_panicking_callback_is_consumed_and_the_rest_of_its_batch_runs_next_turn() {
    let _serial = serial();
    let mut r: Reactor<Vec<i32>> = Reactor::new().unwrap();
    let mut ran = Vec::new();
    r.tcp().get_sockets(|_, ran, _| ran.push(1));
    r.tcp()
        .get_sockets(|_, _, _| panic!("callback panics (expected by the test)"));
    r.tcp().get_sockets(|_, ran, _| ran.push(3));
    r.set_timeout(Duration::ZERO, |_, ran| ran.push(4));
    let res = catch_unwind(AssertUnwindSafe(|| r.turn(Some(Duration::ZERO), &mut ran)));
    assert!(res.is_err());
    assert_eq!(ran, vec![1]);
    r.turn(Some(Duration::ZERO), &mut ran).unwrap();
    assert_eq!(ran, vec![1, 3, 4], "the rest of the batch, once, in order");
    for _ in 0..3 {
        r.turn(Some(Duration::ZERO), &mut ran).unwrap();
    }
    assert_eq!(ran, vec![1, 3, 4], "nothing runs twice");
}

#[test]
fn turn_from_inside_a_callback_listener_or_timer_is_reentrant_turn_not_a_deadlock() {
    let _serial = serial();
    let mut r: Reactor<Vec<bool>> = Reactor::new().unwrap();
    let mut kinds = Vec::new();
    r.tcp().get_sockets(|r, kinds, _| {
        let e = r.turn(Some(Duration::ZERO), kinds).unwrap_err();
        kinds.push(ReentrantTurn::is(&e));
    });
    r.set_timeout(Duration::ZERO, |r, kinds| {
        let e = r.turn(None, kinds).unwrap_err();
        kinds.push(ReentrantTurn::is(&e));
    });
    r.tcp_server().on_accept().add_listener(|r, kinds, info| {
        let e = r.turn(Some(Duration::from_secs(3600)), kinds).unwrap_err();
        kinds.push(ReentrantTurn::is(&e));
        r.tcp()
            .close(info.client_socket_id, |_, _, res| res.unwrap());
    });
    let (_server, addr) = listen_on_loopback(&mut r, &mut kinds);
    let _client = connect(addr);
    turn_until(&mut r, &mut kinds, |k| k.len() == 3);
    assert_eq!(kinds, vec![true; 3]);
    // The reactor is fine afterwards.
    let info = ask(&mut r, &mut kinds, |r, d| r.tcp().get_sockets(d)).unwrap();
    assert!(info.is_empty());
}

#[test]
fn a_pause_resume_storm_on_the_server_accepts_every_client_exactly_once() {
    let _fds = FdGuard::new();
    let (mut r, mut rec, server, addr) = serving(Rec::reading());
    let clients = std::thread::spawn(move || {
        (0..100)
            .map(|i| {
                let c = token_client(addr, i);
                std::thread::sleep(Duration::from_micros(200));
                c
            })
            .collect::<Vec<_>>()
    });
    // D1/D8: toggling pause on every turn, also several times per batch.
    let mut paused = false;
    let deadline = std::time::Instant::now() + PATIENCE;
    while delivered(&rec).len() < 100 {
        assert!(
            std::time::Instant::now() < deadline,
            "{:?}",
            delivered(&rec)
        );
        for _ in 0..3 {
            paused = !paused;
            r.tcp_server()
                .set_paused(server, paused, |_, _, res| res.unwrap());
        }
        r.turn(Some(Duration::from_millis(1)), &mut rec).unwrap();
    }
    let _clients = clients.join().unwrap();
    ask(&mut r, &mut rec, |r, d| {
        r.tcp_server().set_paused(server, false, d)
    })
    .unwrap();
    idle_work(&mut r, &mut rec, 5);
    assert_eq!(delivered(&rec), (0..100).collect::<Vec<_>>());
    assert_eq!(rec.accepted.len(), 100, "each accepted once");
    assert!(rec.accept_errors.is_empty());
}
