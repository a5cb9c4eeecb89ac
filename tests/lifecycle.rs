//! App lifecycle (DESIGN §5, reference §5): `suspend_app` closes exactly the non-persistent
//! sockets, `unload_app` closes everything and drops queued callbacks, timers and listeners;
//! ports are free at once and the reactor goes on working. Every test takes `serial()`: some
//! count fds, which the others' sockets would disturb.
mod util;
use util::*;

use std::cell::Cell;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;
use std::time::Duration;

use chrome_sockets::{tcp, tcp_server, Reactor, ServerSocketId, TcpSocketId};

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
