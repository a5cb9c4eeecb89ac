//! Helpers for the `chrome.sockets.tcp` tests: a recording app state, waiting for one
//! callback, and getting an accepted or connected socket paired with a std peer.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use chrome_sockets::tcp::{ReceiveErrorInfo, ReceiveInfo, SocketInfo, SocketProperties};
use chrome_sockets::{LastError, Reactor, TcpSocketId};

use crate::util::{connect, listening_server, PATIENCE};

/// What the listeners saw, in order.
#[derive(Default, Debug)]
pub struct App {
    /// Client socket ids from `on_accept`, in order.
    pub accepted: Vec<TcpSocketId>,
    /// Concatenated `on_receive` data per socket.
    pub received: BTreeMap<TcpSocketId, Vec<u8>>,
    /// Every `on_receive` chunk length per socket.
    pub chunks: BTreeMap<TcpSocketId, Vec<usize>>,
    /// Every `on_receive_error` (socket, code).
    pub errors: Vec<(TcpSocketId, i32)>,
    /// A log of callbacks and events, for order checks.
    pub log: Vec<String>,
}

impl App {
    /// Bytes received on `id` so far.
    pub fn bytes(&self, id: TcpSocketId) -> &[u8] {
        self.received.get(&id).map_or(&[], |v| v.as_slice())
    }
}

/// A reactor whose listeners record into [`App`].
pub fn recording_reactor() -> Reactor<App> {
    let mut r: Reactor<App> = Reactor::new().expect("reactor");
    r.tcp_server().on_accept().add_listener(|_, app, info| {
        app.accepted.push(info.client_socket_id);
    });
    r.tcp()
        .on_receive()
        .add_listener(|_, app, info: &ReceiveInfo| {
            app.received
                .entry(info.socket_id)
                .or_default()
                .extend_from_slice(&info.data);
            app.chunks
                .entry(info.socket_id)
                .or_default()
                .push(info.data.len());
            app.log.push(format!("receive {}", info.data.len()));
        });
    r.tcp()
        .on_receive_error()
        .add_listener(|_, app, info: &ReceiveErrorInfo| {
            app.errors.push((info.socket_id, info.result_code.code()));
            app.log
                .push(format!("receive_error {}", info.result_code.code()));
        });
    r
}

/// One call, waited for: the shared kit's `ask` (callback once, never inside the call).
pub use super::util::ask as call;

/// `get_info` of a live socket.
#[track_caller]
pub fn info(r: &mut Reactor<App>, app: &mut App, id: TcpSocketId) -> SocketInfo {
    call(r, app, |r, cb| r.tcp().get_info(id, cb)).expect("get_info")
}

/// A listening server on `address` and one accepted connection: (accepted id, client).
/// The accepted socket is still paused.
#[track_caller]
pub fn accepted_pair(
    r: &mut Reactor<App>,
    app: &mut App,
    address: &str,
) -> (TcpSocketId, TcpStream) {
    let (_server, addr) = listening_server(r, app, address);
    accept_one(r, app, addr)
}

/// Connects a client to `addr` (a listener of `r`) and waits for its `on_accept`.
#[track_caller]
pub fn accept_one(
    r: &mut Reactor<App>,
    app: &mut App,
    addr: SocketAddr,
) -> (TcpSocketId, TcpStream) {
    let before = app.accepted.len();
    let client = connect(addr);
    crate::util::turn_until(r, app, |a| a.accepted.len() > before);
    (app.accepted[before], client)
}

/// Creates a tcp socket with `props`.
#[track_caller]
pub fn create(r: &mut Reactor<App>, app: &mut App, props: SocketProperties) -> TcpSocketId {
    call(r, app, |r, cb| r.tcp().create(props, cb))
        .expect("create")
        .socket_id
}

/// A std listener on 127.0.0.1:0 with accept that cannot hang.
pub fn std_listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("bind")
}

/// Accepts one connection on `l` with timeouts set, bounded in time.
#[track_caller]
pub fn std_accept(l: &TcpListener) -> TcpStream {
    l.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + PATIENCE;
    loop {
        match l.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(PATIENCE)).unwrap();
                s.set_write_timeout(Some(PATIENCE)).unwrap();
                return s;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "no connection to accept");
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// A created socket connected (by the reactor) to a std listener: (id, the peer's stream).
#[track_caller]
pub fn connected_pair(
    r: &mut Reactor<App>,
    app: &mut App,
    props: SocketProperties,
    listener: &TcpListener,
) -> (TcpSocketId, TcpStream) {
    let id = create(r, app, props);
    let port = listener.local_addr().unwrap().port() as i32;
    call(r, app, |r, cb| r.tcp().connect(id, "127.0.0.1", port, cb)).expect("connect");
    (id, std_accept(listener))
}

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
pub fn closed_port() -> i32 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port() as i32
}

/// `len` bytes of a pattern that catches reordering and loss (not periodic in 256).
pub fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Asserts a result is `Err` with exactly this message and code.
#[track_caller]
pub fn assert_err<T: std::fmt::Debug>(
    result: &Result<T, LastError>,
    message: &str,
    code: Option<i32>,
) {
    crate::util::assert_last_error(result, message, code);
}

/// Runs `body` alone in this binary (fd counts are process-wide) and checks that every fd it
/// opened is closed afterwards (its reactor, sockets and std peers dropped).
#[track_caller]
pub fn without_fd_leak(body: impl FnOnce()) {
    let _serial = crate::util::serial();
    let before = crate::util::fds_by_kind();
    body();
    crate::util::assert_fds_back_to(&before);
}
