//! [`Rec`], the one recorder: the app state of test reactors, filled by listeners on all four
//! events, plus the helpers that create, connect and accept sockets through it.

use std::collections::BTreeMap;
use std::net::{SocketAddr, TcpListener, TcpStream};

use chrome_sockets::tcp::{SocketInfo, SocketProperties};
use chrome_sockets::tcp_server::AcceptInfo;
use chrome_sockets::{Reactor, ServerSocketId, TcpSocketId};

use super::{ask, connect, listening_server, std_accept, turn_until};

/// Everything the reactor told the app, in order (see [`record_events`]).
#[derive(Debug, Default)]
pub struct Rec {
    /// `(server, client)` of every `on_accept`.
    pub accepted: Vec<(ServerSocketId, TcpSocketId)>,
    /// `(server, code)` of every `on_accept_error`.
    pub accept_errors: Vec<(ServerSocketId, i32)>,
    /// Bytes received per socket, concatenated.
    pub received: BTreeMap<TcpSocketId, Vec<u8>>,
    /// Every `on_receive` chunk length per socket.
    pub chunks: BTreeMap<TcpSocketId, Vec<usize>>,
    /// `(socket, code)` of every `on_receive_error`.
    pub receive_errors: Vec<(TcpSocketId, i32)>,
    /// `receive <len>` and `receive_error <code>` lines, for order checks (tests add theirs).
    pub log: Vec<String>,
    /// Unpause every accepted socket from `on_accept`.
    pub unpause_accepted: bool,
    /// Echo every received chunk back on the same socket.
    pub echo: bool,
    /// Close every socket that gets `on_receive_error`.
    pub close_on_error: bool,
}

impl Rec {
    /// A recorder that unpauses accepted sockets (so their data is read).
    pub fn reading() -> Self {
        Rec {
            unpause_accepted: true,
            ..Rec::default()
        }
    }

    /// Client ids accepted so far.
    pub fn clients(&self) -> Vec<TcpSocketId> {
        self.accepted.iter().map(|&(_, c)| c).collect()
    }

    /// Receive errors of one socket.
    pub fn errors_of(&self, id: TcpSocketId) -> Vec<i32> {
        self.receive_errors
            .iter()
            .filter(|&&(s, _)| s == id)
            .map(|&(_, c)| c)
            .collect()
    }

    /// Asserts the socket got exactly one receive error: -101 (reset) or -100 (EOF), as a
    /// peer that reset may be seen either way.
    #[track_caller]
    pub fn assert_one_reset_or_eof(&self, id: TcpSocketId) {
        let errors = self.errors_of(id);
        assert!(
            errors == [-101] || errors == [-100],
            "socket {id}: {errors:?}"
        );
    }

    /// Bytes received on `id` so far.
    pub fn bytes(&self, id: TcpSocketId) -> &[u8] {
        self.received.get(&id).map_or(&[], |v| v.as_slice())
    }
}

/// Registers listeners on all four events that fill a [`Rec`].
pub fn record_events(r: &mut Reactor<Rec>) {
    super::init();
    r.tcp_server().on_accept().add_listener(|r, rec, info| {
        rec.accepted.push((info.socket_id, info.client_socket_id));
        if rec.unpause_accepted {
            r.tcp()
                .set_paused(info.client_socket_id, false, |_, _, res| {
                    res.expect("unpause accepted")
                });
        }
    });
    r.tcp_server()
        .on_accept_error()
        .add_listener(|_, rec, info| {
            rec.accept_errors
                .push((info.socket_id, info.result_code.code()));
        });
    r.tcp().on_receive().add_listener(|r, rec, info| {
        rec.received
            .entry(info.socket_id)
            .or_default()
            .extend_from_slice(&info.data);
        rec.chunks
            .entry(info.socket_id)
            .or_default()
            .push(info.data.len());
        rec.log.push(format!("receive {}", info.data.len()));
        if rec.echo {
            r.tcp()
                .send(info.socket_id, info.data.clone(), |_, _, _| {});
        }
    });
    r.tcp().on_receive_error().add_listener(|r, rec, info| {
        let code = info.result_code.code();
        rec.receive_errors.push((info.socket_id, code));
        rec.log.push(format!("receive_error {code}"));
        if rec.close_on_error {
            r.tcp()
                .close(info.socket_id, |_, _, res| res.expect("close"));
        }
    });
}

/// A new reactor whose listeners record into [`Rec`].
pub fn recording_reactor() -> Reactor<Rec> {
    let mut r: Reactor<Rec> = Reactor::new().expect("reactor");
    record_events(&mut r);
    r
}

/// Runs `body` with a new [`recording_reactor`] and an empty [`Rec`] under an
/// [`FdGuard`](super::FdGuard): when `body` has dropped them, every fd it opened is closed.
#[track_caller]
pub fn with_recorder(body: impl FnOnce(Reactor<Rec>, Rec)) {
    let fds = super::FdGuard::new();
    body(recording_reactor(), Rec::default());
    super::assert_fds_back_to(fds.before());
}

/// A [`recording_reactor`] with `rec` as its state and a server listening on 127.0.0.1:
/// (reactor, state, server id, server address).
#[track_caller]
pub fn serving(mut rec: Rec) -> (Reactor<Rec>, Rec, ServerSocketId, SocketAddr) {
    let mut r = recording_reactor();
    let (server, addr) = super::listen_on_loopback(&mut r, &mut rec);
    (r, rec, server, addr)
}

/// [`serving`] with one client connected and accepted: (reactor, state, accepted id, client).
/// The accepted socket is still paused unless `rec.unpause_accepted`.
#[track_caller]
pub fn serving_one(rec: Rec) -> (Reactor<Rec>, Rec, TcpSocketId, TcpStream) {
    let (mut r, mut rec, _server, addr) = serving(rec);
    let (id, client) = accept_one(&mut r, &mut rec, addr);
    (r, rec, id, client)
}

/// A new reactor whose state is just the `on_accept` infos, in order (for tests of ids and
/// servers that need no more than that).
pub fn accepting_reactor() -> Reactor<Vec<AcceptInfo>> {
    super::init();
    let mut r: Reactor<Vec<AcceptInfo>> = Reactor::new().expect("reactor");
    r.tcp_server()
        .on_accept()
        .add_listener(|_, accepts, info| accepts.push(*info));
    r
}

/// [`with_recorder`] with one connection accepted on a loopback server: `body` gets the
/// reactor, the state, the accepted socket (still paused) and the client.
#[track_caller]
pub fn with_accepted(body: impl FnOnce(Reactor<Rec>, Rec, TcpSocketId, TcpStream)) {
    with_recorder(|mut r, mut rec| {
        let (id, client) = accepted_pair(&mut r, &mut rec, "127.0.0.1");
        body(r, rec, id, client)
    });
}

/// `get_info` of a live socket.
#[track_caller]
pub fn info(r: &mut Reactor<Rec>, rec: &mut Rec, id: TcpSocketId) -> SocketInfo {
    ask(r, rec, |r, cb| r.tcp().get_info(id, cb)).expect("get_info")
}

/// A listening server on `address` and one accepted connection: (accepted id, client).
/// The accepted socket is still paused unless `rec.unpause_accepted`.
#[track_caller]
pub fn accepted_pair(
    r: &mut Reactor<Rec>,
    rec: &mut Rec,
    address: &str,
) -> (TcpSocketId, TcpStream) {
    let (_server, addr) = listening_server(r, rec, address);
    accept_one(r, rec, addr)
}

/// Connects a client to `addr` (a listener of `r`) and waits for its `on_accept`.
#[track_caller]
pub fn accept_one(
    r: &mut Reactor<Rec>,
    rec: &mut Rec,
    addr: SocketAddr,
) -> (TcpSocketId, TcpStream) {
    let before = rec.accepted.len();
    let client = connect(addr);
    turn_until(r, rec, |a| a.accepted.len() > before);
    (rec.accepted[before].1, client)
}

/// Sets the socket's `bufferSize` (reads of at most that many bytes) and unpauses it.
#[track_caller]
pub fn resume_with_buffer_size(
    r: &mut Reactor<Rec>,
    rec: &mut Rec,
    id: TcpSocketId,
    buffer_size: i32,
) {
    let props = SocketProperties::new().buffer_size(buffer_size);
    ask(r, rec, |r, cb| r.tcp().update(id, props, cb)).expect("update");
    ask(r, rec, |r, cb| r.tcp().set_paused(id, false, cb)).expect("set_paused");
}

/// Creates a tcp socket with `props`.
#[track_caller]
pub fn create<S: 'static>(
    r: &mut Reactor<S>,
    state: &mut S,
    props: SocketProperties,
) -> TcpSocketId {
    ask(r, state, |r, cb| r.tcp().create(props, cb))
        .expect("create")
        .socket_id
}

/// Creates a server socket with `props`.
#[track_caller]
pub fn create_server<S: 'static>(
    r: &mut Reactor<S>,
    state: &mut S,
    props: chrome_sockets::tcp_server::SocketProperties,
) -> ServerSocketId {
    ask(r, state, |r, cb| r.tcp_server().create(props, cb))
        .expect("create")
        .socket_id
}

/// A created socket connected (by the reactor) to a std listener: (id, the peer's stream).
#[track_caller]
pub fn connected_pair(
    r: &mut Reactor<Rec>,
    rec: &mut Rec,
    props: SocketProperties,
    listener: &TcpListener,
) -> (TcpSocketId, TcpStream) {
    let id = create(r, rec, props);
    let port = listener.local_addr().unwrap().port() as i32;
    ask(r, rec, |r, cb| r.tcp().connect(id, "127.0.0.1", port, cb)).expect("connect");
    (id, std_accept(listener))
}
