//! Security: permissions are checked before any syscall or validation, every fd the
//! reactor opens is close-on-exec (and non-blocking where that matters), and ids are never
//! reused over 100,000 create/close cycles.

use std::collections::BTreeMap;
use std::net::TcpStream;
use std::os::fd::AsRawFd;

use crate::util::*;
use chrome_sockets::fault_injection::{self, Syscall};
use chrome_sockets::tcp::SocketProperties as TcpProps;
use chrome_sockets::tcp_server::SocketProperties as ServerProps;
use chrome_sockets::{Reactor, ReactorBuilder, ServerSocketId, SocketsManifest, TcpSocketId};

#[test]
fn permission_is_checked_before_any_syscall_or_validation() {
    let _serial = serial();
    let _faults = Faults;
    // design §5: a manifest with no patterns denies every listen and connect.
    let mut r: Reactor<()> = ReactorBuilder::new()
        .manifest(SocketsManifest::new())
        .build()
        .unwrap();
    let server = create_server(&mut r, &mut (), ServerProps::default());
    let tcp = create(&mut r, &mut (), TcpProps::default());
    let before = fds_by_kind();
    // Armed faults prove no syscall is reached: they are still pending afterwards.
    fault_injection::inject(Syscall::Socket, libc::EMFILE, 1);
    fault_injection::inject(Syscall::Connect, libc::EMFILE, 1);
    for (address, port, backlog) in [
        ("bogus address", 70000, Some(0)),
        ("127.0.0.1", 0, None),
        ("", -1, Some(-1)),
    ] {
        let res = ask(&mut r, &mut (), |r, d| {
            r.tcp_server().listen(server, address, port, backlog, d)
        });
        assert_last_error(&res, "Does not have permission", None);
    }
    // A host name is not even resolved (no resolver thread, no DNS traffic).
    for (address, port) in [
        ("no.such.host.invalid", 80),
        ("127.0.0.1", 80),
        ("::1", 65536),
    ] {
        let res = ask(&mut r, &mut (), |r, d| {
            r.tcp().connect(tcp, address, port, d)
        });
        assert_last_error(&res, "Does not have permission", None);
    }
    assert_eq!(fault_injection::pending(Syscall::Socket), 1);
    assert_eq!(fault_injection::pending(Syscall::Connect), 1);
    assert_fds_back_to(&before);
    // The socket is untouched: no address, not connected.
    let info = ask(&mut r, &mut (), |r, d| r.tcp_server().get_info(server, d)).unwrap();
    assert_eq!(info.local_address, None);
    let info = ask(&mut r, &mut (), |r, d| r.tcp().get_info(tcp, d)).unwrap();
    assert!(!info.connected);
}

#[test]
fn with_permission_validation_still_comes_before_any_syscall() {
    let _serial = serial();
    let _faults = Faults;
    let manifest = SocketsManifest::new()
        .allow_listen(["127.0.0.1:*"])
        .unwrap();
    let mut r: Reactor<()> = ReactorBuilder::new().manifest(manifest).build().unwrap();
    let server = create_server(&mut r, &mut (), ServerProps::default());
    let before = fds_by_kind();
    fault_injection::inject(Syscall::Socket, libc::EMFILE, 1);
    // Reference §6: no canonicalisation, 127.1 is not 127.0.0.1.
    let res = ask(&mut r, &mut (), |r, d| {
        r.tcp_server().listen(server, "127.1", 0, None, d)
    });
    assert_last_error(&res, "Does not have permission", None);
    // Allowed host, invalid backlog or port: -4, still before socket(2).
    for (port, backlog) in [(0, Some(0)), (65536, None)] {
        let res = ask(&mut r, &mut (), |r, d| {
            r.tcp_server().listen(server, "127.0.0.1", port, backlog, d)
        });
        assert_last_error(&res, "net::ERR_INVALID_ARGUMENT", Some(-4));
    }
    assert_eq!(fault_injection::pending(Syscall::Socket), 1);
    // A valid listen reaches socket(2), which takes the armed fault.
    let res = ask(&mut r, &mut (), |r, d| {
        r.tcp_server().listen(server, "127.0.0.1", 0, None, d)
    });
    assert_last_error(&res, "net::ERR_INSUFFICIENT_RESOURCES", Some(-12));
    assert_eq!(fault_injection::pending(Syscall::Socket), 0);
    assert_fds_back_to(&before);
}

/// The fds that appeared since `before`, minus `exclude` (the test's own client sockets).
fn opened_since(before: &BTreeMap<i32, String>, exclude: &[i32]) -> Vec<(i32, String)> {
    let after = fd_table();
    new_fds(before, &after)
        .into_iter()
        .filter(|fd| !exclude.contains(fd))
        .map(|fd| (fd, after[&fd].clone()))
        .collect()
}

#[track_caller]
fn assert_cloexec_nonblock(what: &str, fds: &[(i32, String)], expect: usize) {
    assert_eq!(fds.len(), expect, "{what}: {fds:?}");
    for (fd, target) in fds {
        let flags = fd_flags(*fd);
        assert_ne!(
            flags & O_CLOEXEC,
            0,
            "{what} fd {fd} ({target}) lacks O_CLOEXEC"
        );
        assert_ne!(
            flags & O_NONBLOCK,
            0,
            "{what} fd {fd} ({target}) lacks O_NONBLOCK"
        );
    }
}

#[test]
fn every_fd_the_reactor_opens_is_close_on_exec_and_non_blocking() {
    let _serial = serial();
    let t0 = fd_table();
    let mut rec = Rec::default();
    let mut r = recording_reactor();
    // The poll and its waker.
    let mut base = opened_since(&t0, &[]);
    base.sort_by(|a, b| a.1.cmp(&b.1));
    let kinds: Vec<&str> = base.iter().map(|(_, t)| t.as_str()).collect();
    assert_eq!(
        kinds,
        vec!["anon_inode:[eventfd]", "anon_inode:[eventpoll]"]
    );
    let (eventfd, epoll) = (base[0].0, base[1].0);
    assert_eq!(epoll, r.as_raw_fd());
    assert_cloexec_nonblock("waker eventfd", &base[..1], 1);
    // epoll_wait takes its own timeout and nothing reads the epoll fd, so O_NONBLOCK has no
    // meaning there (mio creates it with EPOLL_CLOEXEC only); close-on-exec is what matters.
    assert_ne!(fd_flags(epoll) & O_CLOEXEC, 0, "epoll fd lacks O_CLOEXEC");
    let _ = eventfd;

    let t1 = fd_table();
    let (_server, addr) = listen_on_loopback(&mut r, &mut rec);
    assert_cloexec_nonblock("listener", &opened_since(&t1, &[]), 1);

    let t2 = fd_table();
    let client = connect(addr);
    turn_until(&mut r, &mut rec, |rec| rec.accepted.len() == 1);
    assert_cloexec_nonblock("accepted", &opened_since(&t2, &[client.as_raw_fd()]), 1);

    let target = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = target.local_addr().unwrap().port() as i32;
    let t3 = fd_table();
    let tcp = create(&mut r, &mut rec, TcpProps::default());
    ask(&mut r, &mut rec, |r, d| {
        r.tcp().connect(tcp, "127.0.0.1", port, d)
    })
    .unwrap();
    let (peer, _) = target.accept().unwrap();
    assert_cloexec_nonblock("connected", &opened_since(&t3, &[peer.as_raw_fd()]), 1);
    drop((client, peer, TcpStream::connect(addr)));
}

#[test]
fn ids_are_never_reused_over_100000_create_close_cycles() {
    let _serial = serial();
    // A budget above the 2,000 tasks of each round, so two turns run a whole round (1,000
    // creates, then the 1,000 closes they queue) as they did before turns had a budget.
    let mut r: Reactor<Vec<i32>> = ReactorBuilder::new().turn_budget(2000).build().unwrap();
    let mut ids = Vec::with_capacity(100_000);
    for _ in 0..100 {
        for _ in 0..1000 {
            r.tcp_server()
                .create(ServerProps::default(), |r, ids, res| {
                    let id = res.unwrap().socket_id;
                    ids.push(id.raw());
                    r.tcp_server().close(id, |_, _, res| res.unwrap());
                });
        }
        r.turn(Some(std::time::Duration::ZERO), &mut ids).unwrap();
        r.turn(Some(std::time::Duration::ZERO), &mut ids).unwrap();
    }
    assert_eq!(ids.len(), 100_000);
    assert!(
        ids.iter().copied().eq(1..=100_000),
        "server ids 1..=100000 in order"
    );
    let mut tcp_ids = Vec::with_capacity(100_000);
    for _ in 0..100 {
        for _ in 0..1000 {
            r.tcp().create(TcpProps::default(), |r, ids, res| {
                let id = res.unwrap().socket_id;
                ids.push(id.raw());
                r.tcp().close(id, |_, _, res| res.unwrap());
            });
        }
        r.turn(Some(std::time::Duration::ZERO), &mut tcp_ids)
            .unwrap();
        r.turn(Some(std::time::Duration::ZERO), &mut tcp_ids)
            .unwrap();
    }
    assert!(
        tcp_ids.iter().copied().eq(1..=100_000),
        "tcp ids 1..=100000 in order"
    );
    // Every closed id stays dead; the next ids continue the count.
    for raw in [1, 50_000, 100_000] {
        let res = ask(&mut r, &mut ids, |r, d| {
            r.tcp_server().get_info(ServerSocketId::from_raw(raw), d)
        });
        assert_last_error(&res, "Socket not found", None);
        let res = ask(&mut r, &mut ids, |r, d| {
            r.tcp().get_info(TcpSocketId::from_raw(raw), d)
        });
        assert_last_error(&res, "Socket not found", None);
    }
    let next = ask(&mut r, &mut ids, |r, d| {
        r.tcp_server().create(ServerProps::default(), d)
    });
    assert_eq!(next.unwrap().socket_id.raw(), 100_001);
    let next = ask(&mut r, &mut ids, |r, d| {
        r.tcp().create(TcpProps::default(), d)
    });
    assert_eq!(next.unwrap().socket_id.raw(), 100_001);
}
