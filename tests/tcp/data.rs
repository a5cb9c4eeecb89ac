//! The `chrome.sockets.tcp` data path through real loopback sockets: round trips, large and
//! back-to-back sends, many clients, `buffer_size` chunking, and nothing lost across pause.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread::JoinHandle;

use crate::util::*;
use chrome_sockets::tcp::SocketProperties;
use chrome_sockets::{Reactor, TcpSocketId};

/// Makes `r` an echo server: accepted sockets are unpaused, every chunk is sent back.
fn echo(r: &mut Reactor<Rec>) {
    r.tcp_server().on_accept().add_listener(|r, _, info| {
        r.tcp()
            .set_paused(info.client_socket_id, false, |_, _, res| {
                res.expect("unpause")
            });
    });
    r.tcp().on_receive().add_listener(|r, _, info| {
        r.tcp()
            .send(info.socket_id, info.data.clone(), |_, _, res| {
                res.expect("echo send");
            });
    });
}

/// A thread that reads exactly `len` bytes from `stream`.
fn reader(mut stream: TcpStream, len: usize) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut buf = vec![0; len];
        stream.read_exact(&mut buf).expect("client read");
        buf
    })
}

/// Turns `r` until every thread finished, then joins them.
fn join_all<T>(r: &mut Reactor<Rec>, app: &mut Rec, handles: Vec<JoinHandle<T>>) -> Vec<T> {
    turn_until(r, app, |_| handles.iter().all(|h| h.is_finished()));
    handles
        .into_iter()
        .map(|h| h.join().expect("client thread"))
        .collect()
}

#[test]
fn small_messages_round_trip_through_an_echoing_accepted_socket() {
    with_recorder(|mut r, mut app| {
        echo(&mut r);
        let (_id, mut client) = accepted_pair(&mut r, &mut app, "127.0.0.1");
        for msg in [
            &b"hello"[..],
            b"x",
            b"chrome.sockets.tcp",
            &[0u8, 255, 10, 13],
        ] {
            client.write_all(msg).unwrap();
            let h = reader(client.try_clone().unwrap(), msg.len());
            let got = join_all(&mut r, &mut app, vec![h]).remove(0);
            assert_eq!(got, msg);
        }
    });
}

#[test]
fn eight_mib_in_one_send_arrives_intact_and_in_order() {
    with_accepted(|mut r, mut app, id, client| {
        let data = pattern(8 << 20, 1);
        let h = reader(client, data.len());
        let sent = ask(&mut r, &mut app, |r, cb| r.tcp().send(id, data.clone(), cb));
        let info = sent.expect("send");
        assert_eq!(info.bytes_sent, 8 << 20);
        assert_eq!(info.result_code.code(), 0);
        let got = join_all(&mut r, &mut app, vec![h]).remove(0);
        assert!(got == data, "8 MiB came back changed");
    });
}

#[test]
fn eight_mib_from_the_peer_arrive_intact_in_receive_events() {
    with_accepted(|mut r, mut app, id, mut client| {
        ask(&mut r, &mut app, |r, cb| r.tcp().set_paused(id, false, cb)).unwrap();
        let data = pattern(8 << 20, 2);
        let d = data.clone();
        let writer = std::thread::spawn(move || client.write_all(&d).map(|_| client));
        turn_until(&mut r, &mut app, |a| a.bytes(id).len() >= data.len());
        let _client = writer.join().unwrap().expect("client write");
        assert!(app.bytes(id) == data, "8 MiB arrived changed");
        // §3.9: each event carries 1..=4096 bytes by default.
        assert!(app.chunks[&id].iter().all(|&n| (1..=4096).contains(&n)));
    });
}

#[test]
fn fifty_concurrent_clients_each_get_their_own_bytes_back() {
    with_recorder(|mut r, mut app| {
        echo(&mut r);
        let (_server, addr) = listen_on_loopback(&mut r, &mut app);
        let handles: Vec<_> = (0..50u32)
            .map(|i| {
                std::thread::spawn(move || {
                    let mut c = connect(addr);
                    let data = pattern(20_000 + i as usize * 997, i + 10);
                    let mut back = vec![0; data.len()];
                    // Write in pieces and read the echo as it comes, as a chat client would.
                    for piece in data.chunks(3000) {
                        c.write_all(piece).unwrap();
                    }
                    c.read_exact(&mut back).expect("echo read");
                    (data, back)
                })
            })
            .collect();
        let results = join_all(&mut r, &mut app, handles);
        assert_eq!(app.accepted.len(), 50);
        for (data, back) in results {
            assert!(data == back, "a client got other bytes back");
        }
    });
}

#[test]
fn buffer_size_7_chunks_every_receive_to_at_most_7_bytes() {
    // §3.9: one read of at most bufferSize bytes per onReceive.
    with_accepted(|mut r, mut app, id, mut client| {
        let props = SocketProperties::new().buffer_size(7);
        ask(&mut r, &mut app, |r, cb| r.tcp().update(id, props, cb)).unwrap();
        let data = pattern(10_000, 3);
        client.write_all(&data).unwrap();
        ask(&mut r, &mut app, |r, cb| r.tcp().set_paused(id, false, cb)).unwrap();
        turn_until(&mut r, &mut app, |a| a.bytes(id).len() >= data.len());
        assert_eq!(app.bytes(id), &data[..]);
        let chunks = &app.chunks[&id];
        assert!(chunks.iter().all(|&n| (1..=7).contains(&n)), "{chunks:?}");
        assert!(chunks.len() >= data.len() / 7);
    });
}

#[test]
fn buffer_size_set_at_create_applies_to_a_connected_socket() {
    with_recorder(|mut r, mut app| {
        let listener = std_listener();
        let props = SocketProperties::new().buffer_size(100);
        let (id, mut peer) = connected_pair(&mut r, &mut app, props, &listener);
        let data = pattern(5000, 4);
        peer.write_all(&data).unwrap();
        turn_until(&mut r, &mut app, |a| a.bytes(id).len() >= data.len());
        assert_eq!(app.bytes(id), &data[..]);
        assert!(app.chunks[&id].iter().all(|&n| (1..=100).contains(&n)));
    });
}

#[test]
fn data_sent_before_unpause_is_delivered_after_unpause() {
    with_accepted(|mut r, mut app, id, mut client| {
        client.write_all(b"early bytes").unwrap();
        turn_n(&mut r, &mut app, 10);
        assert!(app.received.is_empty(), "paused sockets are not read");
        ask(&mut r, &mut app, |r, cb| r.tcp().set_paused(id, false, cb)).unwrap();
        turn_until(&mut r, &mut app, |a| a.bytes(id).len() >= 11);
        assert_eq!(app.bytes(id), b"early bytes");
    });
}

#[test]
fn nothing_is_lost_across_pause_and_unpause_cycles() {
    with_accepted(|mut r, mut app, id, mut client| {
        let mut expected = Vec::new();
        for round in 0..5u32 {
            let piece = pattern(30_000, 100 + round);
            client.write_all(&piece).unwrap();
            expected.extend_from_slice(&piece);
            ask(&mut r, &mut app, |r, cb| r.tcp().set_paused(id, false, cb)).unwrap();
            // Pause after some of it arrived; the rest stays in the kernel.
            let target = expected.len() - piece.len() + 1;
            turn_until(&mut r, &mut app, |a| a.bytes(id).len() >= target);
            ask(&mut r, &mut app, |r, cb| r.tcp().set_paused(id, true, cb)).unwrap();
            let held = app.bytes(id).len();
            turn_n(&mut r, &mut app, 5);
            assert_eq!(app.bytes(id).len(), held, "no receive while paused");
        }
        ask(&mut r, &mut app, |r, cb| r.tcp().set_paused(id, false, cb)).unwrap();
        turn_until(&mut r, &mut app, |a| a.bytes(id).len() >= expected.len());
        assert!(app.bytes(id) == expected);
    });
}

#[test]
fn pausing_in_a_receive_listener_stops_the_next_receive_at_once() {
    // D8: pausing stops events at once; nothing already read leaks through.
    with_recorder(|mut r, mut app| {
        r.tcp().on_receive().add_listener(|r, _, info| {
            r.tcp().set_paused(info.socket_id, true, |_, _, _| {});
        });
        let (id, mut client) = accepted_pair(&mut r, &mut app, "127.0.0.1");
        let props = SocketProperties::new().buffer_size(1);
        ask(&mut r, &mut app, |r, cb| r.tcp().update(id, props, cb)).unwrap();
        client.write_all(b"abcdef").unwrap();
        ask(&mut r, &mut app, |r, cb| r.tcp().set_paused(id, false, cb)).unwrap();
        for expected in [&b"a"[..], b"ab", b"abc"] {
            turn_until(&mut r, &mut app, |a| a.bytes(id).len() >= expected.len());
            turn_n(&mut r, &mut app, 5);
            assert_eq!(app.bytes(id), expected);
            assert!(info(&mut r, &mut app, id).paused);
            ask(&mut r, &mut app, |r, cb| r.tcp().set_paused(id, false, cb)).unwrap();
        }
    });
}

#[test]
fn back_to_back_sends_complete_in_issue_order_with_bytes_in_order() {
    with_accepted(|mut r, mut app, id, client| {
        // Sizes mix small sends with ones far larger than the socket buffer.
        let sizes = [10usize, 3 << 20, 1, 0, 70_000, 4 << 20, 5];
        let pieces: Vec<Vec<u8>> = sizes
            .iter()
            .enumerate()
            .map(|(i, &n)| pattern(n, 50 + i as u32))
            .collect();
        let all: Vec<u8> = pieces.concat();
        let h = reader(client, all.len());
        for (i, p) in pieces.iter().enumerate() {
            r.tcp().send(id, p.clone(), move |_, app: &mut Rec, res| {
                let n = res.expect("send").bytes_sent;
                app.log.push(format!("send {i} {n}"));
            });
        }
        let got = join_all(&mut r, &mut app, vec![h]).remove(0);
        turn_until(&mut r, &mut app, |a| a.log.len() == sizes.len());
        let expected: Vec<String> = sizes
            .iter()
            .enumerate()
            .map(|(i, n)| format!("send {i} {n}"))
            .collect();
        assert_eq!(app.log, expected);
        assert!(got == all, "bytes on the wire out of order");
    });
}

#[test]
fn paused_socket_can_send() {
    // §3.8.6: paused does not affect sending.
    with_accepted(|mut r, mut app, id, mut client| {
        let sent = send(&mut r, &mut app, id, b"hi");
        assert_eq!(sent.unwrap(), 2);
        let mut buf = [0u8; 2];
        client.read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"hi");
        assert!(info(&mut r, &mut app, id).paused);
    });
}

#[test]
fn connected_socket_receives_only_after_its_connect_callback() {
    // §3.6 step 7: onReceive never precedes the connect callback.
    with_recorder(|mut r, mut app| {
        let (listener, port) = std_listener_and_port();
        let id: TcpSocketId = create(&mut r, &mut app, SocketProperties::new());
        r.tcp()
            .connect(id, "127.0.0.1", port, |_, app: &mut Rec, res| {
                res.expect("connect");
                app.log.push("connect".into());
            });
        // The peer writes as soon as the handshake is done, before the reactor turns again.
        let mut peer = std_accept(&listener);
        peer.write_all(b"greeting").unwrap();
        turn_until(&mut r, &mut app, |a| a.bytes(id).len() >= 8);
        assert_eq!(app.log.first().map(String::as_str), Some("connect"));
        assert_eq!(app.bytes(id), b"greeting");
    });
}

#[test]
fn one_byte_segments_kept_by_the_app_hold_what_was_received_not_buffer_size() {
    // Issue 21: a peer dripping one byte at a time into an app that keeps every chunk (as a
    // server buffering a request until it is complete does) must cost about a byte per byte,
    // not `buffer_size` bytes per byte, even at the largest `buffer_size`.
    with_accepted(|mut r, mut app, id, mut client| {
        client.set_nodelay(true).unwrap();
        let props = SocketProperties::new().buffer_size(i32::MAX); // read size capped at 1 MiB
        ask(&mut r, &mut app, |r, cb| r.tcp().update(id, props, cb)).unwrap();
        let kept = std::rc::Rc::new(std::cell::RefCell::new(Vec::<Vec<u8>>::new()));
        let keeper = kept.clone();
        // The last listener registered gets the event's own `data`, not a copy.
        r.tcp()
            .on_receive()
            .add_owning_listener(move |_, _, info| keeper.borrow_mut().push(info.data));
        ask(&mut r, &mut app, |r, cb| r.tcp().set_paused(id, false, cb)).unwrap();
        for i in 0..1000usize {
            client.write_all(&[i as u8]).unwrap();
            // One segment, one read: wait for it before sending the next byte.
            turn_until(&mut r, &mut app, |_| kept.borrow().len() > i);
        }
        let kept = kept.borrow();
        assert_eq!(kept.len(), 1000, "one on_receive per one-byte segment");
        let bytes: Vec<u8> = kept.concat();
        assert_eq!(bytes, (0..1000usize).map(|i| i as u8).collect::<Vec<_>>());
        let capacity: usize = kept.iter().map(Vec::capacity).sum();
        assert!(
            capacity < 64 * 1024,
            "1,000 received bytes kept in {capacity} bytes of capacity"
        );
        assert!(
            kept.iter().all(|d| d.capacity() <= 64),
            "a chunk holds at most max(n, 64)"
        );
    });
}

/// docs/failure-reporting.md rows 14 and 15: with no listener an event is lost, as in Chrome
/// (reference §0.2), but the accepted socket is not: `get_sockets` lists it, and bytes read
/// while no `on_receive` listener is registered are not replayed to a later listener.
#[test]
fn events_with_no_listener_are_lost_as_in_chrome_but_the_accepted_socket_is_listed() {
    // Alone in the binary, and every fd closed again: the other tests count fds.
    let _fds = FdGuard::new();
    let mut r: Reactor<Rec> = Reactor::new().unwrap();
    let mut rec = Rec::default();
    let (_server, addr) = listening_server(&mut r, &mut rec, "127.0.0.1");
    let mut client = connect(addr);
    client.write_all(b"lost").unwrap();

    let mut sockets = Vec::new();
    for _ in 0..500 {
        sockets = ask(&mut r, &mut rec, |r, d| r.tcp().get_sockets(d)).unwrap();
        if !sockets.is_empty() {
            break;
        }
        idle_work(&mut r, &mut rec, 1);
    }
    assert_eq!(sockets.len(), 1, "the accepted socket is live");
    let id = sockets[0].socket_id;
    assert!(sockets[0].connected && sockets[0].paused);

    // Unpaused with no on_receive listener: "lost" is read and dispatched to nobody.
    ask(&mut r, &mut rec, |r, d| r.tcp().set_paused(id, false, d)).unwrap();
    // (The read step runs in the turn that answers the unpause; these turns let it finish.)
    idle_work(&mut r, &mut rec, 5);
    record_events(&mut r);
    client.write_all(b"kept").unwrap();
    turn_until(&mut r, &mut rec, |rec| rec.bytes(id).len() >= 4);
    assert_eq!(
        rec.bytes(id),
        b"kept",
        "unread, \"lost\" would arrive first"
    );
    assert!(rec.accepted.is_empty(), "the accept event is not replayed");
}
