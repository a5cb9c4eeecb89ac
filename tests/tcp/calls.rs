//! `chrome.sockets.tcp` call results and socket state: connect outcomes, keep-alive and
//! no-delay, `get_info` of created, connected and accepted sockets, D2 and D5; no fd leaks.

use std::cell::Cell;
use std::rc::Rc;

use crate::util::*;
use chrome_sockets::tcp::SocketProperties;
use chrome_sockets::{Reactor, TcpSocketId};

#[test]
fn unknown_id_gets_socket_not_found_without_code() {
    with_recorder(|mut r, mut app| {
        let id = TcpSocketId::from_raw(42);
        let nf = "Socket not found";
        let res = ask(&mut r, &mut app, |r, cb| {
            r.tcp().update(id, SocketProperties::new(), cb)
        });
        assert_last_error(&res, nf, None);
        let res = ask(&mut r, &mut app, |r, cb| r.tcp().set_paused(id, false, cb));
        assert_last_error(&res, nf, None);
        let res = ask(&mut r, &mut app, |r, cb| {
            r.tcp().connect(id, "127.0.0.1", 1, cb)
        });
        assert_last_error(&res, nf, None);
        let res = ask(&mut r, &mut app, |r, cb| r.tcp().disconnect(id, cb));
        assert_last_error(&res, nf, None);
        let res = send(&mut r, &mut app, id, b"x");
        assert_last_error(&res, nf, None);
        let res = ask(&mut r, &mut app, |r, cb| r.tcp().close(id, cb));
        assert_last_error(&res, nf, None);
        let res = ask(&mut r, &mut app, |r, cb| r.tcp().get_info(id, cb));
        assert_last_error(&res, nf, None);
    });
}

/// `set_keep_alive(id, true, delay)` and then `set_no_delay(id, true)` both fail with -2 and
/// `message`.
#[track_caller]
fn keep_alive_and_no_delay_fail(
    r: &mut Reactor<Rec>,
    app: &mut Rec,
    id: TcpSocketId,
    delay: i32,
    message: &str,
) {
    let keep_alive = ask(r, app, |r, cb| r.tcp().set_keep_alive(id, true, delay, cb));
    assert_last_error(&keep_alive, message, Some(-2));
    let no_delay = ask(r, app, |r, cb| r.tcp().set_no_delay(id, true, cb));
    assert_last_error(&no_delay, message, Some(-2));
}

#[test]
fn keep_alive_and_no_delay_on_unknown_id_fail_with_2_socket_not_found() {
    // §3.4: unknown id is ErrorWithCode(-2, "Socket not found") for these two.
    with_recorder(|mut r, mut app| {
        let id = TcpSocketId::from_raw(7);
        keep_alive_and_no_delay_fail(&mut r, &mut app, id, 0, "Socket not found");
    });
}

#[test]
fn keep_alive_and_no_delay_on_unconnected_socket_fail_with_2_err_failed() {
    // §3.4: no underlying connection gives -2 "net::ERR_FAILED".
    with_recorder(|mut r, mut app| {
        let id = create(&mut r, &mut app, SocketProperties::new());
        keep_alive_and_no_delay_fail(&mut r, &mut app, id, 1000, "net::ERR_FAILED");
    });
}

#[test]
fn keep_alive_and_no_delay_on_connected_and_accepted_sockets_succeed() {
    with_recorder(|mut r, mut app| {
        let listener = std_listener();
        let (connected, _peer) =
            connected_pair(&mut r, &mut app, SocketProperties::new(), &listener);
        let (accepted, _client) = accepted_pair(&mut r, &mut app, "127.0.0.1");
        for id in [connected, accepted] {
            // T-tcp: setKeepAlive(id, true, 1000) answers 0.
            let res = ask(&mut r, &mut app, |r, cb| {
                r.tcp().set_keep_alive(id, true, 1000, cb)
            });
            assert_eq!(res, Ok(()));
            let res = ask(&mut r, &mut app, |r, cb| {
                r.tcp().set_keep_alive(id, false, 0, cb)
            });
            assert_eq!(res, Ok(()));
            let res = ask(&mut r, &mut app, |r, cb| {
                r.tcp().set_no_delay(id, false, cb)
            });
            assert_eq!(res, Ok(()));
            let res = ask(&mut r, &mut app, |r, cb| r.tcp().set_no_delay(id, true, cb));
            assert_eq!(res, Ok(()));
        }
    });
}

#[test]
fn keep_alive_with_negative_delay_fails_with_2_err_failed() {
    // §3.4: a refused setsockopt (TCP_KEEPIDLE = -1 is EINVAL) is -2 "net::ERR_FAILED".
    with_accepted(|mut r, mut app, id, _client| {
        let res = ask(&mut r, &mut app, |r, cb| {
            r.tcp().set_keep_alive(id, true, -1, cb)
        });
        assert_last_error(&res, "net::ERR_FAILED", Some(-2));
        // The socket is still fine.
        assert!(info(&mut r, &mut app, id).connected);
    });
}

#[test]
fn created_socket_info_has_properties_and_no_addresses() {
    with_recorder(|mut r, mut app| {
        let id = create(
            &mut r,
            &mut app,
            SocketProperties::new().name("n").buffer_size(7),
        );
        let i = info(&mut r, &mut app, id);
        assert_eq!(i.socket_id, id);
        assert_eq!(i.name.as_deref(), Some("n"));
        assert_eq!(i.buffer_size, Some(7));
        assert!(!i.persistent);
        assert!(!i.paused, "created sockets start unpaused");
        assert!(!i.connected);
        assert_eq!(i.local_address, None);
        assert_eq!(i.local_port, None);
        assert_eq!(i.peer_address, None);
        assert_eq!(i.peer_port, None);
        // §3.12: bufferSize only if set > 0; name only if non-empty.
        let res = ask(&mut r, &mut app, |r, cb| {
            r.tcp()
                .update(id, SocketProperties::new().buffer_size(0).name(""), cb)
        });
        assert_eq!(res, Ok(()));
        let i = info(&mut r, &mut app, id);
        assert_eq!(i.buffer_size, None);
        assert_eq!(i.name, None);
    });
}

#[test]
fn accepted_socket_info_reports_both_addresses_connected_and_paused() {
    // D2: accepted sockets report local_address/local_port too.
    with_recorder(|mut r, mut app| {
        let (_server, addr) = listen_on_loopback(&mut r, &mut app);
        let (id, client) = accept_one(&mut r, &mut app, addr);
        let i = info(&mut r, &mut app, id);
        assert!(i.connected);
        assert!(i.paused, "accepted sockets start paused");
        assert_eq!(i.local_address.as_deref(), Some("127.0.0.1"));
        assert_eq!(i.local_port, Some(addr.port()));
        let client_addr = client.local_addr().unwrap();
        assert_eq!(i.peer_address.as_deref(), Some("127.0.0.1"));
        assert_eq!(i.peer_port, Some(client_addr.port()));
        let all = ask(&mut r, &mut app, |r, cb| r.tcp().get_sockets(cb)).unwrap();
        assert_eq!(all, vec![i]);
    });
}

#[test]
fn ipv4_client_on_dual_stack_listener_reads_as_ffff_7f00_1() {
    // §3.12: IPv4-mapped addresses print as `::ffff:7f00:1`, never `::ffff:127.0.0.1`.
    with_recorder(|mut r, mut app| {
        let (_server, addr) = listening_server(&mut r, &mut app, "::");
        let v4 = std::net::SocketAddr::from(([127, 0, 0, 1], addr.port()));
        let (id, client) = accept_one(&mut r, &mut app, v4);
        let i = info(&mut r, &mut app, id);
        assert_eq!(i.peer_address.as_deref(), Some("::ffff:7f00:1"));
        assert_eq!(i.peer_port, Some(client.local_addr().unwrap().port()));
        assert_eq!(i.local_address.as_deref(), Some("::ffff:7f00:1"));
        assert_eq!(i.local_port, Some(addr.port()));
    });
}

#[test]
fn connected_socket_info_reports_addresses_until_disconnect() {
    with_recorder(|mut r, mut app| {
        let listener = std_listener();
        let (id, peer) = connected_pair(&mut r, &mut app, SocketProperties::new(), &listener);
        let i = info(&mut r, &mut app, id);
        assert!(i.connected);
        assert!(!i.paused);
        assert_eq!(i.peer_address.as_deref(), Some("127.0.0.1"));
        assert_eq!(i.peer_port, Some(listener.local_addr().unwrap().port()));
        assert_eq!(i.local_address.as_deref(), Some("127.0.0.1"));
        assert_eq!(i.local_port, Some(peer.peer_addr().unwrap().port()));
        assert_eq!(
            ask(&mut r, &mut app, |r, cb| r.tcp().disconnect(id, cb)),
            Ok(())
        );
        let i = info(&mut r, &mut app, id);
        assert!(!i.connected);
        assert_eq!(
            (i.local_address, i.local_port, i.peer_address, i.peer_port),
            (None, None, None, None)
        );
    });
}

#[test]
fn connect_to_closed_port_fails_with_102_connection_refused() {
    with_recorder(|mut r, mut app| {
        let id = create(&mut r, &mut app, SocketProperties::new());
        let port = closed_port();
        let res = ask(&mut r, &mut app, |r, cb| {
            r.tcp().connect(id, "127.0.0.1", port, cb)
        });
        assert_last_error(&res, "net::ERR_CONNECTION_REFUSED", Some(-102));
        assert!(!info(&mut r, &mut app, id).connected);
    });
}

#[test]
fn connect_twice_fails_with_23_and_keeps_the_connection() {
    with_recorder(|mut r, mut app| {
        let listener = std_listener();
        let (id, mut peer) = connected_pair(&mut r, &mut app, SocketProperties::new(), &listener);
        let port = listener.local_addr().unwrap().port() as i32;
        let res = ask(&mut r, &mut app, |r, cb| {
            r.tcp().connect(id, "127.0.0.1", port, cb)
        });
        assert_last_error(&res, "net::ERR_SOCKET_IS_CONNECTED", Some(-23));
        // The first connection still carries data.
        let sent = send(&mut r, &mut app, id, b"ok");
        assert_eq!(sent.unwrap(), 2);
        let mut buf = [0u8; 2];
        std::io::Read::read_exact(&mut peer, &mut buf).unwrap();
        assert_eq!(&buf, b"ok");
    });
}

#[test]
fn connect_on_accepted_socket_fails_with_23() {
    // §3.6 step 5: accepted sockets count as connected.
    with_accepted(|mut r, mut app, id, client| {
        let port = client.peer_addr().unwrap().port() as i32;
        let res = ask(&mut r, &mut app, |r, cb| {
            r.tcp().connect(id, "127.0.0.1", port, cb)
        });
        assert_last_error(&res, "net::ERR_SOCKET_IS_CONNECTED", Some(-23));
    });
}

#[test]
fn connect_while_connecting_fails_with_104_and_first_connect_completes() {
    with_recorder(|mut r, mut app| {
        let (listener, port) = std_listener_and_port();
        for host in ["127.0.0.1", "localhost"] {
            let id = create(&mut r, &mut app, SocketProperties::new());
            let first: Rc<Cell<Option<bool>>> = Rc::new(Cell::new(None));
            let f = first.clone();
            r.tcp()
                .connect(id, host, port, move |_, _, res| f.set(Some(res.is_ok())));
            let res = ask(&mut r, &mut app, |r, cb| {
                r.tcp().connect(id, host, port, cb)
            });
            assert_last_error(&res, "net::ERR_CONNECTION_FAILED", Some(-104));
            turn_until(&mut r, &mut app, |_| first.get().is_some());
            assert_eq!(first.get(), Some(true), "first connect to {host}");
            let _peer = std_accept(&listener);
            assert!(info(&mut r, &mut app, id).connected);
        }
    });
}

#[test]
fn connect_to_localhost_reports_numeric_peer_address() {
    // §3.6: getInfo.peerAddress is always numeric.
    with_recorder(|mut r, mut app| {
        let (listener, port) = std_listener_and_port();
        let id = create(&mut r, &mut app, SocketProperties::new());
        let res = ask(&mut r, &mut app, |r, cb| {
            r.tcp().connect(id, "localhost", port, cb)
        });
        assert_eq!(res, Ok(()));
        let _peer = std_accept(&listener);
        let i = info(&mut r, &mut app, id);
        assert!(
            matches!(i.peer_address.as_deref(), Some("127.0.0.1") | Some("::1")),
            "{:?}",
            i.peer_address
        );
        assert_eq!(i.peer_port, Some(port as u16));
    });
}

#[test]
fn connect_to_unresolvable_name_fails_with_105() {
    with_recorder(|mut r, mut app| {
        let id = create(&mut r, &mut app, SocketProperties::new());
        let res = ask(&mut r, &mut app, |r, cb| {
            r.tcp().connect(id, "nonexistent.invalid", 80, cb)
        });
        assert_last_error(&res, "net::ERR_NAME_NOT_RESOLVED", Some(-105));
        assert!(!info(&mut r, &mut app, id).connected);
    });
}

#[test]
fn connect_with_port_out_of_range_fails_with_4() {
    // D3: never truncated to 16 bits.
    with_recorder(|mut r, mut app| {
        let id = create(&mut r, &mut app, SocketProperties::new());
        for port in [-1, 65536, 70000] {
            let res = ask(&mut r, &mut app, |r, cb| {
                r.tcp().connect(id, "127.0.0.1", port, cb)
            });
            assert_last_error(&res, "net::ERR_INVALID_ARGUMENT", Some(-4));
        }
    });
}

/// Creates a socket, starts a connect to `host:port`, lets `overtake` act on the socket right
/// after (in the same task, as Chrome's JavaScript would), then turns until the connect's
/// callback ran and 20 turns more. Asserts the callback ran exactly once, with Chrome's
/// `(message, code)`; returns the socket.
fn overtaken_connect(
    r: &mut Reactor<Rec>,
    app: &mut Rec,
    (host, port): (&str, i32),
    overtake: impl FnOnce(&mut Reactor<Rec>, &mut Rec, TcpSocketId),
    (message, code): (&str, Option<i32>),
) -> TcpSocketId {
    let id = create(r, app, SocketProperties::new());
    let calls = ConnectResults::default();
    let c = calls.clone();
    r.tcp().connect(id, host, port, move |_, _, res| {
        let res = res.map_err(|e| (e.to_string(), e.code().map(|c| c.code())));
        c.borrow_mut().push(res);
    });
    overtake(r, app, id);
    turn_until(r, app, |_| !calls.borrow().is_empty());
    turn_n(r, app, 20);
    let once = vec![Err((message.to_string(), code))];
    assert_eq!(*calls.borrow(), once, "connect to {host}");
    id
}

type ConnectResults = Rc<std::cell::RefCell<Vec<Result<(), (String, Option<i32>)>>>>;

/// For a connect to an IP literal and to a name (through the resolver): [`overtaken_connect`]
/// with `overtake` and `answer`, then `then` with the socket, the listener the connect aimed
/// at and the target.
fn overtaken_connects(
    overtake: impl Fn(&mut Reactor<Rec>, &mut Rec, TcpSocketId),
    answer: (&str, Option<i32>),
    mut then: impl FnMut(&mut Reactor<Rec>, &mut Rec, TcpSocketId, &std::net::TcpListener, (&str, i32)),
) {
    with_recorder(|mut r, mut app| {
        let (listener, port) = std_listener_and_port();
        for host in ["127.0.0.1", "localhost"] {
            let id = overtaken_connect(&mut r, &mut app, (host, port), &overtake, answer);
            then(&mut r, &mut app, id, &listener, (host, port));
        }
    });
}

#[test]
fn close_during_connect_calls_back_exactly_once_with_socket_not_found() {
    // D5: every callback runs exactly once, also when a close overtakes the connect; the
    // answer is Chrome's "Socket not found" (no code).
    overtaken_connects(
        |r, app, id| assert_eq!(ask(r, app, |r, cb| r.tcp().close(id, cb)), Ok(())),
        ("Socket not found", None),
        |_, app, _, _, _| assert!(app.receive_errors.is_empty()),
    );
}

#[test]
fn disconnect_during_connect_calls_back_once_with_3_and_reconnect_works() {
    // D5 for disconnect: -3 once; the id stays usable.
    overtaken_connects(
        |r, app, id| assert_eq!(ask(r, app, |r, cb| r.tcp().disconnect(id, cb)), Ok(())),
        ("net::ERR_ABORTED", Some(-3)),
        |r, app, id, listener, (host, port)| {
            // Any half-made connection the listener got is dropped here.
            listener.set_nonblocking(true).unwrap();
            while listener.accept().is_ok() {}
            let res = ask(r, app, |r, cb| r.tcp().connect(id, host, port, cb));
            assert_eq!(res, Ok(()));
            let _peer = std_accept(listener);
            assert!(info(r, app, id).connected);
        },
    );
}
