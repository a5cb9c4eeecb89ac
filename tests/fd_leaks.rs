//! Ensures fd accounting: an accept-close round trip, server create/listen/accept/close cycles
//! and dropping a busy reactor return every fd kind to baseline, free the ports at once, and
//! run no callback (design §5).
mod util;
use util::*;

use std::cell::Cell;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener};
use std::rc::Rc;
use std::time::Duration;

use chrome_sockets::tcp_server::{AcceptInfo, SocketProperties};
use chrome_sockets::{tcp, Reactor};

#[test]
fn create_listen_accept_close_cycles_return_fds_to_baseline() {
    let _serial = serial();
    let mut r = accepting_reactor();
    let mut accepts = Vec::new();
    let baseline = fds_by_kind();
    for cycle in 0..20 {
        let (server, addr) = listen_on_loopback(&mut r, &mut accepts);
        let clients: Vec<_> = (0..3).map(|_| connect(addr)).collect();
        turn_until(&mut r, &mut accepts, |a| a.len() == 3);
        // Alternate: close the server first, or the accepted sockets first.
        let mut results = Vec::new();
        if cycle % 2 == 0 {
            let out = slot();
            r.tcp_server().close(server, put(&out));
            results.push(out);
        }
        for a in accepts.drain(..) {
            let out = slot();
            r.tcp().close(a.client_socket_id, put(&out));
            results.push(out);
        }
        if cycle % 2 == 1 {
            let out = slot();
            r.tcp_server().close(server, put(&out));
            results.push(out);
        }
        for out in &results {
            wait(&mut r, &mut accepts, out).unwrap();
        }
        for mut c in clients {
            let mut buf = [0u8; 1];
            assert_eq!(c.read(&mut buf).unwrap(), 0, "client sees EOF");
        }
        assert_fds_back_to(&baseline);
    }
    // A server that never listened, and one disconnected, hold no fd either.
    let (server, _) = listen_on_loopback(&mut r, &mut accepts);
    let out = slot();
    r.tcp_server().disconnect(server, put(&out));
    wait(&mut r, &mut accepts, &out).unwrap();
    let out = slot();
    r.tcp_server()
        .create(SocketProperties::default(), put(&out));
    wait(&mut r, &mut accepts, &out).unwrap();
    assert_fds_back_to(&baseline);
}

#[test]
fn dropping_a_busy_reactor_closes_every_fd_frees_ports_and_runs_no_callback() {
    let _serial = serial();
    let baseline = fds_by_kind();
    let ran = Rc::new(Cell::new(false));
    let mut addrs: Vec<SocketAddr> = Vec::new();
    let mut clients = Vec::new();
    {
        let mut r = accepting_reactor();
        let mut accepts = Vec::new();
        for _ in 0..3 {
            let (server, addr) = listen_on_loopback(&mut r, &mut accepts);
            addrs.push(addr);
            clients.extend((0..2).map(|_| connect(addr)));
            if addrs.len() == 3 {
                // One paused server (deregistered listener) with a client in its backlog.
                let out = slot();
                r.tcp_server().set_paused(server, true, put(&out));
                wait(&mut r, &mut accepts, &out).unwrap();
            }
        }
        turn_until(&mut r, &mut accepts, |a| a.len() >= 4);
        // Unpause one accepted socket (registered with the poll), leave the others paused.
        let out = slot();
        r.tcp()
            .set_paused(accepts[0].client_socket_id, false, put(&out));
        wait(&mut r, &mut accepts, &out).unwrap();
        // An unconnected tcp socket too.
        let out = slot();
        r.tcp().create(tcp::SocketProperties::default(), put(&out));
        wait(&mut r, &mut accepts, &out).unwrap();
        for c in &mut clients {
            c.write_all(b"pending").unwrap();
        }
        // Queued work that must never run: callbacks, a due timer, listeners with readiness
        // waiting, a send.
        let flag = |ran: &Rc<Cell<bool>>| {
            let ran = ran.clone();
            move |_: &mut Reactor<Vec<AcceptInfo>>, _: &mut Vec<AcceptInfo>| ran.set(true)
        };
        let f = flag(&ran);
        r.tcp_server().get_sockets(move |r, a, _| f(r, a));
        let f = flag(&ran);
        r.set_timeout(Duration::ZERO, f);
        let f = flag(&ran);
        r.tcp().send(
            accepts[1].client_socket_id,
            b"x".to_vec(),
            move |r, a, _| f(r, a),
        );
        let f = flag(&ran);
        r.tcp().on_receive().add_listener(move |r, a, _| f(r, a));
        let f = flag(&ran);
        r.tcp_server()
            .on_accept()
            .add_listener(move |r, a, _| f(r, a));
        let fresh = connect(addrs[0]);
        clients.push(fresh);
        std::thread::sleep(Duration::from_millis(20));
        drop(r);
    }
    assert!(!ran.get(), "dropping the reactor ran a callback");
    assert_eq!(Rc::strong_count(&ran), 1, "every queued closure was freed");
    assert_fds_back_to_without(&baseline, clients.len());
    for addr in &addrs {
        TcpListener::bind(addr).expect("port rebindable right after the drop");
    }
    for mut c in clients {
        // At most the one byte that was sent before the drop, then EOF (or a reset).
        let mut got = Vec::new();
        match c.read_to_end(&mut got) {
            Ok(_) => assert!(got.len() <= 1, "unexpected bytes {got:?}"),
            Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset),
        }
    }
    drop(ran);
    assert_fds_back_to(&baseline);
}

/// `assert_fds_back_to`, allowing `sockets` extra sockets (clients the test still holds).
#[track_caller]
fn assert_fds_back_to_without(
    baseline: &std::collections::BTreeMap<String, usize>,
    sockets: usize,
) {
    let mut expected = baseline.clone();
    *expected.entry("socket".to_string()).or_insert(0) += sockets;
    assert_fds_back_to(&expected);
}

#[test]
fn accept_close_round_trip_leaves_no_fd() {
    let _fds = FdGuard::new();
    let mut r: Reactor<usize> = Reactor::new().unwrap();
    let mut accepted = 0;
    r.tcp_server().on_accept().add_listener(|r, n, info| {
        *n += 1;
        r.tcp()
            .close(info.client_socket_id, |_, _, res| res.unwrap());
    });
    let (_id, addr) = listen_on_loopback(&mut r, &mut accepted);
    let clients: Vec<_> = (0..5).map(|_| connect(addr)).collect();
    turn_until(&mut r, &mut accepted, |n| *n == 5);
    for mut c in clients {
        let mut buf = [0u8; 1];
        assert_eq!(c.read(&mut buf).unwrap(), 0, "client sees EOF");
    }
}
