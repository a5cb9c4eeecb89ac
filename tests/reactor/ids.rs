//! Ensures socket ids (design §2 "Ids", reference §4, deviation D12): one counter per kind
//! starting at 1, wrapping from `i32::MAX` to 1 and skipping live ids, so an id is never
//! reused while its socket lives; a stale readiness event never reaches a newer socket in a
//! reused slot, across the wrap too; timer and listener ids never reach another reactor.
use crate::util::*;

use std::collections::BTreeSet;
use std::io::Write;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::Duration;

use chrome_sockets::tcp_server::{AcceptInfo, SocketProperties};
use chrome_sockets::{tcp, Reactor, ReactorBuilder, ServerSocketId, TcpSocketId};

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

/// A reactor recording into [`Rec`] whose socket ids start at `first` and wrap after `last`.
fn wrapping_reactor(first: i32, last: i32) -> Reactor<Rec> {
    init();
    let mut r = ReactorBuilder::new()
        .ids_from(first)
        .ids_up_to(last)
        .build()
        .expect("reactor");
    record_events(&mut r);
    r
}

#[test]
fn accepting_across_the_wrap_gives_20_distinct_live_ids_and_keeps_going_after_closes() {
    let mut r = wrapping_reactor(i32::MAX - 3, i32::MAX);
    let mut rec = Rec::reading();
    let (server, addr) = listen_on_loopback(&mut r, &mut rec);
    assert_eq!(
        server.raw(),
        i32::MAX - 3,
        "server ids start at ids_from too"
    );
    let mut clients = Vec::new();
    for _ in 0..20 {
        clients.push(accept_one(&mut r, &mut rec, addr));
    }
    let ids: Vec<i32> = rec.clients().iter().map(|c| c.raw()).collect();
    let expected: Vec<i32> = (i32::MAX - 3..=i32::MAX).chain(1..=16).collect();
    assert_eq!(ids, expected, "on_accept ids cross the wrap in order");
    assert_eq!(ids.iter().collect::<BTreeSet<_>>().len(), 20, "distinct");
    assert_eq!(r.id_wraps(), 1);
    // get_info answers for each, as that very connection (its peer is our client).
    for (id, client) in &clients {
        let i = info(&mut r, &mut rec, *id);
        assert_eq!(i.socket_id, *id);
        assert!(i.connected);
        assert_eq!(i.peer_port, Some(client.local_addr().unwrap().port()));
    }
    // Bytes reach the socket of their own connection on both sides of the wrap.
    for (n, (_, client)) in clients.iter_mut().enumerate() {
        client.write_all(&token(n)).unwrap();
    }
    turn_until(&mut r, &mut rec, |rec| {
        rec.received.values().map(Vec::len).sum::<usize>() == 20 * token(0).len()
    });
    for (n, (id, _)) in clients.iter().enumerate() {
        assert_eq!(rec.bytes(*id), token(n).as_slice(), "socket {id}");
    }
    // Close some on both sides of the wrap; accepting goes on with fresh ids.
    for n in [0, 2, 3, 4, 10] {
        let id = clients[n].0;
        ask(&mut r, &mut rec, |r, cb| r.tcp().close(id, cb)).expect("close");
    }
    for _ in 0..5 {
        clients.push(accept_one(&mut r, &mut rec, addr));
    }
    let more: Vec<i32> = rec.clients()[20..].iter().map(|c| c.raw()).collect();
    assert_eq!(more, [17, 18, 19, 20, 21], "closed ids are not reissued");
    for (id, _) in &clients[20..] {
        assert_eq!(info(&mut r, &mut rec, *id).socket_id, *id);
    }
    let closed = ask(&mut r, &mut rec, |r, cb| {
        r.tcp().get_info(TcpSocketId::from_raw(i32::MAX - 3), cb)
    });
    assert_last_error(&closed, "Socket not found", None);
    assert!(rec.accept_errors.is_empty());
}

#[test]
fn server_ids_wrap_and_skip_live_ones_and_a_full_space_fails_create_with_minus_12() {
    let mut r = wrapping_reactor(3, 4);
    let mut rec = Rec::default();
    let create = |r: &mut Reactor<Rec>, rec: &mut Rec| {
        ask(r, rec, |r, cb| {
            r.tcp_server().create(SocketProperties::default(), cb)
        })
    };
    let ids: Vec<i32> = (0..4)
        .map(|_| create(&mut r, &mut rec).unwrap().socket_id.raw())
        .collect();
    assert_eq!(ids, [3, 4, 1, 2]);
    assert_last_error(
        &create(&mut r, &mut rec),
        "net::ERR_INSUFFICIENT_RESOURCES",
        Some(-12),
    );
    // Free 4 and 1: the counter (at 3) skips live 3 and issues 4, then 1.
    for id in [4, 1] {
        ask(&mut r, &mut rec, |r, cb| {
            r.tcp_server().close(ServerSocketId::from_raw(id), cb)
        })
        .unwrap();
    }
    let again: Vec<i32> = (0..2)
        .map(|_| create(&mut r, &mut rec).unwrap().socket_id.raw())
        .collect();
    assert_eq!(again, [4, 1]);
    assert_eq!(r.id_wraps(), 2);
    let listed = ask(&mut r, &mut rec, |r, cb| r.tcp_server().get_sockets(cb)).unwrap();
    let listed: Vec<i32> = listed.iter().map(|i| i.socket_id.raw()).collect();
    assert_eq!(listed, [1, 2, 3, 4]);
}

#[test]
fn an_accept_with_every_tcp_id_live_pauses_the_server_and_reports_minus_12() {
    // tcp ids 1..=3: two created sockets and one accepted one fill the space.
    let mut r = wrapping_reactor(1, 3);
    let mut rec = Rec::default();
    let (server, addr) = listen_on_loopback(&mut r, &mut rec);
    let a = create(&mut r, &mut rec, tcp::SocketProperties::default());
    create(&mut r, &mut rec, tcp::SocketProperties::default());
    let (third, _c3) = accept_one(&mut r, &mut rec, addr);
    assert_eq!(third.raw(), 3);
    let mut dropped = connect(addr);
    turn_until(&mut r, &mut rec, |rec| !rec.accept_errors.is_empty());
    assert_eq!(rec.accept_errors, [(server, -12)]);
    assert_eq!(rec.accepted.len(), 1, "no on_accept without an id");
    let s = ask(&mut r, &mut rec, |r, cb| {
        r.tcp_server().get_info(server, cb)
    })
    .unwrap();
    assert!(
        s.paused,
        "the server paused itself, as after any accept error"
    );
    assert_eof_or_reset(&mut dropped);
    // A waiting connection stays queued in the kernel while paused; freeing an id and
    // resuming accepts it under the freed id.
    let waiting = connect(addr);
    ask(&mut r, &mut rec, |r, cb| r.tcp().close(a, cb)).unwrap();
    ask(&mut r, &mut rec, |r, cb| {
        r.tcp_server().set_paused(server, false, cb)
    })
    .unwrap();
    turn_until(&mut r, &mut rec, |rec| rec.accepted.len() == 2);
    assert_eq!(rec.accepted[1], (server, a));
    let i = info(&mut r, &mut rec, a);
    assert_eq!(i.peer_port, Some(waiting.local_addr().unwrap().port()));
}

/// State of the stale-event test: what happened, in order.
#[derive(Default)]
struct Stale {
    log: Vec<String>,
    accepted: Vec<TcpSocketId>,
    /// Set once the race is staged: (X, Y); the first of them to receive closes the other.
    armed: Option<(TcpSocketId, TcpSocketId)>,
    /// The one of X and Y that was closed.
    closed: Option<TcpSocketId>,
}

#[test]
fn a_stale_read_step_never_reaches_the_wrapped_socket_that_took_its_slot() {
    // X = i32::MAX - 1 and Y = i32::MAX read. Then, before one turn, Z connects and sends,
    // X and then Y become readable. The first of X and Y to get its on_receive (P) closes
    // the other (Q), whose read step is then queued and stale; the accept step takes Z
    // into Q's freed slab slot (the slab reuses the last freed key) with the wrapped id 1,
    // and on_accept unpauses Z. Linux's epoll here reports the last readiness first and the
    // others in arrival order (Y, the server, X), so Q's stale step (naming Q's key and id)
    // runs after Z took the slot: if it reached Z it would read Z's bytes before the
    // callback of Z's unpause (checked to fail with the id compare in `Table::get_mut`
    // removed). Z's bytes must come only through Z's own read step, after that callback.
    init();
    let mut r: Reactor<Stale> = ReactorBuilder::new()
        .ids_from(i32::MAX - 1)
        .build()
        .unwrap();
    let mut st = Stale::default();
    r.tcp_server().on_accept().add_listener(|r, st, info| {
        let id = info.client_socket_id;
        st.accepted.push(id);
        st.log.push(format!("accept {id}"));
        r.tcp().set_paused(id, false, move |_, st, res| {
            res.unwrap();
            st.log.push(format!("unpaused {id}"));
        });
    });
    r.tcp().on_receive().add_listener(|r, st, info| {
        let id = info.socket_id;
        st.log.push(format!("receive {id} {}", info.data.len()));
        if let Some((x, y)) = st.armed {
            if id == x || id == y {
                st.armed = None;
                let other = if id == x { y } else { x };
                st.closed = Some(other);
                r.tcp().close(other, |_, _, res| res.unwrap());
            }
        }
    });
    let (_server, addr) = listen_on_loopback(&mut r, &mut st);
    let mut cx = connect(addr);
    turn_until(&mut r, &mut st, |st| {
        st.log.iter().any(|l| l.starts_with("unpaused"))
    });
    let mut cy = connect(addr);
    turn_until(&mut r, &mut st, |st| st.log.len() == 4);
    let (x, y) = (st.accepted[0], st.accepted[1]);
    assert_eq!((x.raw(), y.raw()), (i32::MAX - 1, i32::MAX));
    st.armed = Some((x, y));
    st.log.clear();
    let pause = Duration::from_millis(30);
    let mut cz = connect(addr);
    cz.write_all(b"zz").unwrap();
    std::thread::sleep(pause);
    cx.write_all(b"x").unwrap();
    std::thread::sleep(pause);
    cy.write_all(b"yyy").unwrap();
    std::thread::sleep(pause);
    let report = r.turn(Some(Duration::from_secs(1)), &mut st).unwrap();
    assert!(
        report.events >= 3,
        "X, the server and Y were ready in one batch"
    );
    turn_until(&mut r, &mut st, |st| {
        st.log.iter().any(|l| l == "receive 1 2")
    });
    turn_n(&mut r, &mut st, 3);
    let z = st.accepted[2];
    assert_eq!(z.raw(), 1, "Z got the wrapped id");
    let q = st.closed.expect("one of X and Y closed the other");
    let p = if q == x { y } else { x };
    let p_len = if p == x { 1 } else { 3 };
    assert_eq!(
        st.log,
        [
            format!("receive {p} {p_len}"),
            "accept 1".to_string(),
            "unpaused 1".to_string(),
            "receive 1 2".to_string(),
        ],
        "Q's stale step read nothing (neither Q, closed, nor Z, in its slot)"
    );
    assert_eq!(r.id_wraps(), 1);
}

#[test]
fn another_reactors_timer_and_listener_ids_reach_nothing_here() {
    let mut a: Reactor<Vec<&'static str>> = Reactor::new().unwrap();
    let mut b: Reactor<Vec<&'static str>> = Reactor::new().unwrap();
    let mut fired = Vec::new();
    let ta = a.set_timeout(Duration::ZERO, |_, f| f.push("a"));
    let tb = b.set_timeout(Duration::ZERO, |_, f| f.push("b"));
    assert_ne!(ta, tb);
    assert!(!b.clear_timeout(ta), "b has no timer with a's id");
    let la = a
        .tcp_server()
        .on_accept()
        .add_listener(|_, f, _| f.push("la"));
    let lb = b
        .tcp_server()
        .on_accept()
        .add_listener(|_, f, _| f.push("lb"));
    assert_ne!(la, lb);
    assert!(!b.tcp_server().on_accept().remove_listener(la));
    assert!(!b.tcp_server().on_accept().has_listener(la));
    assert!(a.tcp_server().on_accept().has_listener(la));
    turn_n(&mut a, &mut fired, 2);
    assert_eq!(fired, ["a"], "a's timer fired");
    turn_n(&mut b, &mut fired, 2);
    assert_eq!(fired, ["a", "b"]);
}
