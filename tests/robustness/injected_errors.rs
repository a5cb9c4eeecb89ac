//! Errors loopback cannot provoke, injected through the `fault-injection` seam: the accept
//! retry set stays silent, other accept errors pause once with their code, failed
//! registrations, binds, reads, sends and connects answer with the mapped code, and no fd
//! is leaked on any of these paths.

use std::io::Read;

use crate::util::*;
use chrome_sockets::fault_injection::{self, Syscall};
use chrome_sockets::tcp::SocketProperties as TcpProps;
use chrome_sockets::tcp_server::SocketProperties as ServerProps;
use chrome_sockets::Reactor;

fn server_paused(r: &mut Reactor<Rec>, rec: &mut Rec, id: chrome_sockets::ServerSocketId) -> bool {
    ask(r, rec, |r, d| r.tcp_server().get_info(id, d))
        .unwrap()
        .paused
}

#[test]
fn accept_errors_in_the_retry_set_are_skipped_silently() {
    let _fds = FdGuard::new();
    let _faults = Faults;
    let (mut r, mut rec, server, addr) = serving(Rec::reading());
    // design §3: EPROTO, ECONNABORTED, EINTR and the per-connection network errors of
    // accept(2) are retried, never an on_accept_error (unlike Chrome, reference §7.2 (a)).
    let retry = [
        libc::EPROTO,
        libc::ECONNABORTED,
        libc::EINTR,
        libc::ENETDOWN,
        libc::ENOPROTOOPT,
        libc::EHOSTDOWN,
        libc::ENONET,
        libc::EHOSTUNREACH,
        libc::EOPNOTSUPP,
        libc::ENETUNREACH,
    ];
    for errno in retry {
        fault_injection::inject(Syscall::Accept, errno, 1);
    }
    let _client = token_client(addr, 1);
    turn_until(&mut r, &mut rec, |rec| {
        rec.received.values().map(Vec::len).sum::<usize>() == token(1).len()
    });
    assert_eq!(fault_injection::pending(Syscall::Accept), 0, "all were hit");
    assert!(rec.accept_errors.is_empty(), "{:?}", rec.accept_errors);
    assert_eq!(rec.accepted.len(), 1);
    assert!(!server_paused(&mut r, &mut rec, server));
}

#[test]
fn other_accept_errors_pause_once_with_their_code_and_resume_loses_nothing() {
    let _fds = FdGuard::new();
    let _faults = Faults;
    let (mut r, mut rec, server, addr) = serving(Rec::reading());
    let mut clients = Vec::new();
    // Reference §7.2 accept column.
    let cases = [
        (libc::ENOBUFS, -176),
        (libc::ENOMEM, -13),
        (libc::EMFILE, -12),
        (libc::ENFILE, -12),
        (libc::EPERM, -10),
        (libc::EINVAL, -4),
    ];
    for (i, (errno, code)) in cases.into_iter().enumerate() {
        fault_injection::inject(Syscall::Accept, errno, 1);
        clients.push(token_client(addr, i));
        turn_until(&mut r, &mut rec, |rec| rec.accept_errors.len() == i + 1);
        assert_eq!(rec.accept_errors[i], (server, code), "errno {errno}");
        assert!(server_paused(&mut r, &mut rec, server));
        // Paused: the queued client waits, nothing spins.
        let work = idle_work(&mut r, &mut rec, 10);
        assert_eq!((work.events, work.tasks), (0, 0), "errno {errno}");
        assert_eq!(rec.accepted.len(), i, "errno {errno}");
        // D1: resume accepts the client that waited.
        ask(&mut r, &mut rec, |r, d| {
            r.tcp_server().set_paused(server, false, d)
        })
        .unwrap();
        turn_until(&mut r, &mut rec, |rec| {
            rec.received.values().map(Vec::len).sum::<usize>() == (i + 1) * token(0).len()
        });
        assert_eq!(rec.accepted.len(), i + 1);
        assert_eq!(rec.accept_errors.len(), i + 1, "one error per fault");
    }
    let mut got: Vec<usize> = rec.received.values().flat_map(|b| tokens_in(b)).collect();
    got.sort_unstable();
    assert_eq!(got, (0..cases.len()).collect::<Vec<_>>());
}

#[test]
fn failed_registration_of_an_unpaused_accepted_socket_disconnects_it_and_closes_its_fd() {
    let _fds = FdGuard::new();
    let _faults = Faults;
    let mut r: Reactor<Rec> = Reactor::new().unwrap();
    let mut rec = Rec::default(); // accepted sockets stay paused
    record_events(&mut r);
    let (_server, addr) = listen_on_loopback(&mut r, &mut rec);
    let (id, mut client) = accept_one(&mut r, &mut rec, addr);
    let sockets_before = fds_by_kind()["socket"];

    fault_injection::inject(Syscall::Register, libc::ENOMEM, 1);
    ask(&mut r, &mut rec, |r, d| r.tcp().set_paused(id, false, d)).unwrap();
    turn_until(&mut r, &mut rec, |rec| !rec.receive_errors.is_empty());
    assert_eq!(rec.receive_errors, vec![(id, -13)]);
    let info = ask(&mut r, &mut rec, |r, d| r.tcp().get_info(id, d)).unwrap();
    assert!(!info.connected && info.paused && info.peer_address.is_none());
    assert_eq!(
        fds_by_kind()["socket"],
        sockets_before - 1,
        "its fd is closed"
    );
    let (_, err) = read_to_end_or_error(&mut client);
    assert_eq!(err, None, "the peer sees EOF");
    let sent = ask(&mut r, &mut rec, |r, d| r.tcp().send(id, b"x".to_vec(), d));
    assert_last_error(&sent, "net::ERR_SOCKET_NOT_CONNECTED", Some(-15));
    let work = idle_work(&mut r, &mut rec, 5);
    assert_eq!(rec.receive_errors.len(), 1, "{work:?}");
}

#[test]
fn failed_registration_when_resuming_a_server_pauses_it_with_one_accept_error() {
    let _fds = FdGuard::new();
    let _faults = Faults;
    let (mut r, mut rec, server, addr) = serving(Rec::reading());
    ask(&mut r, &mut rec, |r, d| {
        r.tcp_server().set_paused(server, true, d)
    })
    .unwrap();
    let _client = token_client(addr, 3);

    // The resume cannot register the listener: the server must not claim to be
    // accepting while nothing would ever accept (a silent stall). It stays paused and
    // says why once, like any accept error (design §3).
    fault_injection::inject(Syscall::Register, libc::ENOMEM, 1);
    ask(&mut r, &mut rec, |r, d| {
        r.tcp_server().set_paused(server, false, d)
    })
    .unwrap();
    turn_until(&mut r, &mut rec, |rec| !rec.accept_errors.is_empty());
    assert_eq!(rec.accept_errors, vec![(server, -13)]);
    assert!(server_paused(&mut r, &mut rec, server));
    let work = idle_work(&mut r, &mut rec, 10);
    assert_eq!((work.events, work.tasks), (0, 0));

    // The next resume works and the waiting client is delivered once.
    ask(&mut r, &mut rec, |r, d| {
        r.tcp_server().set_paused(server, false, d)
    })
    .unwrap();
    turn_until(&mut r, &mut rec, |rec| {
        rec.received.values().map(Vec::len).sum::<usize>() == token(3).len()
    });
    assert_eq!(rec.accepted.len(), 1);
    assert_eq!(rec.accept_errors.len(), 1);
}

#[test]
fn listen_failures_at_every_step_answer_the_mapped_code_and_close_the_fd() {
    let _serial = serial();
    let _faults = Faults;
    let (mut r, id, before) =
        one_socket_and_fds(|r| create_server(r, &mut (), ServerProps::default()));
    let cases = [
        (
            Syscall::Socket,
            libc::EMFILE,
            -12,
            "net::ERR_INSUFFICIENT_RESOURCES",
        ),
        (
            Syscall::Socket,
            libc::EAFNOSUPPORT,
            -109,
            "net::ERR_ADDRESS_UNREACHABLE",
        ),
        (
            Syscall::Bind,
            libc::EADDRINUSE,
            -147,
            "net::ERR_ADDRESS_IN_USE",
        ),
        (Syscall::Bind, libc::EACCES, -10, "net::ERR_ACCESS_DENIED"),
        (
            Syscall::Bind,
            libc::EADDRNOTAVAIL,
            -108,
            "net::ERR_ADDRESS_INVALID",
        ),
        (
            Syscall::Listen,
            libc::EADDRINUSE,
            -147,
            "net::ERR_ADDRESS_IN_USE",
        ),
        (
            Syscall::Listen,
            libc::ENOBUFS,
            -176,
            "net::ERR_NO_BUFFER_SPACE",
        ),
        (
            Syscall::Register,
            libc::ENOMEM,
            -13,
            "net::ERR_OUT_OF_MEMORY",
        ),
        // epoll_ctl's ENOSPC (max_user_watches) maps as Chrome maps ENOSPC.
        (
            Syscall::Register,
            libc::ENOSPC,
            -18,
            "net::ERR_FILE_NO_SPACE",
        ),
    ];
    for (call, errno, code, message) in cases {
        fault_injection::inject(call, errno, 1);
        let res = ask(&mut r, &mut (), |r, d| {
            r.tcp_server().listen(id, "127.0.0.1", 0, None, d)
        });
        assert_last_error(&res, message, Some(code));
        assert_eq!(fault_injection::pending(call), 0);
        assert_fds_back_to(&before);
        let info = ask(&mut r, &mut (), |r, d| r.tcp_server().get_info(id, d)).unwrap();
        assert_eq!(info.local_address, None, "{call:?} {errno}");
    }
    // And then it listens.
    ask(&mut r, &mut (), |r, d| {
        r.tcp_server().listen(id, "127.0.0.1", 0, None, d)
    })
    .unwrap();
}

#[test]
fn read_errors_carry_their_own_code_and_close_the_fd() {
    let _fds = FdGuard::new();
    let _faults = Faults;
    let (mut r, mut rec, _server, addr) = serving(Rec::reading());
    // D7: a read error carries its own code.
    for (i, (errno, code)) in [(libc::ECONNRESET, -101), (libc::ETIMEDOUT, -7)]
        .into_iter()
        .enumerate()
    {
        fault_injection::inject(Syscall::Read, errno, 1);
        let mut client = token_client(addr, i);
        turn_until(&mut r, &mut rec, |rec| rec.receive_errors.len() == i + 1);
        let id = rec.accepted[i].1;
        assert_eq!(rec.receive_errors[i], (id, code));
        assert!(
            !rec.received.contains_key(&id),
            "the failed read delivered nothing"
        );
        // The fd was closed with the token unread, so the kernel resets the peer.
        let (_, err) = read_to_end_or_error(&mut client);
        assert_eq!(err, Some(std::io::ErrorKind::ConnectionReset));
        let info = ask(&mut r, &mut rec, |r, d| r.tcp().get_info(id, d)).unwrap();
        assert!(!info.connected && info.paused);
    }
    // EINTR is retried: the token still arrives.
    fault_injection::inject(Syscall::Read, libc::EINTR, 1);
    let _client = token_client(addr, 9);
    turn_until(&mut r, &mut rec, |rec| rec.received.len() == 1);
    assert_eq!(tokens_in(rec.received.values().next().unwrap()), vec![9]);
    assert_eq!(rec.receive_errors.len(), 2);
}

#[test]
fn send_errors_fail_that_send_with_its_code_and_queued_sends_with_minus_15() {
    let _fds = FdGuard::new();
    let _faults = Faults;
    let (mut r, mut rec, id, mut client) = serving_one(Rec::reading());
    ask(&mut r, &mut rec, |r, d| r.tcp().set_paused(id, false, d)).unwrap();

    // A first send that cannot finish at once, then one queued behind it, then the fault.
    fault_injection::inject(Syscall::Send, libc::EPIPE, 1);
    let results = send_all(&mut r, &mut rec, id, vec![vec![b'x'; 1], vec![b'x'; 10]]);
    // Reference §3.8 step 5 / D9: the failing send gets the write's code (EPIPE → -101
    // here, documented deviation), the queued one -15, then on_receive_error -100.
    assert_last_error(&results[0], "net::ERR_CONNECTION_RESET", Some(-101));
    assert_last_error(&results[1], "net::ERR_SOCKET_NOT_CONNECTED", Some(-15));
    turn_until(&mut r, &mut rec, |rec| !rec.receive_errors.is_empty());
    assert_eq!(rec.receive_errors, vec![(id, -100)]);
    let mut buf = [0u8; 16];
    assert_eq!(
        client.read(&mut buf).unwrap(),
        0,
        "nothing was written, then EOF"
    );
}

#[test]
fn connect_errors_use_the_connect_column() {
    let _serial = serial();
    let _faults = Faults;
    let (mut r, id, before) = one_socket_and_fds(|r| create(r, &mut (), TcpProps::default()));
    // Reference §7.2 connect column.
    for (errno, code) in [
        (libc::ENETUNREACH, -109),
        (libc::EACCES, -138),
        (libc::ETIMEDOUT, -118),
        (libc::EMFILE, -12),
        (libc::EPROTO, -104),
    ] {
        fault_injection::inject(Syscall::Connect, errno, 1);
        let res = ask(&mut r, &mut (), |r, d| {
            r.tcp().connect(id, "127.0.0.1", 9, d)
        });
        assert_eq!(
            res.unwrap_err().code().map(|c| c.code()),
            Some(code),
            "errno {errno}"
        );
        assert_fds_back_to(&before);
    }
    // A failed registration of the connecting fd: mapped code, fd closed.
    let target = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = target.local_addr().unwrap().port() as i32;
    let before = fds_by_kind();
    fault_injection::inject(Syscall::Register, libc::ENOMEM, 1);
    let res = ask(&mut r, &mut (), |r, d| {
        r.tcp().connect(id, "127.0.0.1", port, d)
    });
    assert_last_error(&res, "net::ERR_OUT_OF_MEMORY", Some(-13));
    assert_fds_back_to(&before);
    ask(&mut r, &mut (), |r, d| {
        r.tcp().connect(id, "127.0.0.1", port, d)
    })
    .unwrap();
}

#[test]
fn failed_registration_when_a_send_must_wait_fails_that_send_and_closes_the_fd() {
    let _fds = FdGuard::new();
    let _faults = Faults;
    let mut r: Reactor<Rec> = Reactor::new().unwrap();
    let mut rec = Rec::default(); // accepted sockets stay paused: never registered
    record_events(&mut r);
    let (_server, addr) = listen_on_loopback(&mut r, &mut rec);
    let (id, mut client) = accept_one(&mut r, &mut rec, addr);
    // The peer does not read, so the send would block and must register for
    // writability; that registration fails.
    fault_injection::inject(Syscall::Register, libc::ENOMEM, 1);
    let results = send_all(
        &mut r,
        &mut rec,
        id,
        vec![vec![b'y'; 32 << 20], vec![b'y'; 1]],
    );
    assert_last_error(&results[0], "net::ERR_OUT_OF_MEMORY", Some(-13));
    assert_last_error(&results[1], "net::ERR_SOCKET_NOT_CONNECTED", Some(-15));
    // Paused, so no on_receive_error (reference §3.8 step 5 only for a reading socket).
    idle_work(&mut r, &mut rec, 5);
    assert!(rec.receive_errors.is_empty());
    let info = ask(&mut r, &mut rec, |r, d| r.tcp().get_info(id, d)).unwrap();
    assert!(!info.connected);
    // The peer gets what was written before the failure, then the fd's close.
    let (data, _) = read_to_end_or_error(&mut client);
    assert!(data.len() < 32 << 20 && data.iter().all(|&b| b == b'y'));
}

#[test]
fn a_resolver_thread_that_cannot_start_fails_the_connect_with_12_not_only_a_log_line() {
    let _fds = FdGuard::new();
    let _faults = Faults;
    let mut r: Reactor<()> = Reactor::new().unwrap();
    let id = create(&mut r, &mut (), TcpProps::default());
    let refused = closed_port();
    // No resolver thread runs yet and the first cannot start: the connect hears it.
    fault_injection::inject(Syscall::SpawnThread, libc::EAGAIN, 1);
    let res = ask(&mut r, &mut (), |r, d| {
        r.tcp().connect(id, "localhost", refused, d)
    });
    assert_last_error(&res, "net::ERR_INSUFFICIENT_RESOURCES", Some(-12));
    assert_eq!(fault_injection::pending(Syscall::SpawnThread), 0);
    // The socket is left unconnected and connects again (a thread starts this time).
    let res = ask(&mut r, &mut (), |r, d| {
        r.tcp().connect(id, "localhost", refused, d)
    });
    assert_last_error(&res, "net::ERR_CONNECTION_REFUSED", Some(-102));
    // With a thread running, more threads failing to start leave the lookups queued for
    // it: every connect is answered as usual.
    fault_injection::inject(Syscall::SpawnThread, libc::EAGAIN, 1000);
    let answered = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    for _ in 0..50 {
        let id = create(&mut r, &mut (), TcpProps::default());
        let out = answered.clone();
        r.tcp().connect(id, "localhost", refused, move |_, _, res| {
            out.borrow_mut()
                .push(res.map_err(|e| e.code().map(|c| c.code())))
        });
    }
    turn_until(&mut r, &mut (), |_| answered.borrow().len() == 50);
    assert!(
        answered.borrow().iter().all(|res| *res == Err(Some(-102))),
        "{:?}",
        answered.borrow()
    );
}
