//! No write path raises SIGPIPE: with a SIGPIPE handler installed (so a raised SIGPIPE is
//! seen instead of silently ignored, as the Rust runtime would), `tcp().send` writes to reset
//! and closed peers (from the call and from the writable-flush path, on accepted and on
//! connected sockets) and the signal never arrives. A positive control first proves that the
//! handler does see a SIGPIPE raised by a plain `write(2)` to a broken pipe.
//! A binary of its own because the signal disposition is process-wide.
mod util;

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use chrome_sockets::tcp::SocketProperties as TcpProps;
use chrome_sockets::{LastError, Reactor, TcpSocketId};
use util::*;

#[test]
fn no_write_path_raises_sigpipe() {
    let raised = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(libc::SIGPIPE, raised.clone()).expect("install a SIGPIPE handler");

    // Positive control: write(2) to a pipe whose read end is closed raises SIGPIPE.
    let (reader, writer) = rustix::pipe::pipe().unwrap();
    drop(reader);
    let err = rustix::io::write(&writer, b"x").unwrap_err();
    assert_eq!(err, rustix::io::Errno::PIPE);
    assert!(
        raised.swap(false, Ordering::SeqCst),
        "the handler must see SIGPIPE"
    );

    write_to_broken_peers();
    assert!(
        !raised.load(Ordering::SeqCst),
        "a write path of the reactor raised SIGPIPE"
    );
}

/// Sends `count` chunks on `id` one after another; returns each result.
fn send_until_failure(
    r: &mut Reactor<Rec>,
    rec: &mut Rec,
    id: TcpSocketId,
    count: usize,
) -> Vec<Result<usize, LastError>> {
    let mut results = Vec::new();
    for _ in 0..count {
        let res = ask(r, rec, |r, d| r.tcp().send(id, vec![b'z'; 256 * 1024], d));
        results.push(res.map(|i| i.bytes_sent));
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    results
}

/// Every write path the reactor has, against peers that reset or closed.
fn write_to_broken_peers() {
    let mut rec = Rec::default();
    let mut r = recording_reactor();
    let (_server, addr) = listen_on_loopback(&mut r, &mut rec);

    // 1. An accepted socket whose peer resets.
    let (accepted, peer) = accept_one(&mut r, &mut rec, addr);
    set_reset_on_close(&peer);
    drop(peer);
    let results = send_until_failure(&mut r, &mut rec, accepted, 4);
    assert!(results.iter().any(|r| r.is_err()), "{results:?}");

    // 2. An accepted socket whose peer closes normally (FIN): the first write may succeed,
    // the peer answers with RST, later writes get EPIPE.
    let peer = connect(addr);
    turn_until(&mut r, &mut rec, |rec| rec.accepted.len() == 2);
    let accepted = rec.accepted[1].1;
    drop(peer);
    let results = send_until_failure(&mut r, &mut rec, accepted, 4);
    assert!(results.iter().any(|r| r.is_err()), "{results:?}");

    // 3. A connected socket (tcp().connect) whose peer closes.
    let target = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = target.local_addr().unwrap().port() as i32;
    let tcp = create(&mut r, &mut rec, TcpProps::default());
    ask(&mut r, &mut rec, |r, d| {
        r.tcp().connect(tcp, "127.0.0.1", port, d)
    })
    .unwrap();
    let (peer, _) = target.accept().unwrap();
    drop(peer);
    let results = send_until_failure(&mut r, &mut rec, tcp, 4);
    assert!(results.iter().any(|r| r.is_err()), "{results:?}");
    // Every failure is the reset code or "not connected" afterwards.
    for res in &results {
        if let Err(e) = res {
            let code = e.code().map(|c| c.code());
            assert!(code == Some(-101) || code == Some(-15), "{e:?}");
        }
    }

    // 4. A large send still being written when the peer resets: the rest goes out from the
    // writable-flush path, not from the call.
    let peer = connect(addr);
    turn_until(&mut r, &mut rec, |rec| rec.accepted.len() == 3);
    let accepted = rec.accepted[2].1;
    let big = Rc::new(RefCell::new(None));
    let slot = big.clone();
    r.tcp()
        .send(accepted, vec![7u8; 32 << 20], move |_, _, res| {
            *slot.borrow_mut() = Some(res.map(|i| i.bytes_sent));
        });
    turn_n(&mut r, &mut rec, 3);
    set_reset_on_close(&peer);
    drop(peer);
    turn_until(&mut r, &mut rec, |_| big.borrow().is_some());
    let res = big.borrow_mut().take().unwrap();
    let code = res
        .expect_err("a 32 MiB send to a reset peer")
        .code()
        .map(|c| c.code());
    assert_eq!(code, Some(-101), "the flushed send gets the reset's code");
}
