//! Ensures socket ids (design §2 "Ids", reference §4): one counter per kind starting at 1,
//! never reused, and a stale readiness event never reaches a newer socket in a reused slot.
use crate::util::*;

use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use chrome_sockets::tcp_server::{AcceptInfo, SocketProperties};
use chrome_sockets::{tcp, Reactor, ServerSocketId, TcpSocketId};

#[test]
fn ids_start_at_1_per_kind_and_the_counters_are_independent() {
    let mut r = accepting_reactor();
    let mut accepts = Vec::new();
    let server = slot();
    r.tcp_server()
        .create(SocketProperties::default(), put(&server));
    let socket = slot();
    r.tcp()
        .create(tcp::SocketProperties::default(), put(&socket));
    let server = wait(&mut r, &mut accepts, &server).unwrap().socket_id;
    let socket = wait(&mut r, &mut accepts, &socket).unwrap().socket_id;
    assert_eq!((server.raw(), socket.raw()), (1, 1));
    // Server 1 and tcp 1 both exist; each namespace looks only in its own table.
    let si = slot();
    r.tcp_server().get_info(server, put(&si));
    let ti = slot();
    r.tcp().get_info(socket, put(&ti));
    assert_eq!(wait(&mut r, &mut accepts, &si).unwrap().socket_id, server);
    assert_eq!(wait(&mut r, &mut accepts, &ti).unwrap().socket_id, socket);

    // Accepted sockets draw from the tcp counter; servers keep their own.
    let (second, addr) = listen_on_loopback(&mut r, &mut accepts);
    assert_eq!(second.raw(), 2);
    let _client = connect(addr);
    turn_until(&mut r, &mut accepts, |a| a.len() == 1);
    assert_eq!(accepts[0].client_socket_id.raw(), 2);
}

#[test]
fn closed_ids_are_never_reused_across_1000_create_close_cycles() {
    let mut r: Reactor = Reactor::new().unwrap();
    let mut servers = Vec::new();
    let mut sockets = Vec::new();
    for _ in 0..1000 {
        let s = slot();
        r.tcp_server().create(SocketProperties::default(), put(&s));
        let t = slot();
        r.tcp().create(tcp::SocketProperties::default(), put(&t));
        let s = wait(&mut r, &mut (), &s).unwrap().socket_id;
        let t = wait(&mut r, &mut (), &t).unwrap().socket_id;
        let (cs, ct) = (slot(), slot());
        r.tcp_server().close(s, put(&cs));
        r.tcp().close(t, put(&ct));
        wait(&mut r, &mut (), &cs).unwrap();
        wait(&mut r, &mut (), &ct).unwrap();
        servers.push(s.raw());
        sockets.push(t.raw());
    }
    let expected: Vec<i32> = (1..=1000).collect();
    assert_eq!(servers, expected);
    assert_eq!(sockets, expected);
    // Stale ids stay dead, even though the slab slot was reused 999 times.
    let live = slot();
    r.tcp_server()
        .create(SocketProperties::default(), put(&live));
    assert_eq!(wait(&mut r, &mut (), &live).unwrap().socket_id.raw(), 1001);
    for stale in [1, 500, 1000] {
        let out = slot();
        r.tcp_server()
            .get_info(ServerSocketId::from_raw(stale), put(&out));
        assert_last_error(&wait(&mut r, &mut (), &out), "Socket not found", None);
        let out = slot();
        r.tcp().get_info(TcpSocketId::from_raw(stale), put(&out));
        assert_last_error(&wait(&mut r, &mut (), &out), "Socket not found", None);
    }
}

#[derive(Default)]
struct Swap {
    accepts: Vec<AcceptInfo>,
    peer_ports: Vec<u16>,
    created: Option<ServerSocketId>,
    b_client: Option<TcpStream>,
}

#[test]
fn a_stale_readiness_event_never_reaches_a_newer_server_in_the_reused_slot() {
    // design §2: server A is polled ready, then closed by a callback of the same turn that
    // creates server B (which takes A's slab slot), listens and gets a client of its own,
    // all before A's accept step runs. That step must not touch B.
    let mut r: Reactor<Swap> = Reactor::new().unwrap();
    let mut st = Swap::default();
    r.tcp_server().on_accept().add_listener(|r, st, info| {
        st.accepts.push(*info);
        r.tcp().get_info(info.client_socket_id, |_, st, i| {
            st.peer_ports.push(i.unwrap().peer_port.unwrap());
        });
    });
    let (a, a_addr) = listen_on_loopback(&mut r, &mut st);
    let a_client = connect(a_addr);
    std::thread::sleep(Duration::from_millis(20));
    let b_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let b_addr = SocketAddr::from(([127, 0, 0, 1], b_port));
    r.tcp_server().get_sockets(move |r, st, _| {
        r.tcp_server().close(a, |_, _, res| res.unwrap());
        r.tcp_server()
            .create(SocketProperties::default(), |_, st, created| {
                st.created = Some(created.unwrap().socket_id);
            });
        // Ids are sequential: B's id is A's + 1 (checked below when create calls back).
        let b = ServerSocketId::from_raw(a.raw() + 1);
        r.tcp_server()
            .listen(b, "127.0.0.1", b_port.into(), None, |_, _, res| {
                res.unwrap()
            });
        st.b_client = Some(connect(b_addr));
    });
    let report = r.turn(Some(Duration::from_secs(1)), &mut st).unwrap();
    assert!(
        report.events >= 1,
        "A's readiness was polled in the swapping turn"
    );
    assert!(
        st.accepts.is_empty(),
        "the stale accept step accepted nothing"
    );
    turn_until(&mut r, &mut st, |s| s.peer_ports.len() == 1);
    turn_n(&mut r, &mut st, 5);
    let b = st.created.unwrap();
    assert_eq!(b.raw(), a.raw() + 1);
    assert_eq!(st.accepts.len(), 1);
    assert_eq!(
        st.accepts[0].socket_id, b,
        "no on_accept names the closed A"
    );
    let b_client = st.b_client.take().unwrap();
    assert_eq!(st.peer_ports, [b_client.local_addr().unwrap().port()]);
    // A's waiting client was dropped with A's listener.
    let mut a_client = a_client;
    assert_eof_or_reset(&mut a_client);
}

#[test]
fn raw_ids_round_trip() {
    for raw in [1, 7, i32::MAX, 0, -1] {
        let s = ServerSocketId::from_raw(raw);
        assert_eq!(s.raw(), raw);
        assert_eq!(i32::from(s), raw);
        assert_eq!(ServerSocketId::from(raw), s);
        assert_eq!(s.to_string(), raw.to_string());
        let t = TcpSocketId::from_raw(raw);
        assert_eq!(t.raw(), raw);
        assert_eq!(i32::from(t), raw);
        assert_eq!(TcpSocketId::from(raw), t);
        assert_eq!(t.to_string(), raw.to_string());
    }
    assert!(ServerSocketId::from_raw(1) < ServerSocketId::from_raw(2));
}
