//! Bad arguments: unknown, stale and cross-namespace ids, malformed addresses, ports and
//! backlogs at and beyond their limits, huge and non-ASCII names. Every answer is Chrome's
//! message and code, and no bad call opens an fd.

use crate::util::*;
use chrome_sockets::tcp::SocketProperties as TcpProps;
use chrome_sockets::tcp_server::SocketProperties as ServerProps;
use chrome_sockets::{LastError, Reactor, ServerSocketId, TcpSocketId};

type R = Reactor<()>;

/// Every tcpServer call taking an id answers `id` with "Socket not found" and no code.
#[track_caller]
fn assert_server_calls_not_found(r: &mut R, id: ServerSocketId) {
    let nf = |res: &Result<(), LastError>| assert_last_error(res, "Socket not found", None);
    nf(&ask(r, &mut (), |r, d| {
        r.tcp_server().update(id, ServerProps::new().name("x"), d)
    }));
    nf(&ask(r, &mut (), |r, d| {
        r.tcp_server().set_paused(id, true, d)
    }));
    nf(&ask(r, &mut (), |r, d| {
        r.tcp_server().set_paused(id, false, d)
    }));
    nf(&ask(r, &mut (), |r, d| {
        r.tcp_server().listen(id, "127.0.0.1", 0, None, d)
    }));
    // Id lookup comes before address validation (reference §1.4 order).
    nf(&ask(r, &mut (), |r, d| {
        r.tcp_server().listen(id, "not an address", -1, Some(0), d)
    }));
    nf(&ask(r, &mut (), |r, d| r.tcp_server().disconnect(id, d)));
    nf(&ask(r, &mut (), |r, d| r.tcp_server().close(id, d)));
    let info = ask(r, &mut (), |r, d| r.tcp_server().get_info(id, d));
    assert_last_error(&info, "Socket not found", None);
}

/// Every tcp call taking an id answers `id` with Chrome's "Socket not found" shape.
#[track_caller]
fn assert_tcp_calls_not_found(r: &mut R, id: TcpSocketId) {
    let nf = |res: &Result<(), LastError>| assert_last_error(res, "Socket not found", None);
    nf(&ask(r, &mut (), |r, d| {
        r.tcp().update(id, TcpProps::new().name("x"), d)
    }));
    nf(&ask(r, &mut (), |r, d| r.tcp().set_paused(id, false, d)));
    nf(&ask(r, &mut (), |r, d| r.tcp().set_paused(id, true, d)));
    // setKeepAlive / setNoDelay: ErrorWithCode(-2, "Socket not found") (reference §3).
    let ka = ask(r, &mut (), |r, d| r.tcp().set_keep_alive(id, true, 1, d));
    assert_last_error(&ka, "Socket not found", Some(-2));
    let nd = ask(r, &mut (), |r, d| r.tcp().set_no_delay(id, true, d));
    assert_last_error(&nd, "Socket not found", Some(-2));
    nf(&ask(r, &mut (), |r, d| {
        r.tcp().connect(id, "127.0.0.1", 9, d)
    }));
    nf(&ask(r, &mut (), |r, d| r.tcp().disconnect(id, d)));
    let sent = ask(r, &mut (), |r, d| r.tcp().send(id, b"x".to_vec(), d));
    assert_last_error(&sent, "Socket not found", None);
    nf(&ask(r, &mut (), |r, d| r.tcp().close(id, d)));
    let info = ask(r, &mut (), |r, d| r.tcp().get_info(id, d));
    assert_last_error(&info, "Socket not found", None);
}

#[test]
fn unknown_stale_and_cross_namespace_ids_get_socket_not_found_and_open_no_fd() {
    let _serial = serial();
    let mut r: R = Reactor::new().unwrap();
    // Servers 1..=3 (3 closed again), tcp sockets 1..=6 (6 closed again).
    let servers: Vec<_> = (0..3)
        .map(|_| create_server(&mut r, &mut (), ServerProps::default()))
        .collect();
    let tcps: Vec<_> = (0..6)
        .map(|_| create(&mut r, &mut (), TcpProps::default()))
        .collect();
    assert_eq!(servers.last().unwrap().raw(), 3);
    assert_eq!(tcps.last().unwrap().raw(), 6);
    let stale_server = servers[2];
    let stale_tcp = tcps[5];
    ask(&mut r, &mut (), |r, d| {
        r.tcp_server().close(stale_server, d)
    })
    .unwrap();
    ask(&mut r, &mut (), |r, d| r.tcp().close(stale_tcp, d)).unwrap();

    let before = fds_by_kind();
    // Ids never issued, of every sign and size.
    for raw in [0, -1, i32::MIN, i32::MAX, 999] {
        assert_server_calls_not_found(&mut r, ServerSocketId::from_raw(raw));
        assert_tcp_calls_not_found(&mut r, TcpSocketId::from_raw(raw));
    }
    // Stale ids: closed, and never handed to anyone else (ids are not reused, §4).
    assert_server_calls_not_found(&mut r, stale_server);
    assert_tcp_calls_not_found(&mut r, stale_tcp);
    // Cross-namespace: tcp id 5 is live but no server 5 exists, and vice versa (§4: each
    // namespace only looks in its own table).
    assert_server_calls_not_found(&mut r, ServerSocketId::from_raw(tcps[4].raw()));
    let not_a_tcp = create_server(&mut r, &mut (), ServerProps::default()); // server 4; tcp 4 is live, so use server 7 below
    assert_eq!(not_a_tcp.raw(), 4);
    for _ in 0..3 {
        create_server(&mut r, &mut (), ServerProps::default());
    }
    // Server 7 is live, tcp 7 was never issued.
    assert_tcp_calls_not_found(&mut r, TcpSocketId::from_raw(7));
    assert_fds_back_to(&before);

    // The live sockets were not touched by any of it.
    let live_servers = ask(&mut r, &mut (), |r, d| r.tcp_server().get_sockets(d)).unwrap();
    let ids: Vec<i32> = live_servers.iter().map(|s| s.socket_id.raw()).collect();
    assert_eq!(ids, vec![1, 2, 4, 5, 6, 7]);
    assert!(live_servers.iter().all(|s| s.name.is_none() && !s.paused));
    let live_tcps = ask(&mut r, &mut (), |r, d| r.tcp().get_sockets(d)).unwrap();
    let ids: Vec<i32> = live_tcps.iter().map(|s| s.socket_id.raw()).collect();
    assert_eq!(ids, vec![1, 2, 3, 4, 5]);
    assert!(live_tcps.iter().all(|s| s.name.is_none() && !s.paused));
}

#[test]
fn malformed_listen_addresses_fail_with_minus_4_and_open_no_fd() {
    let _serial = serial();
    let mut r: R = Reactor::new().unwrap();
    let id = create_server(&mut r, &mut (), ServerProps::default());
    let huge_digits = "1".repeat(1 << 20);
    let huge_dots = "1.".repeat(1 << 19);
    let huge_colons = ":".repeat(1 << 20);
    let huge_v6 = "0:".repeat(1 << 19) + "1";
    let shapes: Vec<&str> = vec![
        "",
        " ",
        "localhost",
        "example.com",
        "[::1]",
        "[127.0.0.1]",
        "::1%lo",
        "fe80::1%1",
        "127.0.0.1:80",
        "[::1]:80",
        " 127.0.0.1",
        "127.0.0.1 ",
        "127.0.0.1\n",
        "127.0.0.1\0",
        "\0",
        "1.2.3.4.5",
        "256.0.0.1",
        "1.2.3.256",
        "4294967296",
        "99999999999999999999999999",
        // ("0x" alone is valid: the URL grammar reads it as 0, so 0.0.0.0.)
        "0xg.0.0.1",
        "1..2",
        "1.2.3.-4",
        "-1",
        "+1",
        "1e3",
        "::::",
        ":::1",
        "1::2::3",
        "gggg::1",
        "12345::1",
        "1:2:3:4:5:6:7:8:9",
        "::ffff:1.2.3.4.5",
        "::ffff:1.2.3",
        "💥",
        "١٢٧.٠.٠.١",
        "127.0.0.１",
        &huge_digits,
        &huge_dots,
        &huge_colons,
        &huge_v6,
    ];
    let before = fds_by_kind();
    for address in shapes {
        let res = ask(&mut r, &mut (), |r, d| {
            r.tcp_server().listen(id, address, 0, None, d)
        });
        let shown: String = address.chars().take(40).collect();
        match &res {
            Err(e) => {
                assert_eq!(e.message(), "net::ERR_INVALID_ARGUMENT", "{shown:?}");
                assert_eq!(e.code().map(|c| c.code()), Some(-4), "{shown:?}");
            }
            Ok(()) => panic!("listen({shown:?}) succeeded"),
        }
    }
    assert_fds_back_to(&before);
    let info = ask(&mut r, &mut (), |r, d| r.tcp_server().get_info(id, d)).unwrap();
    assert_eq!(info.local_address, None);
    assert_eq!(info.local_port, None);
}

#[test]
fn listen_ports_and_backlogs_at_and_beyond_their_limits() {
    let _serial = serial();
    let (mut r, id, before) =
        one_socket_and_fds(|r| create_server(r, &mut (), ServerProps::default()));
    // D3: a port outside 0..=65535 is -4, never truncated (65536 would otherwise be 0).
    for port in [i32::MIN, -1, 65536, 70000, i32::MAX] {
        let res = ask(&mut r, &mut (), |r, d| {
            r.tcp_server().listen(id, "127.0.0.1", port, None, d)
        });
        assert_last_error(&res, "net::ERR_INVALID_ARGUMENT", Some(-4));
    }
    // D10: backlog 0 or negative is -4.
    for backlog in [i32::MIN, -1, 0] {
        let res = ask(&mut r, &mut (), |r, d| {
            r.tcp_server().listen(id, "127.0.0.1", 0, Some(backlog), d)
        });
        assert_last_error(&res, "net::ERR_INVALID_ARGUMENT", Some(-4));
    }
    assert_fds_back_to(&before);

    // Positive backlogs of any size reach listen(2), which clamps them to somaxconn.
    for backlog in [1, 65535, 65536, i32::MAX] {
        ask(&mut r, &mut (), |r, d| {
            r.tcp_server().listen(id, "127.0.0.1", 0, Some(backlog), d)
        })
        .unwrap_or_else(|e| panic!("backlog {backlog}: {e}"));
        let info = ask(&mut r, &mut (), |r, d| r.tcp_server().get_info(id, d)).unwrap();
        let port = info.local_port.unwrap();
        assert_ne!(port, 0);
        let _client = connect(format!("127.0.0.1:{port}").parse().unwrap());
        ask(&mut r, &mut (), |r, d| r.tcp_server().disconnect(id, d)).unwrap();
    }
    // The highest port is valid: it listens, or it is taken by someone else on this machine.
    let res = ask(&mut r, &mut (), |r, d| {
        r.tcp_server().listen(id, "127.0.0.1", 65535, None, d)
    });
    match res {
        Ok(()) => {
            let info = ask(&mut r, &mut (), |r, d| r.tcp_server().get_info(id, d)).unwrap();
            assert_eq!(info.local_port, Some(65535));
            ask(&mut r, &mut (), |r, d| r.tcp_server().disconnect(id, d)).unwrap();
        }
        Err(e) => assert_eq!(e.code().map(|c| c.code()), Some(-147), "{e}"),
    }
    assert_fds_back_to(&before);
}

#[test]
fn connect_ports_beyond_limits_fail_with_minus_4_and_open_no_fd() {
    let _serial = serial();
    let (mut r, id, before) = one_socket_and_fds(|r| create(r, &mut (), TcpProps::default()));
    // D3 for connect: checked before any resolution or socket.
    for port in [i32::MIN, -1, 65536, i32::MAX] {
        for address in ["127.0.0.1", "::1", "no.such.host.invalid"] {
            let res = ask(&mut r, &mut (), |r, d| {
                r.tcp().connect(id, address, port, d)
            });
            assert_last_error(&res, "net::ERR_INVALID_ARGUMENT", Some(-4));
        }
    }
    assert_fds_back_to(&before);
    let info = ask(&mut r, &mut (), |r, d| r.tcp().get_info(id, d)).unwrap();
    assert!(!info.connected);
}

#[test]
fn calls_on_unconnected_sockets_answer_like_chrome() {
    let _serial = serial();
    let (mut r, id, before) = one_socket_and_fds(|r| create(r, &mut (), TcpProps::default()));
    // Reference §3.8: not connected → -15; §3.4/3.5: no connection → -2 "net::ERR_FAILED".
    let sent = ask(&mut r, &mut (), |r, d| r.tcp().send(id, b"x".to_vec(), d));
    assert_last_error(&sent, "net::ERR_SOCKET_NOT_CONNECTED", Some(-15));
    let empty = ask(&mut r, &mut (), |r, d| r.tcp().send(id, Vec::new(), d));
    assert_last_error(&empty, "net::ERR_SOCKET_NOT_CONNECTED", Some(-15));
    let ka = ask(&mut r, &mut (), |r, d| {
        r.tcp().set_keep_alive(id, true, -5, d)
    });
    assert_last_error(&ka, "net::ERR_FAILED", Some(-2));
    let nd = ask(&mut r, &mut (), |r, d| r.tcp().set_no_delay(id, false, d));
    assert_last_error(&nd, "net::ERR_FAILED", Some(-2));
    ask(&mut r, &mut (), |r, d| r.tcp().disconnect(id, d)).unwrap();
    ask(&mut r, &mut (), |r, d| r.tcp().set_paused(id, false, d)).unwrap();
    // The write quota is checked before the id (reference §3.8 step 1), even for a dead id.
    let too_much = vec![0u8; 200 * 1024 * 1024 + 1];
    let quota = ask(&mut r, &mut (), |r, d| {
        r.tcp().send(TcpSocketId::from_raw(i32::MAX), too_much, d)
    });
    assert_last_error(&quota, "Exceeded write quota.", None);
    assert_fds_back_to(&before);
}

#[test]
fn keep_alive_delays_the_os_refuses_fail_with_minus_2_on_a_connected_socket() {
    let _serial = serial();
    let (mut r, mut rec, _server, addr) = serving(Rec::default());
    let (client, _client) = accept_one(&mut r, &mut rec, addr);
    // TCP_KEEPIDLE accepts 1..=32767 seconds: negative and huge delays are EINVAL → -2.
    for delay in [-1, i32::MIN, i32::MAX] {
        let res = ask(&mut r, &mut rec, |r, d| {
            r.tcp().set_keep_alive(client, true, delay, d)
        });
        assert_last_error(&res, "net::ERR_FAILED", Some(-2));
    }
    ask(&mut r, &mut rec, |r, d| {
        r.tcp().set_keep_alive(client, true, 1000, d)
    })
    .unwrap();
    ask(&mut r, &mut rec, |r, d| {
        r.tcp().set_keep_alive(client, false, i32::MIN, d)
    })
    .unwrap();
    // A connected (accepted) socket cannot connect again: -23 (reference §3.6 step 5).
    let again = ask(&mut r, &mut rec, |r, d| {
        r.tcp()
            .connect(client, &addr.ip().to_string(), addr.port() as i32, d)
    });
    assert_last_error(&again, "net::ERR_SOCKET_IS_CONNECTED", Some(-23));
}

#[test]
fn huge_and_non_ascii_names_round_trip_through_get_info() {
    let _serial = serial();
    let mut r: R = Reactor::new().unwrap();
    let huge = "n".repeat(1 << 20);
    let odd = "héllo wörld ✓ 🦀 \u{0} \u{202e}rtl \u{feff}";
    let before = fds_by_kind();
    for name in [huge.as_str(), odd] {
        let server = create_server(&mut r, &mut (), ServerProps::new().name(name));
        let info = ask(&mut r, &mut (), |r, d| r.tcp_server().get_info(server, d)).unwrap();
        assert_eq!(info.name.as_deref(), Some(name));
        let tcp = create(
            &mut r,
            &mut (),
            TcpProps::new().name(name).buffer_size(i32::MIN),
        );
        let info = ask(&mut r, &mut (), |r, d| r.tcp().get_info(tcp, d)).unwrap();
        assert_eq!(info.name.as_deref(), Some(name));
        assert_eq!(
            info.buffer_size, None,
            "a negative buffer size is not reported"
        );
        // Update to the name and back to empty: Chrome omits an empty name.
        ask(&mut r, &mut (), |r, d| {
            r.tcp().update(tcp, TcpProps::new().name(""), d)
        })
        .unwrap();
        let info = ask(&mut r, &mut (), |r, d| r.tcp().get_info(tcp, d)).unwrap();
        assert_eq!(info.name, None);
        ask(&mut r, &mut (), |r, d| {
            r.tcp_server()
                .update(server, ServerProps::new().name(name.to_owned() + "!"), d)
        })
        .unwrap();
        let all = ask(&mut r, &mut (), |r, d| r.tcp_server().get_sockets(d)).unwrap();
        let listed = all.iter().find(|s| s.socket_id == server).unwrap();
        assert_eq!(listed.name.as_deref(), Some(format!("{name}!").as_str()));
        ask(&mut r, &mut (), |r, d| r.tcp_server().close(server, d)).unwrap();
        ask(&mut r, &mut (), |r, d| r.tcp().close(tcp, d)).unwrap();
    }
    assert_fds_back_to(&before);
}

#[test]
fn huge_buffer_size_reads_are_capped_and_deliver_every_byte() {
    let _serial = serial();
    let (mut r, mut rec, id, mut client) = serving_one(Rec::default());
    // bufferSize i32::MAX must not make the reactor allocate 2 GiB per read.
    resume_with_buffer_size(&mut r, &mut rec, id, i32::MAX);
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    use std::io::Write;
    let writer = {
        let data = data.clone();
        std::thread::spawn(move || {
            client.write_all(&data).unwrap();
            client
        })
    };
    turn_until(&mut r, &mut rec, |rec| {
        rec.received.get(&id).map_or(0, Vec::len) == data.len()
    });
    drop(writer.join().unwrap());
    assert_eq!(rec.received[&id], data);
    let info = ask(&mut r, &mut rec, |r, d| r.tcp().get_info(id, d)).unwrap();
    assert_eq!(info.buffer_size, Some(i32::MAX));
}
