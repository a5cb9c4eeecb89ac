//! The extensions that finish a connection without losing data (`shutdown_send`, `end`), the
//! connect timeout and the write-quota knob, checked on the wire: bytes received, and a FIN
//! (the peer reads 0) against a reset (the peer's read fails with ECONNRESET).

use std::io::{ErrorKind, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use crate::util::*;
use chrome_sockets::tcp::SocketProperties;
use chrome_sockets::{Reactor, ReactorBuilder, TcpSocketId};

/// A reactor (recording, with `rec`) and one accepted, unpaused socket; the client's
/// blocking stream.
fn accepted(r: &mut Reactor<Rec>, rec: &mut Rec) -> (TcpSocketId, TcpStream) {
    rec.unpause_accepted = true;
    accepted_pair(r, rec, "127.0.0.1")
}

/// Waits until `n` bytes arrived on `id`.
#[track_caller]
fn wait_bytes(r: &mut Reactor<Rec>, rec: &mut Rec, id: TcpSocketId, n: usize) {
    turn_until(r, rec, |rec| rec.bytes(id).len() >= n);
}

#[test]
fn end_writes_every_queued_byte_then_fins() {
    with_recorder(|mut r, mut rec| {
        let (id, mut client) = accepted(&mut r, &mut rec);
        let data = pattern(8 << 20, 1);
        // Queued far beyond the socket buffers: `end` must wait for all of it.
        r.tcp().send(id, data.clone(), |_, _, res| {
            res.expect("send");
        });
        let ended = std::rc::Rc::new(std::cell::Cell::new(None));
        let e = ended.clone();
        r.tcp().end(id, move |_, _, res| e.set(Some(res.is_ok())));
        let reader = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(500)); // a slow reader
            read_to_end_or_error(&mut client)
        });
        turn_until(&mut r, &mut rec, |_| reader.is_finished());
        let (got, error) = reader.join().unwrap();
        assert_eq!(error, None, "a FIN, not a reset");
        assert_eq!(got.len(), data.len());
        assert!(got == data, "bytes differ");
        turn_until(&mut r, &mut rec, |_| ended.get().is_some());
        assert_eq!(ended.get(), Some(true));
        // `end` closed the id.
        let e = ask(&mut r, &mut rec, |r, cb| r.tcp().get_info(id, cb));
        assert_last_error(&e, "Socket not found", None);
    });
}

#[test]
fn close_with_queued_sends_loses_them_end_does_not() {
    with_recorder(|mut r, mut rec| {
        let (plain, mut plain_client) = accepted(&mut r, &mut rec);
        let (graceful, mut graceful_client) = accepted(&mut r, &mut rec);
        let data = pattern(4 << 20, 2);
        let results = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        for id in [plain, graceful] {
            let out = results.clone();
            r.tcp().send(id, data.clone(), move |_, _, res| {
                out.borrow_mut().push((id, res.map(|i| i.bytes_sent)));
            });
        }
        r.tcp().close(plain, |_, _, res| res.expect("close"));
        r.tcp().end(graceful, |_, _, res| res.expect("end"));
        let readers: Vec<_> = [&mut plain_client, &mut graceful_client]
            .into_iter()
            .map(|c| {
                let mut c = c.try_clone().unwrap();
                std::thread::spawn(move || read_to_end_or_error(&mut c))
            })
            .collect();
        turn_until(&mut r, &mut rec, |_| {
            readers.iter().all(|h| h.is_finished())
        });
        let mut ends = readers.into_iter().map(|h| h.join().unwrap());
        let (plain_got, _) = ends.next().unwrap();
        let (graceful_got, graceful_error) = ends.next().unwrap();
        assert!(
            plain_got.len() < data.len(),
            "close dropped the queued send"
        );
        assert_eq!(graceful_error, None);
        assert_eq!(graceful_got.len(), data.len());
        let results = results.borrow();
        assert!(results.contains(&(graceful, Ok(data.len()))));
        let failed: Vec<_> = results.iter().filter(|(id, _)| *id == plain).collect();
        assert_eq!(failed.len(), 1);
        assert_last_error(&failed[0].1, "net::ERR_SOCKET_NOT_CONNECTED", Some(-15));
    });
}

#[test]
fn shutdown_send_is_a_half_close_the_peer_can_still_send() {
    with_recorder(|mut r, mut rec| {
        let (id, mut client) = accepted(&mut r, &mut rec);
        r.tcp().send(id, b"bye".to_vec(), |_, _, res| {
            res.expect("send");
        });
        let done = ask(&mut r, &mut rec, |r, cb| r.tcp().shutdown_send(id, cb));
        done.expect("shutdown_send");
        // The peer reads the bytes, then a FIN (read returns 0), not a reset.
        let (got, error) = read_to_end_or_error(&mut client);
        assert_eq!((got.as_slice(), error), (&b"bye"[..], None));
        // The other direction is still open: the socket keeps receiving.
        client.write_all(b"still here").unwrap();
        wait_bytes(&mut r, &mut rec, id, 10);
        assert_eq!(rec.bytes(id), b"still here");
        assert!(info(&mut r, &mut rec, id).connected);
        // No more sends, no second shutdown.
        let sent = ask(&mut r, &mut rec, |r, cb| {
            r.tcp().send(id, b"x".to_vec(), cb)
        });
        assert_last_error(&sent, "net::ERR_SOCKET_NOT_CONNECTED", Some(-15));
        let again = ask(&mut r, &mut rec, |r, cb| r.tcp().shutdown_send(id, cb));
        assert_last_error(&again, "net::ERR_SOCKET_NOT_CONNECTED", Some(-15));
        // The peer's FIN ends the connection as usual.
        client.shutdown(std::net::Shutdown::Write).unwrap();
        turn_until(&mut r, &mut rec, |rec| !rec.errors_of(id).is_empty());
        assert_eq!(rec.errors_of(id), [-100]);
    });
}

#[test]
fn close_with_unread_bytes_resets_the_peer() {
    with_recorder(|mut r, mut rec| {
        // Paused: what the client sends stays unread in the kernel.
        let (id, mut client) = accepted_pair(&mut r, &mut rec, "127.0.0.1");
        client.write_all(b"never read").unwrap();
        std::thread::sleep(Duration::from_millis(50));
        r.tcp().close(id, |_, _, res| res.expect("close"));
        turn_n(&mut r, &mut rec, 2);
        let mut buf = [0u8; 16];
        let read = client.read(&mut buf);
        assert_eq!(read.map_err(|e| e.kind()), Err(ErrorKind::ConnectionReset));
    });
}

#[test]
fn finishing_calls_on_unknown_and_unconnected_ids() {
    with_recorder(|mut r, mut rec| {
        let unknown = TcpSocketId::from_raw(999);
        let res = ask(&mut r, &mut rec, |r, cb| r.tcp().shutdown_send(unknown, cb));
        assert_last_error(&res, "Socket not found", None);
        let res = ask(&mut r, &mut rec, |r, cb| r.tcp().end(unknown, cb));
        assert_last_error(&res, "Socket not found", None);
        let id = create(&mut r, &mut rec, SocketProperties::new());
        let res = ask(&mut r, &mut rec, |r, cb| r.tcp().shutdown_send(id, cb));
        assert_last_error(&res, "net::ERR_SOCKET_NOT_CONNECTED", Some(-15));
        // `end` closes even when there was nothing to finish.
        let res = ask(&mut r, &mut rec, |r, cb| r.tcp().end(id, cb));
        assert_last_error(&res, "net::ERR_SOCKET_NOT_CONNECTED", Some(-15));
        let res = ask(&mut r, &mut rec, |r, cb| r.tcp().get_info(id, cb));
        assert_last_error(&res, "Socket not found", None);
    });
}

#[test]
fn disconnect_before_the_sends_are_written_fails_the_shutdown() {
    with_recorder(|mut r, mut rec| {
        let (id, _client) = accepted(&mut r, &mut rec);
        r.tcp().send(id, pattern(8 << 20, 3), |_, _, _| {});
        let out = std::rc::Rc::new(std::cell::RefCell::new(None));
        let o = out.clone();
        r.tcp()
            .shutdown_send(id, move |_, _, res| *o.borrow_mut() = Some(res));
        r.tcp().disconnect(id, |_, _, res| res.expect("disconnect"));
        turn_until(&mut r, &mut rec, |_| out.borrow().is_some());
        let res = out.borrow_mut().take().unwrap();
        assert_last_error(&res, "net::ERR_SOCKET_NOT_CONNECTED", Some(-15));
    });
}

/// A listener whose accept queue is full: further connects get no answer to their SYN.
/// Returns it and the clients that filled it (they must stay open).
fn full_listener() -> (socket2::Socket, Vec<socket2::Socket>) {
    use socket2::{Domain, Socket, Type};
    let listener = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    listener
        .bind(
            &"127.0.0.1:0"
                .parse::<std::net::SocketAddr>()
                .unwrap()
                .into(),
        )
        .unwrap();
    listener.listen(0).unwrap();
    let addr = listener.local_addr().unwrap();
    let mut fillers = Vec::new();
    for _ in 0..16 {
        let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
        match s.connect_timeout(&addr, Duration::from_millis(200)) {
            Ok(()) => fillers.push(s),
            Err(_) => return (listener, fillers),
        }
    }
    panic!("the accept queue never filled");
}

#[test]
fn connect_timeout_gives_up_with_118_and_the_socket_can_connect_again() {
    with_recorder(|mut r, mut rec| {
        let (listener, _fillers) = full_listener();
        let port = i32::from(listener.local_addr().unwrap().as_socket().unwrap().port());
        let id = create(&mut r, &mut rec, SocketProperties::new());
        let start = Instant::now();
        let res = ask(&mut r, &mut rec, |r, cb| {
            r.tcp()
                .connect_timeout(id, "127.0.0.1", port, Duration::from_millis(300), cb)
        });
        let waited = start.elapsed();
        assert_last_error(&res, "net::ERR_CONNECTION_TIMED_OUT", Some(-118));
        assert!(
            waited >= Duration::from_millis(300),
            "gave up after {waited:?}"
        );
        assert!(waited < Duration::from_secs(5), "gave up after {waited:?}");
        assert!(!info(&mut r, &mut rec, id).connected);
        // Not wedged: the same id connects elsewhere.
        let (other, other_port) = std_listener_and_port();
        let res = ask(&mut r, &mut rec, |r, cb| {
            r.tcp()
                .connect_timeout(id, "127.0.0.1", other_port, Duration::from_secs(5), cb)
        });
        res.expect("second connect");
        let _peer = std_accept(&other);
        // The completed connect cleared its timer: nothing is left to fire.
        assert_eq!(r.next_timeout(), None);
    });
}

#[test]
fn write_quota_is_configurable() {
    // The guard also keeps this test's reactor out of the other tests' fd counts.
    let _fds = FdGuard::new();
    let mut r: Reactor<()> = ReactorBuilder::new().write_quota(1000).build().unwrap();
    let (listener, port) = std_listener_and_port();
    let id = ask(&mut r, &mut (), |r, cb| {
        r.tcp().create(SocketProperties::new(), cb)
    })
    .unwrap()
    .socket_id;
    ask(&mut r, &mut (), |r, cb| {
        r.tcp().connect(id, "127.0.0.1", port, cb)
    })
    .unwrap();
    let mut peer = std_accept(&listener);
    let over = ask(&mut r, &mut (), |r, cb| r.tcp().send(id, vec![1; 1001], cb));
    assert_last_error(&over, "Exceeded write quota.", None);
    let at = ask(&mut r, &mut (), |r, cb| r.tcp().send(id, vec![1; 1000], cb));
    assert_eq!(at.unwrap().bytes_sent, 1000);
    let mut buf = vec![0; 1000];
    peer.read_exact(&mut buf).unwrap();
    assert_eq!(buf, vec![1; 1000]);
}
