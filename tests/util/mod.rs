//! The one test kit (mio's `tests/util` is the model): bounded turning, a recorder of every
//! callback and event, fd-leak and fault guards, loopback peers and a logger for tests.
//!
//! Every loop here is bounded in time; a helper that runs out of time panics with the
//! caller's location (`#[track_caller]`). Each test binary uses a part of the kit only.
//!
//! Test comments cite `docs/`: "design §N" is `docs/design.md`, "reference §N" (or a bare
//! "§N") is `docs/chrome-reference.md`.
#![allow(dead_code, unused_imports)]

use std::net::SocketAddr;
use std::sync::Once;
use std::time::{Duration, Instant};

use chrome_sockets::tcp_server::SocketProperties;
use chrome_sockets::{LastError, LastErrorKind, Reactor, ServerSocketId};

mod fault;
mod fds;
mod peer;
mod record;
mod slot;

pub use fault::*;
pub use fds::*;
pub use peer::*;
pub use record::*;
pub use slot::*;

/// How long any helper waits before giving up.
pub const PATIENCE: Duration = Duration::from_secs(10);

/// Drops `value` and asserts the drop took less than `limit` (a drop that waited for a
/// thread's work would not).
#[track_caller]
pub fn drop_within<T>(value: T, limit: Duration) {
    let start = Instant::now();
    drop(value);
    let took = start.elapsed();
    assert!(took < limit, "drop took {took:?}");
}

/// Installs the test logger once per binary: records at `RUST_LOG`'s level (default `warn`)
/// go to stderr, which the harness shows for failing tests only.
pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        let level = std::env::var("RUST_LOG")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(log::LevelFilter::Warn);
        if log::set_logger(&TestLogger).is_ok() {
            log::set_max_level(level);
        }
    });
}

struct TestLogger;

impl log::Log for TestLogger {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        metadata.level() <= log::max_level()
    }

    fn log(&self, record: &log::Record<'_>) {
        if self.enabled(record.metadata()) {
            eprintln!("{} {}: {}", record.level(), record.target(), record.args());
        }
    }

    fn flush(&self) {}
}

/// Turns `r` (10 ms poll timeout per turn) until `done(state)` holds; panics after [`PATIENCE`].
#[track_caller]
pub fn turn_until<S: 'static>(r: &mut Reactor<S>, state: &mut S, mut done: impl FnMut(&S) -> bool) {
    init();
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
            // The kind a `match` sees agrees with Chrome's message.
            let kind = match message {
                "Socket not found" => LastErrorKind::NotFound,
                "Does not have permission" => LastErrorKind::Permission,
                "Exceeded write quota." => LastErrorKind::WriteQuota,
                _ => LastErrorKind::Net(e.code().expect("a net error has a code")),
            };
            assert_eq!(e.kind(), kind, "kind of {message:?}");
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
    turn_until(r, state, |_| out.get().is_some());
    out.get().expect("listening")
}

/// A server listening on 127.0.0.1 at a free port: its id and address.
#[track_caller]
pub fn listen_on_loopback<S: 'static>(
    r: &mut Reactor<S>,
    state: &mut S,
) -> (ServerSocketId, SocketAddr) {
    listening_server(r, state, "127.0.0.1")
}

/// Serialises the tests of one test binary. fd counts are process-wide and the test harness
/// runs tests on parallel threads, so every test in a binary that counts fds takes this first.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}
