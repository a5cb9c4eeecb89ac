//! No write path raises SIGPIPE (DESIGN §4): sends to a closed or reset peer fail with an
//! error, checked in a child process whose SIGPIPE is at its default disposition (terminate).
//! A binary of its own because it changes a process-wide signal disposition.
mod tcp_kit;
mod util;

use std::os::unix::process::ExitStatusExt;
use std::process::Command;
use std::time::Duration;

use chrome_sockets::tcp::SendInfo;
use chrome_sockets::{LastError, Reactor, TcpSocketId};
use tcp_kit::*;
use util::*;

/// Set in the child's environment: the same test then plays the child's part.
const CHILD_ENV: &str = "CHROME_SOCKETS_SIGPIPE_CHILD";
const DONE: &str = "sigpipe-child: done";

#[test]
fn sends_to_dead_peers_never_raise_sigpipe() {
    if std::env::var_os(CHILD_ENV).is_some() {
        return child_sends_to_dead_peers_with_default_sigpipe();
    }
    let exe = std::env::current_exe().unwrap();
    let out = Command::new(exe)
        .env(CHILD_ENV, "1")
        .args([
            "--exact",
            "sends_to_dead_peers_never_raise_sigpipe",
            "--test-threads=1",
            "--nocapture",
        ])
        .output()
        .expect("spawning the child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(
        out.status.signal(),
        Some(libc::SIGPIPE),
        "the child died of SIGPIPE\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        out.status.success(),
        "child failed: {:?}\nstdout:\n{stdout}\nstderr:\n{stderr}",
        out.status
    );
    assert!(stdout.contains(DONE), "the child did not run:\n{stdout}");
}

/// Sends `b"ping"` until a send fails (bounded); returns the failure.
fn send_until_error(r: &mut Reactor<App>, app: &mut App, id: TcpSocketId) -> LastError {
    for _ in 0..200 {
        let res: Result<SendInfo, LastError> =
            call(r, app, |r, cb| r.tcp().send(id, b"ping".to_vec(), cb));
        match res {
            Ok(_) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => return e,
        }
    }
    panic!("sends to a dead peer kept succeeding");
}

#[track_caller]
fn assert_is_connection_error(what: &str, e: &LastError) {
    let code = e.code().map(|c| c.code());
    println!("sigpipe-child: {what} -> {code:?} {}", e.message());
    assert!(
        matches!(code, Some(-101) | Some(-15) | Some(-2)),
        "{what}: unexpected {e:?}"
    );
}

/// The child's part: runs only in the child process the test above starts.
fn child_sends_to_dead_peers_with_default_sigpipe() {
    // SAFETY: restores the default disposition of one signal in a process that runs only
    // this test (the parent starts it with --exact and the child environment variable); no handler is installed.
    let previous = unsafe { libc::signal(libc::SIGPIPE, libc::SIG_DFL) };
    assert_ne!(previous, libc::SIG_ERR);

    let mut r = recording_reactor();
    let mut app = App::default();
    let (_server, addr) = listening_server(&mut r, &mut app, "127.0.0.1");

    // The peer closes (FIN); our first send draws its RST, which in CLOSE_WAIT leaves EPIPE
    // pending: the next write(2) without MSG_NOSIGNAL would raise SIGPIPE.
    let (id, client) = accept_one(&mut r, &mut app, addr);
    drop(client);
    turn_n(&mut r, &mut app, 5);
    let e = send_until_error(&mut r, &mut app, id);
    assert_is_connection_error("send after peer close", &e);

    // The peer resets (SO_LINGER 0).
    let (id, client) = accept_one(&mut r, &mut app, addr);
    socket2::SockRef::from(&client)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(client);
    turn_n(&mut r, &mut app, 5);
    let e = send_until_error(&mut r, &mut app, id);
    assert_is_connection_error("send after peer reset", &e);

    // A large send in flight when the peer resets.
    let (id, client) = accept_one(&mut r, &mut app, addr);
    let big: Result<SendInfo, LastError> = {
        let slot = std::rc::Rc::new(std::cell::RefCell::new(None));
        let s = slot.clone();
        r.tcp().send(id, vec![7u8; 32 << 20], move |_, _, res| {
            *s.borrow_mut() = Some(res)
        });
        turn_n(&mut r, &mut app, 3);
        socket2::SockRef::from(&client)
            .set_linger(Some(Duration::ZERO))
            .unwrap();
        drop(client);
        turn_until(&mut r, &mut app, |_| slot.borrow().is_some());
        let res = slot.borrow_mut().take().unwrap();
        res
    };
    assert_is_connection_error("large send when the peer resets", &big.unwrap_err());

    println!("{DONE}");
}
