//! The shared test kit: bounded turning, fd accounting, small socket helpers.
//!
//! Every loop here is bounded in time; a helper that runs out of time panics with the
//! caller's location (`#[track_caller]`).
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use chrome_sockets::tcp_server::SocketProperties;
use chrome_sockets::{LastError, Reactor, ServerSocketId};

mod slot;
#[allow(unused_imports)] // not every test binary uses the slots
pub use slot::*;

/// How long any helper waits before giving up.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Turns `r` (10 ms poll timeout per turn) until `done(state)` holds; panics after [`PATIENCE`].
#[track_caller]
pub fn turn_until<S: 'static>(r: &mut Reactor<S>, state: &mut S, mut done: impl FnMut(&S) -> bool) {
    let deadline = Instant::now() + PATIENCE;
    while !done(state) {
        assert!(
            Instant::now() < deadline,
            "condition not reached within {PATIENCE:?}"
        );
        r.turn(Some(Duration::from_millis(10)), state)
            .expect("turn");
    }
}

/// Runs `n` turns with a short timeout (for "nothing more happens" checks).
pub fn turn_n<S: 'static>(r: &mut Reactor<S>, state: &mut S, n: usize) {
    for _ in 0..n {
        r.turn(Some(Duration::from_millis(5)), state).expect("turn");
    }
}

/// Number of open fds of this process.
pub fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .count()
}

/// Open fds of this process by kind ("socket", "anon_inode:[eventpoll]", "pipe", ...).
pub fn fds_by_kind() -> BTreeMap<String, usize> {
    let mut kinds = BTreeMap::new();
    for entry in std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .flatten()
    {
        let target = std::fs::read_link(entry.path())
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        let kind = match target.split_once(':') {
            Some(("anon_inode", rest)) => format!("anon_inode:{rest}"),
            Some((k, _)) => k.to_string(),
            None => "file".to_string(),
        };
        *kinds.entry(kind).or_insert(0) += 1;
    }
    kinds
}

/// Waits (bounded) until the process's fd count by kind equals `before`; panics otherwise.
/// Helper threads (host-name resolution) may hold an fd for a moment after a drop.
#[track_caller]
pub fn assert_fds_back_to(before: &BTreeMap<String, usize>) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let now = fds_by_kind();
        if &now == before {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "fd leak: before {before:?}, after {now:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Asserts an error's lastError message and net error code.
#[track_caller]
pub fn assert_last_error<T: std::fmt::Debug>(
    result: &Result<T, LastError>,
    message: &str,
    code: Option<i32>,
) {
    match result {
        Err(e) => {
            assert_eq!(e.message(), message, "lastError message");
            assert_eq!(e.code().map(|c| c.code()), code, "net error code");
        }
        Ok(v) => panic!("expected {message:?}, got Ok({v:?})"),
    }
}

/// Creates a server and listens on `address`:0; returns its id and the bound address.
#[track_caller]
pub fn listening_server<S: 'static>(
    r: &mut Reactor<S>,
    state: &mut S,
    address: &str,
) -> (ServerSocketId, SocketAddr) {
    use std::cell::Cell;
    use std::rc::Rc;
    let out: Rc<Cell<Option<(ServerSocketId, SocketAddr)>>> = Rc::new(Cell::new(None));
    let o = out.clone();
    let address = address.to_string();
    r.tcp_server()
        .create(SocketProperties::default(), move |r, _, created| {
            let id = created.expect("create").socket_id;
            r.tcp_server()
                .listen(id, &address, 0, None, move |r, _, result| {
                    result.expect("listen");
                    r.tcp_server().get_info(id, move |_, _, info| {
                        let info = info.expect("get_info");
                        let ip: std::net::IpAddr = info.local_address.unwrap().parse().unwrap();
                        o.set(Some((id, SocketAddr::new(ip, info.local_port.unwrap()))));
                    });
                });
        });
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(v) = out.get() {
            return v;
        }
        assert!(Instant::now() < deadline, "listen did not complete");
        r.turn(Some(Duration::from_millis(10)), state)
            .expect("turn");
    }
}

/// A blocking client with read/write timeouts so no test can hang on it.
#[track_caller]
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, PATIENCE).expect("connect");
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.set_write_timeout(Some(PATIENCE)).unwrap();
    s
}

/// Serialises the tests of one test binary. fd counts are process-wide and the test harness
/// runs tests on parallel threads, so every test in a binary that counts fds takes this first.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
