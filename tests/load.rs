//! Load: 200 listeners, a burst of 2,000 connects while other sockets stay responsive,
//! 1,000 idle clients, 10,000 connect-accept-close cycles. Every connection is accepted
//! exactly once, tables end empty and fds return to baseline.
mod util;

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use chrome_sockets::{Reactor, ServerSocketId, TcpSocketId};
use rlimit::Resource;
use util::*;

type R = Reactor<Rec>;

/// The tests below hold a few thousand fds at once.
fn enough_fds() {
    let (soft, hard) = rlimit::getrlimit(Resource::NOFILE).unwrap();
    if soft < 8192 {
        rlimit::setrlimit(Resource::NOFILE, hard, hard).unwrap();
    }
    let (soft, _) = rlimit::getrlimit(Resource::NOFILE).unwrap();
    assert!(
        soft >= 8192,
        "RLIMIT_NOFILE {soft} is too low for the load tests"
    );
}

/// Turns until `done`, with a deadline suited to large loads.
#[track_caller]
fn turn_until_long(r: &mut R, rec: &mut Rec, secs: u64, mut done: impl FnMut(&Rec) -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done(rec) {
        assert!(Instant::now() < deadline, "not reached within {secs} s");
        r.turn(Some(Duration::from_millis(10)), rec).unwrap();
    }
}

fn listen_with_backlog(r: &mut R, rec: &mut Rec, backlog: i32) -> (ServerSocketId, SocketAddr) {
    let id = create_server(r, rec, Default::default());
    ask(r, rec, |r, d| {
        r.tcp_server().listen(id, "127.0.0.1", 0, Some(backlog), d)
    })
    .unwrap();
    let port = ask(r, rec, |r, d| r.tcp_server().get_info(id, d))
        .unwrap()
        .local_port
        .unwrap();
    (id, ([127, 0, 0, 1], port).into())
}

#[test]
fn two_hundred_listeners_each_accept_their_one_client_exactly_once() {
    let (_fds, mut r, mut rec) = load_setup(Rec::reading());
    let servers: Vec<(ServerSocketId, SocketAddr)> = (0..200)
        .map(|_| listen_on_loopback(&mut r, &mut rec))
        .collect();
    let _clients: Vec<TcpStream> = servers
        .iter()
        .enumerate()
        .map(|(i, &(_, addr))| token_client(addr, i))
        .collect();
    turn_until_long(&mut r, &mut rec, 20, |rec| {
        rec.received
            .values()
            .map(|b| tokens_in(b).len())
            .sum::<usize>()
            == 200
    });
    idle_work(&mut r, &mut rec, 3);
    assert_eq!(rec.accepted.len(), 200);
    let index: BTreeMap<ServerSocketId, usize> = servers
        .iter()
        .enumerate()
        .map(|(i, (s, _))| (*s, i))
        .collect();
    let mut per_server = BTreeSet::new();
    for &(server, client) in &rec.accepted {
        assert!(per_server.insert(server), "server {server} accepted twice");
        assert_eq!(tokens_in(&rec.received[&client]), vec![index[&server]]);
    }
    assert!(rec.accept_errors.is_empty() && rec.receive_errors.is_empty());
}

#[test]
fn a_burst_of_2000_connects_leaves_other_listeners_and_connections_responsive() {
    let _fds = FdGuard::new();
    enough_fds();
    let mut rec = Rec {
        echo: true,
        ..Rec::default()
    };
    let mut r = recording_reactor();
    // SOMAXCONN is 4096: the whole burst fits in the kernel's queue.
    let (busy, busy_addr) = listen_with_backlog(&mut r, &mut rec, 4096);
    let (calm, calm_addr) = listen_on_loopback(&mut r, &mut rec);
    // The burst's connections are closed as soon as they are announced.
    r.tcp_server().on_accept().add_listener(move |r, _, info| {
        if info.socket_id == busy {
            r.tcp()
                .close(info.client_socket_id, |_, _, res| res.unwrap());
        }
    });
    // How far the burst had got whenever the other sockets were served.
    let served: Rc<RefCell<Vec<(&'static str, usize)>>> = Rc::default();
    let echo = connect(calm_addr);
    turn_until(&mut r, &mut rec, |rec| rec.accepted.len() == 1);
    let echo_id = rec.accepted[0].1;
    ask(&mut r, &mut rec, |r, d| {
        r.tcp().set_paused(echo_id, false, d)
    })
    .unwrap();
    {
        let s = served.clone();
        r.tcp().on_receive().add_listener(move |_, rec, info| {
            if info.socket_id == echo_id {
                let burst = rec.accepted.iter().filter(|a| a.0 == busy).count();
                s.borrow_mut().push(("echo", burst));
            }
        });
        let served = served.clone();
        r.tcp_server()
            .on_accept()
            .add_listener(move |_, rec, info| {
                if info.socket_id == calm {
                    let burst = rec.accepted.iter().filter(|a| a.0 == busy).count();
                    served.borrow_mut().push(("calm accept", burst));
                }
            });
    }

    // The burst is queued in the kernel before the reactor turns again.
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let (queued_tx, queued_rx) = mpsc::channel::<usize>();
    let burst = std::thread::spawn(move || {
        let clients: Vec<TcpStream> = (0..2000)
            .map(|_| TcpStream::connect_timeout(&busy_addr, PATIENCE).expect("burst"))
            .collect();
        queued_tx.send(clients.len()).unwrap();
        let _ = release_rx.recv_timeout(PATIENCE * 6);
        drop(clients);
    });
    assert_eq!(queued_rx.recv_timeout(PATIENCE * 3).unwrap(), 2000);
    let _newcomer = connect(calm_addr);
    // Echo round trips, one after another, until the burst has been accepted.
    let (stop_tx, stop_rx) = mpsc::channel::<()>();
    let pinger = std::thread::spawn(move || {
        let mut rounds = 0;
        let mut echo = echo;
        while stop_rx.try_recv().is_err() && rounds < 100_000 {
            echo.write_all(b"ping").unwrap();
            let mut pong = [0u8; 4];
            echo.read_exact(&mut pong).unwrap();
            assert_eq!(&pong, b"ping");
            rounds += 1;
        }
        rounds
    });

    turn_until_long(&mut r, &mut rec, 30, |rec| {
        rec.accepted.iter().filter(|a| a.0 == busy).count() == 2000
    });
    stop_tx.send(()).unwrap();
    // Let the last round trip finish.
    let deadline = Instant::now() + PATIENCE;
    while !pinger.is_finished() {
        assert!(Instant::now() < deadline);
        r.turn(Some(Duration::from_millis(10)), &mut rec).unwrap();
    }
    assert!(pinger.join().unwrap() > 0);
    // design §3 fairness: accept_batch (64) bounds each turn's accepts, so the echo
    // and the other listener were served while the burst was being accepted (some but
    // not all of it taken).
    let served = served.borrow().clone();
    assert!(
        served
            .iter()
            .any(|&(w, n)| w == "echo" && n > 0 && n < 2000),
        "no echo while the burst was being accepted: {served:?}"
    );
    assert!(
        served.iter().any(|&(w, n)| w == "calm accept" && n < 2000),
        "newcomer only after the burst: {served:?}"
    );
    // Each burst connection exactly once.
    let burst_clients: BTreeSet<TcpSocketId> = rec
        .accepted
        .iter()
        .filter(|a| a.0 == busy)
        .map(|a| a.1)
        .collect();
    assert_eq!(burst_clients.len(), 2000);
    assert!(rec.accept_errors.is_empty());
    release_tx.send(()).unwrap();
    burst.join().unwrap();
}

#[test]
fn a_thousand_idle_clients_cost_nothing_and_a_new_client_is_still_served() {
    let _fds = FdGuard::new();
    enough_fds();
    let mut rec = Rec::reading();
    rec.echo = true;
    let mut r = recording_reactor();
    let (_server, addr) = listen_on_loopback(&mut r, &mut rec);
    let (tx, rx) = mpsc::channel();
    let connector = std::thread::spawn(move || {
        let idle: Vec<TcpStream> = (0..1000).map(|_| connect(addr)).collect();
        tx.send(()).unwrap();
        idle
    });
    turn_until_long(&mut r, &mut rec, 30, |rec| rec.accepted.len() == 1000);
    rx.recv_timeout(PATIENCE).unwrap();
    let idle = connector.join().unwrap();
    idle_work(&mut r, &mut rec, 3); // the unpause callbacks
    let work = idle_work(&mut r, &mut rec, 20);
    assert_eq!(
        (work.events, work.tasks),
        (0, 0),
        "1,000 idle sockets, no work"
    );

    let mut fresh = connect(addr);
    fresh.write_all(&token(1000)).unwrap();
    let reader = std::thread::spawn(move || {
        let mut back = vec![0u8; token(1000).len()];
        fresh.read_exact(&mut back).unwrap();
        (back, fresh)
    });
    turn_until(&mut r, &mut rec, |_| reader.is_finished());
    let (back, fresh) = reader.join().unwrap();
    assert_eq!(back, token(1000));
    assert_eq!(rec.accepted.len(), 1001);
    assert!(rec.receive_errors.is_empty());
    drop((idle, fresh));
    turn_until_long(&mut r, &mut rec, 20, |rec| rec.receive_errors.len() == 1001);
}

#[test]
fn ten_thousand_connect_accept_close_cycles_leave_empty_tables_and_no_fd() {
    let (_fds, mut r, mut rec) = load_setup(Rec::default());
    r.tcp_server().on_accept().add_listener(|r, _, info| {
        r.tcp()
            .close(info.client_socket_id, |_, _, res| res.unwrap());
    });
    let (server, addr) = listen_on_loopback(&mut r, &mut rec);
    // Batches of 100: connect, then wait for the server's close (EOF) on each.
    let clients = std::thread::spawn(move || {
        let mut eofs = 0;
        for _ in 0..100 {
            let mut batch: Vec<TcpStream> = (0..100).map(|_| connect(addr)).collect();
            for c in &mut batch {
                let (data, err) = read_to_end_or_error(c);
                assert!(data.is_empty() && err.is_none(), "{err:?}");
                eofs += 1;
            }
        }
        eofs
    });
    let deadline = Instant::now() + Duration::from_secs(40);
    while !clients.is_finished() {
        assert!(Instant::now() < deadline, "cycles did not finish");
        r.turn(Some(Duration::from_millis(10)), &mut rec).unwrap();
    }
    assert_eq!(
        clients.join().unwrap(),
        10_000,
        "every client saw its close"
    );
    assert_eq!(rec.accepted.len(), 10_000);
    // Ids only go up and are never reused (§4): 1..=10000 in accept order.
    let ids = rec.clients();
    assert!(ids.windows(2).all(|w| w[0] < w[1]));
    assert_eq!((ids[0].raw(), ids[9999].raw()), (1, 10_000));
    assert!(rec.accept_errors.is_empty() && rec.receive_errors.is_empty());
    let tcps = ask(&mut r, &mut rec, |r, d| r.tcp().get_sockets(d)).unwrap();
    assert!(tcps.is_empty());
    ask(&mut r, &mut rec, |r, d| r.tcp_server().close(server, d)).unwrap();
    let servers = ask(&mut r, &mut rec, |r, d| r.tcp_server().get_sockets(d)).unwrap();
    assert!(servers.is_empty());
}

/// The fd guard, a fd limit high enough for the load, and a recording reactor with `rec`.
fn load_setup(rec: Rec) -> (FdGuard, Reactor<Rec>, Rec) {
    let fds = FdGuard::new();
    enough_fds();
    (fds, recording_reactor(), rec)
}
