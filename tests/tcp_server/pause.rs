//! Ensures pausing and resuming a server (D1, D8): nothing queued while paused is lost or
//! duplicated, a pause stops events at once (also mid-batch), a close inside `on_accept` stops
//! the server, and the per-turn accept batch carries over without a new edge.
use crate::util::*;

use std::collections::{BTreeSet, HashMap};
use std::io::Write;
use std::net::TcpStream;

use chrome_sockets::tcp_server::AcceptInfo;
use chrome_sockets::{Reactor, ReactorBuilder, ServerSocketId, TcpSocketId};

#[derive(Default)]
struct App {
    accepts: Vec<AcceptInfo>,
    /// Peer port of each accepted socket (from `tcp().get_info`).
    peer_ports: HashMap<TcpSocketId, u16>,
    /// Bytes received per accepted socket.
    received: HashMap<TcpSocketId, Vec<u8>>,
}

/// A reactor whose `on_accept` only records, and its empty state.
fn reactor() -> (Reactor<App>, App) {
    reactor_then(|_, _, _| {})
}

/// A reactor whose `on_accept` records, then runs `then`; and its empty state.
fn reactor_then(
    mut then: impl FnMut(&mut Reactor<App>, &mut App, &AcceptInfo) + 'static,
) -> (Reactor<App>, App) {
    let mut r: Reactor<App> = Reactor::new().unwrap();
    r.tcp_server()
        .on_accept()
        .add_listener(move |r, app, info| {
            app.accepts.push(*info);
            then(r, app, info);
        });
    (r, App::default())
}

fn set_paused(r: &mut Reactor<App>, app: &mut App, id: ServerSocketId, paused: bool) {
    let out = slot();
    r.tcp_server().set_paused(id, paused, put(&out));
    wait(r, app, &out).expect("set_paused");
}

fn client_ids(app: &App) -> BTreeSet<TcpSocketId> {
    app.accepts.iter().map(|a| a.client_socket_id).collect()
}

#[test]
fn clients_connected_while_paused_are_each_accepted_exactly_once_after_resume() {
    let _serial = serial();
    // D1: resuming accepts what the kernel queued while paused; none lost, none twice.
    let (mut r, mut app) = reactor_then(|r, _, info| {
        let id = info.client_socket_id;
        r.tcp().get_info(id, move |_, app, i| {
            app.peer_ports.insert(id, i.unwrap().peer_port.unwrap());
        });
        r.tcp().set_paused(id, false, |_, _, res| res.unwrap());
    });
    r.tcp().on_receive().add_listener(|_, app, info| {
        app.received
            .entry(info.socket_id)
            .or_default()
            .extend(&info.data)
    });
    let (server, addr) = listen_on_loopback(&mut r, &mut app);
    set_paused(&mut r, &mut app, server, true);

    const N: usize = 20;
    let mut clients: Vec<TcpStream> = (0..N).map(|_| connect(addr)).collect();
    for (i, c) in clients.iter_mut().enumerate() {
        c.write_all(format!("token-{i};").as_bytes()).unwrap();
    }
    turn_n(&mut r, &mut app, 10);
    assert!(app.accepts.is_empty(), "no on_accept while paused");

    set_paused(&mut r, &mut app, server, false);
    turn_until(&mut r, &mut app, |a| {
        a.peer_ports.len() == N && a.received.values().filter(|d| d.ends_with(b";")).count() == N
    });
    turn_n(&mut r, &mut app, 5);
    assert_eq!(app.accepts.len(), N, "exactly N on_accept");
    assert_eq!(client_ids(&app).len(), N, "distinct client ids");
    // Each client proves which connection it is: the socket whose peer port is the client's
    // local port received that client's token.
    let by_port: HashMap<u16, TcpSocketId> =
        app.peer_ports.iter().map(|(id, p)| (*p, *id)).collect();
    for (i, c) in clients.iter().enumerate() {
        let id = by_port[&c.local_addr().unwrap().port()];
        assert_eq!(app.received[&id], format!("token-{i};").as_bytes());
    }
}

#[test]
fn pausing_inside_on_accept_stops_the_rest_of_the_batch() {
    let _serial = serial();
    // D8: the first on_accept pauses; the other 9 of the same poll batch wait for resume.
    let (mut r, mut app) = reactor_then(|r, app, info| {
        if app.accepts.len() == 1 {
            r.tcp_server()
                .set_paused(info.socket_id, true, |_, _, res| res.unwrap());
        }
    });
    let (server, addr) = listen_on_loopback(&mut r, &mut app);
    let _clients: Vec<_> = (0..10).map(|_| connect(addr)).collect();
    turn_until(&mut r, &mut app, |a| !a.accepts.is_empty());
    turn_n(&mut r, &mut app, 10);
    assert_eq!(app.accepts.len(), 1, "nothing after the pause");
    set_paused(&mut r, &mut app, server, false);
    turn_until(&mut r, &mut app, |a| a.accepts.len() == 10);
    turn_n(&mut r, &mut app, 5);
    assert_eq!(app.accepts.len(), 10);
    assert_eq!(client_ids(&app).len(), 10, "none lost, none twice");
}

#[test]
fn pausing_from_an_earlier_callback_of_the_same_turn_stops_a_polled_accept() {
    let _serial = serial();
    // D8: readiness polled in this turn does not leak through a pause made before it runs.
    let (mut r, mut app) = reactor();
    let (server, addr) = listen_on_loopback(&mut r, &mut app);
    let _client = connect(addr);
    // Let the handshake's last ACK reach the listener (loopback: practically at once).
    std::thread::sleep(std::time::Duration::from_millis(20));
    // Queued before the turn that polls the client's readiness, so it runs first.
    r.tcp_server().get_sockets(move |r, _, _| {
        r.tcp_server()
            .set_paused(server, true, |_, _, res| res.unwrap());
    });
    let report = r
        .turn(Some(std::time::Duration::from_secs(1)), &mut app)
        .unwrap();
    assert!(report.events >= 1, "the readiness was polled in this turn");
    turn_n(&mut r, &mut app, 10);
    assert!(app.accepts.is_empty());
    set_paused(&mut r, &mut app, server, false);
    turn_until(&mut r, &mut app, |a| a.accepts.len() == 1);
    turn_n(&mut r, &mut app, 3);
    assert_eq!(app.accepts.len(), 1);
}

#[test]
fn closing_the_server_inside_on_accept_stops_it_and_waiting_clients_see_eof_or_reset() {
    let _serial = serial();
    // Reference §1.6: close removes the id at once; no event for it afterwards. The
    // accepted socket survives the server.
    let (mut r, mut app) = reactor_then(|r, _, info| {
        r.tcp_server()
            .close(info.socket_id, |_, _, res| res.unwrap());
    });
    let (server, addr) = listen_on_loopback(&mut r, &mut app);
    let clients: Vec<_> = (0..10).map(|_| connect(addr)).collect();
    turn_until(&mut r, &mut app, |a| !a.accepts.is_empty());
    turn_n(&mut r, &mut app, 10);
    assert_eq!(app.accepts.len(), 1, "no on_accept after close");
    assert_eq!(app.accepts[0].socket_id, server);
    let out = slot();
    r.tcp().get_sockets(put(&out));
    let tcps = wait(&mut r, &mut app, &out).unwrap();
    assert_eq!(tcps.len(), 1, "the accepted socket survives the server");
    let out = slot();
    r.tcp().close(app.accepts[0].client_socket_id, put(&out));
    wait(&mut r, &mut app, &out).unwrap();
    // A client queued on a listener that went away sees a reset or an EOF.
    for mut client in clients {
        assert_eof_or_reset(&mut client);
    }
}

#[test]
fn pause_and_resume_with_nothing_waiting_does_nothing_harmful() {
    let _serial = serial();
    let (mut r, mut app) = reactor();
    let (server, addr) = listen_on_loopback(&mut r, &mut app);
    // Repeated flags are no-ops; a resume with an empty backlog accepts nothing.
    for paused in [true, true, false, false, true, false] {
        set_paused(&mut r, &mut app, server, paused);
    }
    turn_n(&mut r, &mut app, 5);
    assert!(app.accepts.is_empty());
    let _client = connect(addr);
    turn_until(&mut r, &mut app, |a| a.accepts.len() == 1);
    turn_n(&mut r, &mut app, 3);
    assert_eq!(app.accepts.len(), 1);
    let out = slot();
    r.tcp_server().get_info(server, put(&out));
    assert!(!wait(&mut r, &mut app, &out).unwrap().paused);
}

#[test]
fn accept_batch_of_2_takes_all_10_waiting_clients_over_several_turns() {
    let _serial = serial();
    // design §3 fairness: a full batch is continued next turn without a new edge.
    let mut r: Reactor<App> = ReactorBuilder::new().accept_batch(2).build().unwrap();
    let mut app = App::default();
    r.tcp_server()
        .on_accept()
        .add_listener(|_, app, info| app.accepts.push(*info));
    let (_server, addr) = listen_on_loopback(&mut r, &mut app);
    let _clients: Vec<_> = (0..10).map(|_| connect(addr)).collect();
    let mut per_turn = Vec::new();
    for _ in 0..200 {
        let before = app.accepts.len();
        r.turn(Some(std::time::Duration::from_millis(10)), &mut app)
            .unwrap();
        per_turn.push(app.accepts.len() - before);
        if app.accepts.len() == 10 {
            break;
        }
    }
    assert_eq!(app.accepts.len(), 10, "per turn: {per_turn:?}");
    assert!(
        per_turn.iter().all(|&n| n <= 2),
        "batch limit: {per_turn:?}"
    );
    assert!(
        per_turn.iter().filter(|&&n| n > 0).count() >= 5,
        "spread over turns: {per_turn:?}"
    );
    assert_eq!(client_ids(&app).len(), 10);
}
