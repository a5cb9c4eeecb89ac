//! How `chrome.sockets.tcp` connections end (DESIGN §4): peer EOF and reset, disconnect and
//! close of reading sockets, what happens to sends in flight (D6, D7, D9), the write quota.
mod util;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use chrome_sockets::tcp::{SendInfo, SocketProperties};
use chrome_sockets::{LastError, Reactor, TcpSocketId};
use util::*;

const MIB: usize = 1 << 20;

/// Closes `stream` with an RST (SO_LINGER 0) instead of a FIN.
fn reset(stream: TcpStream) {
    socket2::SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(stream);
}

/// Unpauses `id` and waits for the callback.
fn unpause(r: &mut Reactor<Rec>, app: &mut Rec, id: TcpSocketId) {
    ask(r, app, |r, cb| r.tcp().set_paused(id, false, cb)).unwrap();
}

/// Issues a send whose result is logged as `"<tag> ok <n>"` or `"<tag> err <code> <msg>"`.
fn logged_send(r: &mut Reactor<Rec>, id: TcpSocketId, data: Vec<u8>, tag: &'static str) {
    r.tcp().send(id, data, move |_, app: &mut Rec, res| {
        app.log.push(describe(tag, &res));
    });
}

fn describe(tag: &str, res: &Result<SendInfo, LastError>) -> String {
    match res {
        Ok(i) => format!("{tag} ok {}", i.bytes_sent),
        Err(e) => format!(
            "{tag} err {} {}",
            e.code().map_or(0, |c| c.code()),
            e.message()
        ),
    }
}

#[test]
fn peer_fin_gives_100_and_leaves_the_socket_disconnected_and_paused() {
    // §3.10 / D7: EOF is -100; the socket is then disconnected and paused.
    without_fd_leak(|| {
        let mut r = recording_reactor();
        let mut app = Rec::default();
        let (id, mut client) = accepted_pair(&mut r, &mut app, "127.0.0.1");
        unpause(&mut r, &mut app, id);
        client.write_all(b"last words").unwrap();
        drop(client);
        turn_until(&mut r, &mut app, |a| !a.receive_errors.is_empty());
        assert_eq!(
            app.bytes(id),
            b"last words",
            "data before the FIN is delivered"
        );
        assert_eq!(app.receive_errors, vec![(id, -100)]);
        let i = info(&mut r, &mut app, id);
        assert!(!i.connected);
        assert!(i.paused);
        assert_eq!((i.peer_address, i.local_address), (None, None));
        // Half-close is not supported: sending afterwards is -15.
        let res = ask(&mut r, &mut app, |r, cb| {
            r.tcp().send(id, b"x".to_vec(), cb)
        });
        assert_last_error(&res, "net::ERR_SOCKET_NOT_CONNECTED", Some(-15));
    });
}

#[test]
fn peer_fin_while_paused_is_reported_only_after_unpause() {
    // §3.10: while paused nothing is read, so nothing is reported and getInfo says connected.
    without_fd_leak(|| {
        let mut r = recording_reactor();
        let mut app = Rec::default();
        let (id, mut client) = accepted_pair(&mut r, &mut app, "127.0.0.1");
        client.write_all(b"buffered").unwrap();
        drop(client);
        turn_n(&mut r, &mut app, 10);
        assert!(app.receive_errors.is_empty() && app.received.is_empty());
        assert!(info(&mut r, &mut app, id).connected);
        unpause(&mut r, &mut app, id);
        turn_until(&mut r, &mut app, |a| !a.receive_errors.is_empty());
        assert_eq!(app.bytes(id), b"buffered");
        assert_eq!(app.receive_errors, vec![(id, -100)]);
        assert_eq!(
            app.log.last().map(String::as_str),
            Some("receive_error -100")
        );
    });
}

#[test]
fn peer_reset_gives_101_and_disconnects() {
    // D7: a read error carries its own code, -101 for a reset.
    without_fd_leak(|| {
        let mut r = recording_reactor();
        let mut app = Rec::default();
        let (id, client) = accepted_pair(&mut r, &mut app, "127.0.0.1");
        unpause(&mut r, &mut app, id);
        reset(client);
        turn_until(&mut r, &mut app, |a| !a.receive_errors.is_empty());
        turn_n(&mut r, &mut app, 5);
        assert_eq!(app.receive_errors, vec![(id, -101)]);
        let i = info(&mut r, &mut app, id);
        assert!(!i.connected && i.paused);
    });
}

#[test]
fn send_when_not_connected_fails_with_15() {
    // §3.8.4: never connected or after disconnect: -15 with no bytes_sent.
    without_fd_leak(|| {
        let mut r = recording_reactor();
        let mut app = Rec::default();
        let fresh = create(&mut r, &mut app, SocketProperties::new());
        let res = ask(&mut r, &mut app, |r, cb| {
            r.tcp().send(fresh, b"x".to_vec(), cb)
        });
        assert_last_error(&res, "net::ERR_SOCKET_NOT_CONNECTED", Some(-15));
        let (id, _client) = accepted_pair(&mut r, &mut app, "127.0.0.1");
        assert_eq!(
            ask(&mut r, &mut app, |r, cb| r.tcp().disconnect(id, cb)),
            Ok(())
        );
        let res = ask(&mut r, &mut app, |r, cb| {
            r.tcp().send(id, b"x".to_vec(), cb)
        });
        assert_last_error(&res, "net::ERR_SOCKET_NOT_CONNECTED", Some(-15));
    });
}

#[test]
fn disconnect_of_a_reading_socket_calls_back_then_raises_100() {
    // §3.7: the disconnect reply comes before onReceiveError(-100); the socket ends paused.
    without_fd_leak(|| {
        let mut r = recording_reactor();
        let mut app = Rec::default();
        let (id, mut client) = accepted_pair(&mut r, &mut app, "127.0.0.1");
        unpause(&mut r, &mut app, id);
        r.tcp().disconnect(id, |_, app: &mut Rec, res| {
            res.expect("disconnect");
            app.log.push("disconnect".into());
        });
        turn_until(&mut r, &mut app, |a| !a.receive_errors.is_empty());
        turn_n(&mut r, &mut app, 5);
        assert_eq!(app.log, vec!["disconnect", "receive_error -100"]);
        assert_eq!(app.receive_errors, vec![(id, -100)]);
        let i = info(&mut r, &mut app, id);
        assert!(!i.connected && i.paused);
        let mut buf = [0u8; 1];
        assert_eq!(client.read(&mut buf).unwrap(), 0, "the peer sees EOF");
    });
}

#[test]
fn disconnect_of_a_paused_socket_raises_nothing() {
    without_fd_leak(|| {
        let mut r = recording_reactor();
        let mut app = Rec::default();
        let (id, _client) = accepted_pair(&mut r, &mut app, "127.0.0.1");
        assert_eq!(
            ask(&mut r, &mut app, |r, cb| r.tcp().disconnect(id, cb)),
            Ok(())
        );
        turn_n(&mut r, &mut app, 10);
        assert!(app.receive_errors.is_empty());
        assert!(info(&mut r, &mut app, id).paused);
    });
}

#[test]
fn close_of_a_reading_socket_raises_no_event() {
    // D6: no event is dispatched for a closed id.
    without_fd_leak(|| {
        let mut r = recording_reactor();
        let mut app = Rec::default();
        let (id, mut client) = accepted_pair(&mut r, &mut app, "127.0.0.1");
        unpause(&mut r, &mut app, id);
        // Data and a FIN are waiting too: none of it may surface after the close.
        client.write_all(b"unread").unwrap();
        client.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(ask(&mut r, &mut app, |r, cb| r.tcp().close(id, cb)), Ok(()));
        turn_n(&mut r, &mut app, 20);
        assert!(app.receive_errors.is_empty(), "{:?}", app.receive_errors);
        let res = ask(&mut r, &mut app, |r, cb| r.tcp().get_info(id, cb));
        assert_last_error(&res, "Socket not found", None);
    });
}

#[test]
fn disconnect_mid_send_fails_in_flight_and_queued_sends_with_15_and_reconnect_works() {
    // D9: in-flight and queued sends fail with -15; after reconnecting the socket works.
    without_fd_leak(|| {
        let mut r = recording_reactor();
        let mut app = Rec::default();
        let listener = std_listener();
        let port = listener.local_addr().unwrap().port() as i32;
        let (id, peer) = connected_pair(&mut r, &mut app, SocketProperties::new(), &listener);
        // The peer never reads, so most of 64 MiB stays pending.
        logged_send(&mut r, id, vec![0; 64 * MIB], "big");
        logged_send(&mut r, id, b"queued".to_vec(), "small");
        turn_n(&mut r, &mut app, 5);
        assert!(
            app.log.is_empty(),
            "nothing can have completed: {:?}",
            app.log
        );
        r.tcp().disconnect(id, |_, app: &mut Rec, res| {
            res.expect("disconnect");
            app.log.push("disconnect".into());
        });
        turn_until(&mut r, &mut app, |a| a.log.len() == 4);
        turn_n(&mut r, &mut app, 5);
        let not_connected = "err -15 net::ERR_SOCKET_NOT_CONNECTED";
        // The socket was reading (created sockets start unpaused): -100 comes last (§3.7).
        assert_eq!(
            app.log,
            vec![
                format!("big {not_connected}"),
                format!("small {not_connected}"),
                "disconnect".to_string(),
                "receive_error -100".to_string(),
            ]
        );
        assert!(info(&mut r, &mut app, id).paused);
        ask(&mut r, &mut app, |r, cb| r.tcp().set_paused(id, false, cb)).unwrap();
        drop(peer);
        app.log.clear();
        let res = ask(&mut r, &mut app, |r, cb| {
            r.tcp().connect(id, "127.0.0.1", port, cb)
        });
        assert_eq!(res, Ok(()));
        let mut peer = std_accept(&listener);
        logged_send(&mut r, id, b"after".to_vec(), "a");
        logged_send(&mut r, id, b" reconnect".to_vec(), "b");
        turn_until(&mut r, &mut app, |a| a.log.len() == 2);
        assert_eq!(app.log, vec!["a ok 5", "b ok 10"]);
        let mut buf = [0u8; 15];
        peer.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"after reconnect");
    });
}

#[test]
fn peer_eof_mid_send_fails_the_pending_send_with_15() {
    // §3.10: a FIN disconnects the whole socket (no half-close), so pending sends fail (D9).
    without_fd_leak(|| {
        let mut r = recording_reactor();
        let mut app = Rec::default();
        let (id, client) = accepted_pair(&mut r, &mut app, "127.0.0.1");
        unpause(&mut r, &mut app, id);
        logged_send(&mut r, id, vec![0; 64 * MIB], "big");
        turn_n(&mut r, &mut app, 3);
        client.shutdown(std::net::Shutdown::Write).unwrap();
        turn_until(&mut r, &mut app, |a| {
            a.log.iter().any(|l| l.starts_with("big"))
        });
        turn_n(&mut r, &mut app, 5);
        assert_eq!(app.receive_errors, vec![(id, -100)]);
        assert!(
            app.log
                .contains(&"big err -15 net::ERR_SOCKET_NOT_CONNECTED".to_string()),
            "{:?}",
            app.log
        );
        assert!(!info(&mut r, &mut app, id).connected);
    });
}

#[test]
fn send_to_a_reset_peer_fails_with_101_and_queued_sends_with_15() {
    // §3.8.5 with our codes: the failed write gets its own code (-101), the socket is
    // disconnected, sends queued behind it get -15 (D9). Paused, so no read sees the RST.
    without_fd_leak(|| {
        let mut r = recording_reactor();
        let mut app = Rec::default();
        let (id, client) = accepted_pair(&mut r, &mut app, "127.0.0.1");
        reset(client);
        turn_n(&mut r, &mut app, 3);
        logged_send(&mut r, id, b"one".to_vec(), "1");
        logged_send(&mut r, id, b"two".to_vec(), "2");
        logged_send(&mut r, id, b"three".to_vec(), "3");
        turn_until(&mut r, &mut app, |a| a.log.len() == 3);
        turn_n(&mut r, &mut app, 5);
        assert_eq!(
            app.log,
            vec![
                "1 err -101 net::ERR_CONNECTION_RESET",
                "2 err -15 net::ERR_SOCKET_NOT_CONNECTED",
                "3 err -15 net::ERR_SOCKET_NOT_CONNECTED",
            ]
        );
        assert!(
            app.receive_errors.is_empty(),
            "a paused socket gets no receive error"
        );
        let i = info(&mut r, &mut app, id);
        assert!(!i.connected);
    });
}

#[test]
fn write_quota_rejects_the_send_that_crosses_200_mib_of_pending_bytes() {
    // §3.8.1: more than 200 MiB pending per reactor, across sockets: "Exceeded write quota."
    // with no code, checked before the id. Zeroed buffers are untouched pages until written,
    // so the pending 200 MiB cost little memory.
    without_fd_leak(|| {
        let mut r = recording_reactor();
        let mut app = Rec::default();
        let (_server, addr) = listening_server(&mut r, &mut app, "127.0.0.1");
        let (id, client) = accept_one(&mut r, &mut app, addr);
        let (other, _other_client) = accept_one(&mut r, &mut app, addr);
        // The peer does not read yet: all but what the kernel buffers (well under
        // 100 MiB) stays pending.
        logged_send(&mut r, id, vec![0; 100 * MIB], "a");
        logged_send(&mut r, id, vec![0; 100 * MIB], "b");
        turn_n(&mut r, &mut app, 5);
        assert!(app.log.is_empty());
        let unknown = TcpSocketId::from_raw(9999);
        let res = ask(&mut r, &mut app, |r, cb| {
            r.tcp().send(unknown, vec![0; 1], cb)
        });
        assert_last_error(&res, "Socket not found", None);
        let res = ask(&mut r, &mut app, |r, cb| {
            r.tcp().send(other, vec![0; 100 * MIB + 1], cb)
        });
        assert_last_error(&res, "Exceeded write quota.", None);
        let res = ask(&mut r, &mut app, |r, cb| {
            r.tcp().send(unknown, vec![0; 100 * MIB + 1], cb)
        });
        assert_last_error(&res, "Exceeded write quota.", None);
        // The peer drains: both sends complete in order and the quota is free again.
        let drain = std::thread::spawn(move || {
            let mut client = client;
            let mut buf = vec![0u8; 1 << 16];
            let mut total = 0usize;
            while total < 200 * MIB {
                match client.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => total += n,
                }
            }
            total
        });
        turn_until(&mut r, &mut app, |a| a.log.len() == 2);
        assert_eq!(app.log, vec!["a ok 104857600", "b ok 104857600"]);
        assert_eq!(drain.join().unwrap(), 200 * MIB);
        let res = ask(&mut r, &mut app, |r, cb| {
            r.tcp().send(unknown, vec![0; 200 * MIB], cb)
        });
        assert_last_error(&res, "Socket not found", None);
        let res = ask(&mut r, &mut app, |r, cb| {
            r.tcp().send(unknown, vec![0; 200 * MIB + 1], cb)
        });
        assert_last_error(&res, "Exceeded write quota.", None);
    });
}

#[test]
fn peer_that_writes_and_closes_at_once_after_connect_is_read_to_the_eof() {
    // Data and FIN can arrive in the same readiness edge as the connect's completion; the
    // FIN must still be reported (-100) after the data.
    without_fd_leak(|| {
        let mut r = recording_reactor();
        let mut app = Rec::default();
        let listener = std_listener();
        let port = listener.local_addr().unwrap().port() as i32;
        let id = create(&mut r, &mut app, SocketProperties::new());
        r.tcp()
            .connect(id, "127.0.0.1", port, |_, _, res| res.expect("connect"));
        let mut peer = std_accept(&listener);
        peer.write_all(b"bye").unwrap();
        drop(peer);
        turn_until(&mut r, &mut app, |a| !a.receive_errors.is_empty());
        assert_eq!(app.bytes(id), b"bye");
        assert_eq!(app.receive_errors, vec![(id, -100)]);
    });
}
