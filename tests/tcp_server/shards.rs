//! Ensures the rules of one port shared by several reactors (`SocketProperties::reuse_port`,
//! an extension): every shard accepts its share; a paused shard's share waits in its own
//! backlog and is accepted after resume, none lost; `disconnect` or `close` of one shard
//! leaves the others serving, and the connections waiting in its backlog are reset by the
//! kernel (or moved to another shard when `net.ipv4.tcp_migrate_req` is 1); a server without
//! the property cannot share the port either way (-147).
use crate::util::*;

use std::collections::BTreeSet;
use std::io::{ErrorKind, Read};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrome_sockets::tcp_server::SocketProperties;
use chrome_sockets::{LastError, Reactor, ServerSocketId};

/// One shard's record: the peer port of every connection it accepted (and closed).
#[derive(Default)]
struct Shard {
    peers: Vec<u16>,
}

/// A reactor that records each accepted connection's peer port and closes it.
fn shard() -> (Reactor<Shard>, Shard) {
    let mut r: Reactor<Shard> = Reactor::new().unwrap();
    r.tcp_server().on_accept().add_listener(|r, _, info| {
        let id = info.client_socket_id;
        r.tcp().get_info(id, move |r, shard, i| {
            shard.peers.push(i.unwrap().peer_port.unwrap());
            r.tcp().close(id, |_, _, res| res.unwrap());
        });
    });
    (r, Shard::default())
}

/// Creates a server with `reuse_port` as given and listens on 127.0.0.1:`port`.
fn listen(
    r: &mut Reactor<Shard>,
    shard: &mut Shard,
    port: u16,
    reuse_port: bool,
) -> (ServerSocketId, Result<SocketAddr, LastError>) {
    let props = SocketProperties::new().reuse_port(reuse_port);
    let id = create_server(r, shard, props);
    let out = slot();
    r.tcp_server()
        .listen(id, "127.0.0.1", i32::from(port), None, put(&out));
    let result = wait(r, shard, &out).map(|()| {
        let out = slot();
        r.tcp_server().get_info(id, put(&out));
        let port = wait(r, shard, &out).unwrap().local_port.unwrap();
        SocketAddr::from(([127, 0, 0, 1], port))
    });
    (id, result)
}

fn set_paused(r: &mut Reactor<Shard>, shard: &mut Shard, id: ServerSocketId, paused: bool) {
    let out = slot();
    r.tcp_server().set_paused(id, paused, put(&out));
    wait(r, shard, &out).unwrap();
}

/// `n` connected clients (the handshake is done once `connect` returns: each connection
/// waits in the backlog of the listener the kernel hashed it to).
fn clients(addr: SocketAddr, n: usize) -> Vec<TcpStream> {
    (0..n).map(|_| connect(addr)).collect()
}

fn ports(clients: &[TcpStream]) -> BTreeSet<u16> {
    clients
        .iter()
        .map(|c| c.local_addr().unwrap().port())
        .collect()
}

/// Turns each shard (zero timeout) until none accepted anything for 100 ms.
fn settle(shards: &mut [(&mut Reactor<Shard>, &mut Shard)]) {
    let deadline = Instant::now() + PATIENCE;
    let mut quiet_since = Instant::now();
    let mut last: usize = shards.iter().map(|(_, s)| s.peers.len()).sum();
    while quiet_since.elapsed() < Duration::from_millis(100) {
        assert!(Instant::now() < deadline, "shards never settled");
        for (r, s) in shards.iter_mut() {
            r.turn(Some(Duration::from_millis(1)), s).unwrap();
        }
        let now: usize = shards.iter().map(|(_, s)| s.peers.len()).sum();
        if now != last {
            last = now;
            quiet_since = Instant::now();
        }
    }
}

/// What each client reads once the server side is done with it: `Ok(())` for EOF (accepted
/// and closed by a shard), the error kind otherwise.
fn outcome(mut c: &TcpStream) -> Result<(), ErrorKind> {
    c.set_read_timeout(Some(PATIENCE)).unwrap();
    let mut buf = [0u8; 1];
    match c.read(&mut buf) {
        Ok(0) => Ok(()),
        Ok(_) => panic!("no shard sends"),
        Err(e) => Err(e.kind()),
    }
}

#[test]
fn two_reactors_on_two_threads_share_one_port_and_both_accept() {
    let _serial = serial();
    const N: usize = 64;
    let total = Arc::new(AtomicUsize::new(0));
    let (port_tx, port_rx) = std::sync::mpsc::channel();
    let (go_tx, go_rx) = std::sync::mpsc::channel::<u16>();
    let mut threads = Vec::new();
    for i in 0..2 {
        let (port_tx, total) = (port_tx.clone(), total.clone());
        // The first shard picks the port; the second listens on it.
        let first_port = if i == 0 {
            None
        } else {
            Some(go_rx.recv().unwrap())
        };
        threads.push(std::thread::spawn(move || {
            let (mut r, mut shard) = shard();
            let (_, addr) = listen(&mut r, &mut shard, first_port.unwrap_or(0), true);
            port_tx.send(addr.unwrap()).unwrap();
            let deadline = Instant::now() + PATIENCE;
            while total.load(Ordering::SeqCst) < N {
                assert!(Instant::now() < deadline, "shard {i} timed out");
                let before = shard.peers.len();
                r.turn(Some(Duration::from_millis(5)), &mut shard).unwrap();
                total.fetch_add(shard.peers.len() - before, Ordering::SeqCst);
            }
            shard.peers
        }));
        if i == 0 {
            let addr: SocketAddr = port_rx.recv().unwrap();
            go_tx.send(addr.port()).unwrap();
        }
    }
    let addr = port_rx.recv().unwrap();
    let clients = clients(addr, N);
    for c in &clients {
        assert_eq!(outcome(c), Ok(()), "accepted and closed by a shard");
    }
    let split: Vec<Vec<u16>> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    // 64 connections all hashed to one of two listeners: odds of 2^-63.
    assert!(split.iter().all(|s| !s.is_empty()), "both shards accept");
    let accepted: BTreeSet<u16> = split.iter().flatten().copied().collect();
    assert_eq!(split[0].len() + split[1].len(), N, "each exactly once");
    assert_eq!(accepted, ports(&clients));
}

#[test]
fn a_paused_shards_share_waits_in_its_backlog_and_is_accepted_after_resume() {
    let _serial = serial();
    const N: usize = 64;
    let (mut ra, mut a) = shard();
    let (mut rb, mut b) = shard();
    let (ida, addr) = listen(&mut ra, &mut a, 0, true);
    let addr = addr.unwrap();
    listen(&mut rb, &mut b, addr.port(), true).1.unwrap();
    set_paused(&mut ra, &mut a, ida, true);

    let clients = clients(addr, N);
    settle(&mut [(&mut ra, &mut a), (&mut rb, &mut b)]);
    // The kernel does not hand a paused shard's share to the other one: it waits.
    assert!(a.peers.is_empty(), "a paused shard accepts nothing");
    let b_share = b.peers.len();
    assert!(b_share < N, "some connections hashed to the paused shard");
    assert!(b_share > 0, "the running shard accepts its share");

    set_paused(&mut ra, &mut a, ida, false);
    settle(&mut [(&mut ra, &mut a), (&mut rb, &mut b)]);
    assert_eq!(
        a.peers.len(),
        N - b_share,
        "the waiting share, after resume"
    );
    assert_eq!(b.peers.len(), b_share, "nothing moved between shards");
    let accepted: BTreeSet<u16> = a.peers.iter().chain(&b.peers).copied().collect();
    assert_eq!(accepted, ports(&clients), "none lost, none twice");
    for c in &clients {
        assert_eq!(outcome(c), Ok(()));
    }
}

#[test]
fn disconnect_or_close_of_one_shard_leaves_the_others_serving_and_its_backlog_is_reset() {
    let _serial = serial();
    const N: usize = 64;
    let migrate = std::fs::read_to_string("/proc/sys/net/ipv4/tcp_migrate_req")
        .map(|s| s.trim() == "1")
        .unwrap_or(false);
    let (mut ra, mut a) = shard();
    let (mut rb, mut b) = shard();
    let (ida, addr) = listen(&mut ra, &mut a, 0, true);
    let addr = addr.unwrap();
    let (idb, _) = listen(&mut rb, &mut b, addr.port(), true);
    set_paused(&mut ra, &mut a, ida, true);
    let waiting = clients(addr, N);
    settle(&mut [(&mut ra, &mut a), (&mut rb, &mut b)]);
    let b_share = b.peers.len();
    assert!(b_share > 0 && b_share < N);

    // disconnect: a's listening fd is closed with its share still in the backlog.
    let out = slot();
    ra.tcp_server().disconnect(ida, put(&out));
    wait(&mut ra, &mut a, &out).unwrap();
    settle(&mut [(&mut ra, &mut a), (&mut rb, &mut b)]);
    let reset = waiting.iter().filter(|c| outcome(c).is_err()).count();
    if migrate {
        assert_eq!(reset, 0, "tcp_migrate_req=1: moved to the other shard");
        assert_eq!(b.peers.len(), N);
    } else {
        assert_eq!(reset, N - b_share, "the closed shard's backlog is reset");
        assert_eq!(b.peers.len(), b_share, "and not handed to the other shard");
        for c in &waiting {
            assert!(matches!(
                outcome(c),
                Ok(()) | Err(ErrorKind::ConnectionReset)
            ));
        }
    }
    assert!(a.peers.is_empty());

    // The remaining shard now gets every new connection.
    let before = b.peers.len();
    let later = clients(addr, 32);
    settle(&mut [(&mut ra, &mut a), (&mut rb, &mut b)]);
    assert_eq!(
        b.peers.len() - before,
        32,
        "the other shard serves them all"
    );
    for c in &later {
        assert_eq!(outcome(c), Ok(()));
    }

    // The disconnected shard listens again on the same port and takes its share again.
    let again = {
        let out = slot();
        ra.tcp_server()
            .listen(ida, "127.0.0.1", i32::from(addr.port()), None, put(&out));
        wait(&mut ra, &mut a, &out)
    };
    again.unwrap();
    // Still paused from before the disconnect (`paused` outlives a listen): resume.
    set_paused(&mut ra, &mut a, ida, false);
    let (a_before, b_before) = (a.peers.len(), b.peers.len());
    let more = clients(addr, N);
    settle(&mut [(&mut ra, &mut a), (&mut rb, &mut b)]);
    assert!(
        a.peers.len() > a_before && b.peers.len() > b_before,
        "both share again"
    );
    assert_eq!(a.peers.len() + b.peers.len() - a_before - b_before, N);

    // close of the other shard: the rejoined one serves alone.
    let out = slot();
    rb.tcp_server().close(idb, put(&out));
    wait(&mut rb, &mut b, &out).unwrap();
    let a_before = a.peers.len();
    let last = clients(addr, 32);
    settle(&mut [(&mut ra, &mut a), (&mut rb, &mut b)]);
    assert_eq!(a.peers.len() - a_before, 32);
    for c in more.iter().chain(&last) {
        assert_eq!(outcome(c), Ok(()));
    }
}

#[test]
fn a_port_is_shared_only_between_servers_that_all_ask_for_it() {
    let _serial = serial();
    let (mut r, mut s) = shard();
    // A shared port refuses a server without the property...
    let (shared, addr) = listen(&mut r, &mut s, 0, true);
    let port = addr.unwrap().port();
    let (_, plain) = listen(&mut r, &mut s, port, false);
    assert_last_error(&plain, "net::ERR_ADDRESS_IN_USE", Some(-147));
    // ...and a port held without it refuses one with it.
    let (_, held) = listen(&mut r, &mut s, 0, false);
    let held_port = held.unwrap().port();
    let (_, sharing) = listen(&mut r, &mut s, held_port, true);
    assert_last_error(&sharing, "net::ERR_ADDRESS_IN_USE", Some(-147));

    // get_info reports the property; update changes it for the next listen.
    let out = slot();
    r.tcp_server().get_info(shared, put(&out));
    assert!(wait(&mut r, &mut s, &out).unwrap().reuse_port);
    let id = create_server(&mut r, &mut s, SocketProperties::default());
    let out = slot();
    r.tcp_server()
        .update(id, SocketProperties::new().reuse_port(true), put(&out));
    wait(&mut r, &mut s, &out).unwrap();
    let out = slot();
    r.tcp_server()
        .listen(id, "127.0.0.1", i32::from(port), None, put(&out));
    wait(&mut r, &mut s, &out).expect("joins the shared port after update");
}
