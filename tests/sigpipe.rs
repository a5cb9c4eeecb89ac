//! No write path raises SIGPIPE: a child process with SIGPIPE's default disposition (which
//! kills) writes to reset and closed peers through `tcp().send` (from the call and from the
//! writable-flush path, on accepted and on connected sockets) and exits normally.
//! A binary of its own because it re-executes itself with a changed signal disposition.
mod util;

use std::cell::RefCell;
use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::rc::Rc;

use chrome_sockets::tcp::SocketProperties as TcpProps;
use chrome_sockets::{LastError, Reactor, TcpSocketId};
use util::*;

const CHILD: &str = "CHROME_SOCKETS_SIGPIPE_CHILD";
const DONE: &str = "sigpipe child: every write answered";

#[test]
fn no_write_path_raises_sigpipe() {
    if std::env::var_os(CHILD).is_some() {
        return child();
    }
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "no_write_path_raises_sigpipe", "--nocapture"])
        .env(CHILD, "1")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(
        out.status.signal(),
        Some(libc::SIGPIPE),
        "the child was killed by SIGPIPE"
    );
    assert!(
        out.status.success(),
        "child failed: {:?}\n{stdout}\n{stderr}",
        out.status
    );
    assert!(
        stdout.contains(DONE),
        "the child did not do its writes:\n{stdout}\n{stderr}"
    );
}

/// Whether SIGPIPE is ignored in this process, from `/proc/self/status`.
fn sigpipe_ignored() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let mask = status
        .lines()
        .find_map(|l| l.strip_prefix("SigIgn:"))
        .unwrap()
        .trim();
    u64::from_str_radix(mask, 16).unwrap() & (1 << (libc::SIGPIPE - 1)) != 0
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

fn child() {
    // The Rust runtime ignores SIGPIPE; put back the default (terminate) so a write that
    // raised it would kill this process.
    // SAFETY: test-only; setting a signal disposition to SIG_DFL installs no handler, and
    // this child process runs this single test on its own.
    let previous = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    assert_eq!(previous, libc::SIG_IGN);
    assert!(!sigpipe_ignored());

    let mut rec = Rec::default();
    let mut r = recording_reactor();
    let (_server, addr) = listen_on_loopback(&mut r, &mut rec);

    // 1. An accepted socket whose peer resets.
    let peer = connect(addr);
    turn_until(&mut r, &mut rec, |rec| rec.accepted.len() == 1);
    let accepted = rec.accepted[0].1;
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
    println!("{DONE}");
}
