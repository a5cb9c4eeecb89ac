//! Runs an [`Input`] against a real reactor while a reference model predicts every result.
//!
//! How the model works:
//! - Every call gets a sequence number and a *check* computed from the model state at call
//!   time (the exact value, "Socket not found", or the exact net error and message). Results
//!   that depend on the kernel (connects, a listen on a port someone holds, a send to a peer
//!   that went away) are "one of" checks that update the model from what actually happened;
//!   for the immediate ones the executor turns right away until the callback ran, so later
//!   predictions stay exact.
//! - Callbacks queued inside a call run in the next turn, in the order queued: the model keeps
//!   that FIFO (with the `on_receive_error` -100 a disconnect queues, and the -3 a close gives
//!   a pending connect) and checks each callback against its head.
//! - Events are checked by invariants: no event for a closed id, no `on_accept` for a paused,
//!   closed or non-listening server, accepted ids are the next tcp id, bytes a peer wrote
//!   arrive in order and once (and bytes the reactor sent reach the peer in order), every
//!   listener registered sees every event once.
//! - At the end (and at every `drop_reactor`), after a bounded drain, every callback ran
//!   exactly once and the process's fd count is back where it started.

use std::collections::{BTreeMap, VecDeque};
use std::io::Read;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use chrome_sockets::{
    format_ip, tcp, tcp_server, LastError, ListenerId, NetError, Reactor, ReactorBuilder,
    ServerSocketId, SocketsManifest, TcpSocketId, TimerId,
};
use socket2::{Domain, Socket, Type};

use super::*;

/// How to run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Print every command, callback and event, one line each, as it happens.
    pub trace: bool,
}

/// What a callback received, in comparable form.
#[derive(Clone, Debug, PartialEq)]
enum Got {
    Unit,
    Created(i32),
    SInfo(tcp_server::SocketInfo),
    SList(Vec<tcp_server::SocketInfo>),
    TInfo(tcp::SocketInfo),
    TList(Vec<tcp::SocketInfo>),
    Sent(usize),
    Err(String, Option<i32>),
}

fn got<T>(r: Result<T, LastError>, ok: impl FnOnce(T) -> Got) -> Got {
    match r {
        Ok(v) => ok(v),
        Err(e) => Got::Err(e.message().to_string(), e.code().map(|c| c.code())),
    }
}

fn not_found() -> Got {
    Got::Err("Socket not found".into(), None)
}

fn no_permission() -> Got {
    Got::Err("Does not have permission".into(), None)
}

fn net(code: i32) -> Got {
    Got::Err(NetError::from_code(code).message(), Some(code))
}

type Check = Box<dyn FnOnce(&mut World, &Got) -> Result<(), String>>;

struct Pending {
    desc: String,
    check: Check,
    immediate: bool,
    /// May still be pending at the end (a connect whose SYN the kernel dropped).
    may_stay: bool,
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Fifo {
    Call(u64, u64),
    RecvErr(i32, u64),
}

impl Fifo {
    fn stamp(&self) -> u64 {
        match *self {
            Fifo::Call(_, s) | Fifo::RecvErr(_, s) => s,
        }
    }
}

struct MListen {
    ip: IpAddr,
    port: Option<u16>,
    small_backlog: bool,
    gen: u64,
}

struct MServer {
    name: String,
    persistent: bool,
    paused: bool,
    listen: Option<MListen>,
    /// A `set_paused(false)` on this paused server whose callback has not run: no
    /// `on_accept` may come before it (Chrome replies before the accept it starts completes).
    resuming: Option<u64>,
    /// (turn, accepts in it): a full accept batch may leave an accept step queued.
    accepts: (u64, usize),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum MConn {
    Idle,
    Connecting { seq: u64 },
    Connected { maybe_gone: bool },
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum Link {
    /// Accepted, not yet known whose connection it is.
    Unknown,
    Peer(usize),
    /// The other end is a reactor socket (or nothing known).
    Reactor,
}

struct MTcp {
    name: String,
    persistent: bool,
    buffer: i32,
    paused: bool,
    conn: MConn,
    link: Link,
    sent: Vec<u8>,
    received: Vec<u8>,
    /// A `set_paused(false)` on this paused, connected socket whose callback has not run: no
    /// read event may come before it (Chrome replies before the read it starts completes).
    resuming: Option<u64>,
    /// The last turn that delivered a full `buffer_size` chunk (a read step may be queued).
    full_chunk_turn: Option<u64>,
}

struct Peer {
    sock: Option<Socket>,
    local_port: u16,
    /// Bytes written, in order.
    written: Vec<u8>,
    /// Bytes read from the reactor, in order.
    read: Vec<u8>,
    /// Bytes the mapped tcp socket sent (what `read` must be a prefix of).
    expect_in: Vec<u8>,
    tcp: Option<i32>,
    shut: bool,
    gone: bool,
}

#[derive(Clone, Copy, PartialEq, Debug)]
enum TState {
    Pending,
    Fired,
    Cleared,
    Dropped,
}

struct MTimer {
    id: TimerId,
    lo: Instant,
    hi: Instant,
    state: TState,
}

/// The reactor's state `S`: the model plus everything callbacks check against.
pub struct World {
    trace: bool,
    manifest: ManifestChoice,
    turns: u64,
    next_seq: u64,
    pending: BTreeMap<u64, Pending>,
    fifo: VecDeque<Fifo>,
    servers: BTreeMap<i32, MServer>,
    server_issued: Vec<i32>,
    next_server: i32,
    tcps: BTreeMap<i32, MTcp>,
    tcp_issued: Vec<i32>,
    next_tcp: i32,
    listen_gen: u64,
    peers: Vec<Peer>,
    timers: Vec<MTimer>,
    /// Fuzz listeners: event, id, registered.
    listeners: Vec<(EventKind, ListenerId, bool)>,
    /// Fuzz listeners (indexes) that still have to see the event being dispatched.
    dispatch_waiting: Vec<usize>,
    /// Set when a check fails inside a callback; reported by the executor.
    failure: Option<String>,
}

macro_rules! ensure {
    ($cond:expr, $($fmt:tt)*) => {
        if !$cond {
            return Err(format!($($fmt)*));
        }
    };
}

impl World {
    fn fail(&mut self, msg: String) {
        if self.failure.is_none() {
            self.failure = Some(msg);
        }
    }

    fn log(&self, line: impl FnOnce() -> String) {
        if self.trace {
            println!("{}", line());
        }
    }

    /// Registers an expected callback; returns its sequence number.
    fn expect(&mut self, desc: String, immediate: bool, check: Check) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        if immediate {
            self.fifo.push_back(Fifo::Call(seq, self.turns));
        }
        self.pending.insert(
            seq,
            Pending {
                desc,
                check,
                immediate,
                may_stay: false,
            },
        );
        seq
    }

    fn expect_exact(&mut self, desc: String, want: Got) -> u64 {
        self.expect(
            desc,
            true,
            Box::new(move |_, g| {
                ensure!(*g == want, "expected {want:?}");
                Ok(())
            }),
        )
    }

    fn complete(&mut self, seq: u64, g: Got) {
        let Some(p) = self.pending.remove(&seq) else {
            return self.fail(format!(
                "callback #{seq} ran but is not pending (twice, or after unload/drop): {g:?}"
            ));
        };
        self.log(|| format!("  callback #{seq} {}: {g:?}", p.desc));
        if p.immediate {
            let front = self.fifo.pop_front();
            if front.map(|f| matches!(f, Fifo::Call(s, _) if s == seq)) != Some(true) {
                return self.fail(format!(
                    "callback #{seq} ({}) ran out of order; queue head was {front:?}",
                    p.desc
                ));
            }
        }
        if let Err(e) = (p.check)(self, &g) {
            self.fail(format!("callback #{seq} ({}): got {g:?}: {e}", p.desc));
        }
    }

    fn callback<T: 'static>(
        seq: u64,
        conv: fn(T) -> Got,
    ) -> impl FnOnce(&mut Reactor<World>, &mut World, T) + 'static {
        move |_, w, res| w.complete(seq, conv(res))
    }

    /// Called before each event reaches the fuzz listeners.
    fn begin_dispatch(&mut self, kind: EventKind) {
        self.end_dispatch();
        self.dispatch_waiting = self
            .listeners
            .iter()
            .enumerate()
            .filter(|(_, l)| l.0 == kind && l.2)
            .map(|(i, _)| i)
            .collect();
    }

    fn end_dispatch(&mut self) {
        if !self.dispatch_waiting.is_empty() {
            let w = std::mem::take(&mut self.dispatch_waiting);
            self.fail(format!("fuzz listeners {w:?} did not see an event"));
        }
    }

    fn fuzz_listener_saw(&mut self, index: usize) {
        match self.dispatch_waiting.iter().position(|&i| i == index) {
            Some(p) => {
                self.dispatch_waiting.remove(p);
            }
            None => self.fail(format!(
                "fuzz listener {index} called twice or unregistered"
            )),
        }
    }

    fn on_accept(&mut self, r: &mut Reactor<World>, info: &tcp_server::AcceptInfo) {
        self.begin_dispatch(EventKind::Accept);
        let (server, client) = (info.socket_id.raw(), info.client_socket_id.raw());
        self.log(|| format!("  event on_accept server={server} client={client}"));
        match self.servers.get(&server) {
            None => return self.fail(format!("on_accept for closed server {server}")),
            Some(s) if s.paused => {
                return self.fail(format!("on_accept for paused server {server}"))
            }
            Some(s) if s.listen.is_none() => {
                return self.fail(format!("on_accept for non-listening server {server}"))
            }
            Some(s) if s.resuming.is_some() => {
                return self.fail(format!(
                    "on_accept for server {server} before the callback of the set_paused(false) \
                     that resumed it"
                ))
            }
            Some(_) => {}
        }
        let turns = self.turns;
        let s = self.servers.get_mut(&server).unwrap();
        s.accepts = if s.accepts.0 == turns {
            (turns, s.accepts.1 + 1)
        } else {
            (turns, 1)
        };
        if client != self.next_tcp {
            return self.fail(format!("accepted id {client}, expected {}", self.next_tcp));
        }
        self.next_tcp += 1;
        self.tcp_issued.push(client);
        self.tcps.insert(
            client,
            MTcp {
                name: String::new(),
                persistent: false,
                buffer: 0,
                paused: true,
                conn: MConn::Connected { maybe_gone: true },
                link: Link::Unknown,
                sent: Vec::new(),
                received: Vec::new(),
                resuming: None,
                full_chunk_turn: None,
            },
        );
        // Learn whose connection it is from its peer port.
        let seq = self.expect(
            format!("(harness) tcp.get_info {client} after accept"),
            true,
            Box::new(move |w, g| {
                let Got::TInfo(i) = g else {
                    return Err("expected info".into());
                };
                ensure!(
                    i.connected && i.paused && !i.persistent && i.name.is_none(),
                    "accepted socket flags"
                );
                ensure!(
                    i.buffer_size.is_none() && i.local_port.is_some() && i.peer_port.is_some(),
                    "accepted socket addresses (D2)"
                );
                let port = i.peer_port.unwrap();
                let peer = w
                    .peers
                    .iter()
                    .position(|p| p.sock.is_some() && p.local_port == port && p.tcp.is_none());
                let Some(t) = w.tcps.get_mut(&client) else {
                    return Ok(());
                };
                match peer {
                    Some(pi) => {
                        t.link = Link::Peer(pi);
                        let p = &mut w.peers[pi];
                        p.tcp = Some(client);
                        p.expect_in = t.sent.clone();
                        if let MConn::Connected { maybe_gone } = &mut t.conn {
                            *maybe_gone = p.gone;
                        }
                        ensure!(
                            p.written.starts_with(&t.received),
                            "received {:?} is not a prefix of what peer {pi} wrote {:?}",
                            t.received,
                            p.written
                        );
                        ensure!(
                            p.expect_in.starts_with(&p.read),
                            "peer {pi} read wrong bytes"
                        );
                    }
                    None => t.link = Link::Reactor,
                }
                Ok(())
            }),
        );
        r.tcp().get_info(
            info.client_socket_id,
            World::callback(seq, |r| got(r, Got::TInfo)),
        );
    }

    fn on_receive(&mut self, info: &tcp::ReceiveInfo) {
        self.begin_dispatch(EventKind::Receive);
        let id = info.socket_id.raw();
        self.log(|| format!("  event on_receive socket={id} bytes={}", info.data.len()));
        let Some(t) = self.tcps.get_mut(&id) else {
            return self.fail(format!("on_receive for closed tcp socket {id}"));
        };
        let size = if t.buffer <= 0 {
            4096
        } else {
            t.buffer as usize
        };
        let problem = if t.paused {
            Some("paused")
        } else if !matches!(t.conn, MConn::Connected { .. }) {
            Some("not connected")
        } else if info.data.is_empty() || info.data.len() > size {
            Some("chunk size outside 1..=buffer_size")
        } else {
            None
        };
        if let Some(p) = problem {
            return self.fail(format!("on_receive for {id}: {p}"));
        }
        if t.resuming.is_some() {
            return self.fail(format!(
                "on_receive for {id} before the callback of the set_paused(false) that resumed it"
            ));
        }
        if info.data.len() == size {
            t.full_chunk_turn = Some(self.turns);
        }
        t.received.extend_from_slice(&info.data);
        if let Link::Peer(pi) = t.link {
            if !self.peers[pi].written.starts_with(&t.received) {
                let msg = format!(
                    "tcp {id} received {:?}, peer {pi} wrote {:?}",
                    t.received, self.peers[pi].written
                );
                self.fail(msg);
            }
        }
    }

    fn on_receive_error(&mut self, info: &tcp::ReceiveErrorInfo) {
        self.begin_dispatch(EventKind::ReceiveError);
        let (id, code) = (info.socket_id.raw(), info.result_code.code());
        self.log(|| format!("  event on_receive_error socket={id} code={code}"));
        if !self.tcps.contains_key(&id) {
            return self.fail(format!("on_receive_error for closed tcp socket {id} (D6)"));
        }
        if let Some(Fifo::RecvErr(fid, _)) = self.fifo.front() {
            if *fid == id {
                self.fifo.pop_front();
                if code != -100 {
                    self.fail(format!(
                        "queued on_receive_error for {id}: code {code}, want -100"
                    ));
                }
                return;
            }
        }
        if let Some(pos) = self
            .fifo
            .iter()
            .position(|f| matches!(f, Fifo::RecvErr(f, _) if *f == id))
        {
            return self.fail(format!(
                "on_receive_error for {id} overtook queued work: queue {:?} (position {pos})",
                self.fifo
            ));
        }
        // From the read path: the socket must be reading, and its peer gone.
        let t = self.tcps.get_mut(&id).unwrap();
        if t.paused || !matches!(t.conn, MConn::Connected { .. }) {
            return self.fail(format!(
                "on_receive_error for {id}: paused or not connected"
            ));
        }
        if t.resuming.is_some() {
            return self.fail(format!(
                "on_receive_error for {id} before the callback of the set_paused(false) that \
                 resumed it"
            ));
        }
        if let Link::Peer(pi) = t.link {
            let p = &self.peers[pi];
            if !p.shut && !p.gone {
                let msg = format!("on_receive_error {code} for {id} while peer {pi} is open");
                t.paused = true;
                t.conn = MConn::Idle;
                return self.fail(msg);
            }
        }
        t.paused = true;
        t.conn = MConn::Idle;
        if code != -100 && code != -101 {
            self.fail(format!(
                "on_receive_error for {id}: code {code}, want -100 or -101"
            ));
        }
    }

    fn timer_fired(&mut self, index: usize) {
        let now = Instant::now();
        self.log(|| format!("  timer {index} fired"));
        let t = &self.timers[index];
        if t.state != TState::Pending {
            return self.fail(format!("timer {index} fired in state {:?}", t.state));
        }
        if now < t.lo {
            return self.fail(format!("timer {index} fired early"));
        }
        let lo = t.lo;
        if let Some(j) = self
            .timers
            .iter()
            .position(|o| o.state == TState::Pending && o.hi < lo)
        {
            return self.fail(format!("timer {index} fired before earlier timer {j}"));
        }
        self.timers[index].state = TState::Fired;
    }

    /// Removes a closed tcp socket: its queued -100 is dropped (D6), a pending connect gets -3.
    fn close_tcp_model(&mut self, id: i32) {
        let t = self.tcps.remove(&id).expect("live");
        self.connect_aborted(t.conn);
        self.fifo
            .retain(|f| !matches!(f, Fifo::RecvErr(x, _) if *x == id));
    }

    /// A pending connect is answered -3 (D5) at this point of the queue.
    fn connect_aborted(&mut self, conn: MConn) {
        if let MConn::Connecting { seq } = conn {
            let p = self.pending.get_mut(&seq).expect("connect pending");
            p.immediate = true;
            p.may_stay = false;
            p.check = Box::new(|_, g| {
                ensure!(
                    *g == net(-3),
                    "a connect overtaken by disconnect/close gets -3"
                );
                Ok(())
            });
            self.fifo.push_back(Fifo::Call(seq, self.turns));
        }
    }

    fn pick(list: &[i32], next: i32, p: Pick) -> i32 {
        let i = p.0 as usize;
        match list.len() {
            n if n > 0 && i < 240 => list[i % n],
            _ => [next, 0, -1, i32::MAX][i % 4],
        }
    }

    fn server_port(&self, id: i32) -> Option<(IpAddr, u16)> {
        let l = self.servers.get(&id)?.listen.as_ref()?;
        Some((l.ip, l.port?))
    }

    fn exp_server(&self, id: i32) -> Option<ExpS> {
        let s = self.servers.get(&id)?;
        Some(ExpS {
            id,
            persistent: s.persistent,
            name: (!s.name.is_empty()).then(|| s.name.clone()),
            paused: s.paused,
            local: s.listen.as_ref().map(|l| (format_ip(l.ip), l.port)),
        })
    }

    fn exp_tcp(&self, id: i32) -> Option<ExpT> {
        let t = self.tcps.get(&id)?;
        Some(ExpT {
            id,
            persistent: t.persistent,
            name: (!t.name.is_empty()).then(|| t.name.clone()),
            buffer: (t.buffer > 0).then_some(t.buffer),
            paused: t.paused,
            connected: matches!(t.conn, MConn::Connected { .. }),
        })
    }
}

#[derive(Debug)]
struct ExpS {
    id: i32,
    persistent: bool,
    name: Option<String>,
    paused: bool,
    local: Option<(String, Option<u16>)>,
}

impl ExpS {
    fn check(&self, i: &tcp_server::SocketInfo) -> Result<(), String> {
        let local = match (&i.local_address, i.local_port) {
            (Some(a), Some(p)) => Some((a.clone(), p)),
            (None, None) => None,
            _ => return Err("address and port must come together".into()),
        };
        let ok = i.socket_id.raw() == self.id
            && i.persistent == self.persistent
            && i.name == self.name
            && i.paused == self.paused
            && match (&self.local, &local) {
                (None, None) => true,
                (Some((a, p)), Some((ga, gp))) => {
                    a == ga && *gp != 0 && p.map_or(true, |p| p == *gp)
                }
                _ => false,
            };
        ensure!(ok, "expected {self:?}");
        Ok(())
    }
}

#[derive(Debug)]
struct ExpT {
    id: i32,
    persistent: bool,
    name: Option<String>,
    buffer: Option<i32>,
    paused: bool,
    connected: bool,
}

impl ExpT {
    fn check(&self, i: &tcp::SocketInfo) -> Result<(), String> {
        let c = self.connected;
        let ok = i.socket_id.raw() == self.id
            && i.persistent == self.persistent
            && i.name == self.name
            && i.buffer_size == self.buffer
            && i.paused == self.paused
            && i.connected == c
            && i.local_address.is_some() == c
            && i.local_port.is_some() == c
            && i.peer_address.is_some() == c
            && i.peer_port.is_some() == c;
        ensure!(ok, "expected {self:?} (addresses present iff connected)");
        Ok(())
    }
}

fn name_of(n: NameChoice) -> Option<String> {
    match n {
        NameChoice::Unset => None,
        NameChoice::Empty => Some(String::new()),
        NameChoice::A => Some("a".into()),
        NameChoice::B => Some("web server".into()),
    }
}

fn flag_of(f: FlagChoice) -> Option<bool> {
    match f {
        FlagChoice::Unset => None,
        FlagChoice::False => Some(false),
        FlagChoice::True => Some(true),
    }
}

fn buf_of(b: BufChoice) -> Option<i32> {
    match b {
        BufChoice::Unset => None,
        BufChoice::Zero => Some(0),
        BufChoice::Negative => Some(-5),
        BufChoice::One => Some(1),
        BufChoice::Seven => Some(7),
        BufChoice::Default => Some(4096),
    }
}

/// The address text passed to `listen`, and what it parses to (None: not an IP literal).
fn listen_addr(a: ListenAddr) -> (&'static str, Option<IpAddr>) {
    let v4 = |a, b, c, d| Some(IpAddr::V4(Ipv4Addr::new(a, b, c, d)));
    match a {
        ListenAddr::V4Loopback => ("127.0.0.1", v4(127, 0, 0, 1)),
        ListenAddr::V4Short => ("127.1", v4(127, 0, 0, 1)),
        ListenAddr::V4Octal => ("0177.0.0.1", v4(127, 0, 0, 1)),
        ListenAddr::V4Any => ("0.0.0.0", v4(0, 0, 0, 0)),
        ListenAddr::V6Loopback => ("::1", Some(IpAddr::V6(Ipv6Addr::LOCALHOST))),
        ListenAddr::V6Any => ("::", Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED))),
        ListenAddr::NonLocal => ("192.0.2.1", v4(192, 0, 2, 1)),
        ListenAddr::HostName => ("localhost", None),
        ListenAddr::Empty => ("", None),
        ListenAddr::Bracketed => ("[::1]", None),
        ListenAddr::Zoned => ("fe80::1%lo", None),
        ListenAddr::Garbage => ("not an ip", None),
    }
}

fn connect_host(h: ConnectHost) -> &'static str {
    match h {
        ConnectHost::V4 => "127.0.0.1",
        ConnectHost::V4Short => "127.1",
        ConnectHost::Localhost => "localhost",
        ConnectHost::V6 => "::1",
        ConnectHost::Mapped => "::ffff:127.0.0.1",
        ConnectHost::NulName => "bad\0name",
    }
}

/// Bound, never-listening sockets: connecting to their ports is refused, and nobody else can
/// listen there while they live. Created once per process (part of the fd baseline).
fn refusing_ports() -> (u16, u16) {
    static PORTS: OnceLock<(Socket, Socket)> = OnceLock::new();
    let (a, b) = PORTS.get_or_init(|| {
        let bind = |addr: SocketAddr| {
            let s = Socket::new(Domain::for_address(addr), Type::STREAM, None).expect("socket");
            s.bind(&addr.into()).expect("bind refusing port");
            s
        };
        (
            bind("127.0.0.1:0".parse().unwrap()),
            bind("[::1]:0".parse().unwrap()),
        )
    });
    let port = |s: &Socket| s.local_addr().unwrap().as_socket().unwrap().port();
    (port(a), port(b))
}

/// Open fds of this process.
pub fn fd_count() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}

fn build(manifest: ManifestChoice, batch: u8) -> Reactor<World> {
    let m = SocketsManifest::new();
    let m = match manifest {
        ManifestChoice::None => None,
        ManifestChoice::Loopback4 => Some(
            m.allow_listen(["127.0.0.1:*"])
                .and_then(|m| m.allow_connect(["127.0.0.1:*"]))
                .unwrap(),
        ),
        ManifestChoice::ListenOnly => Some(m.allow_listen(["*"]).unwrap()),
        ManifestChoice::ConnectOnly => Some(m.allow_connect(["*:*"]).unwrap()),
    };
    let mut b = ReactorBuilder::new().accept_batch(1 + batch as usize % 4);
    if let Some(m) = m {
        b = b.manifest(m);
    }
    b.build().expect("reactor")
}

struct Exec {
    r: Option<Reactor<World>>,
    w: World,
    input_manifest: ManifestChoice,
    batch: u8,
    baseline: usize,
}

const PATIENCE: Duration = Duration::from_secs(5);

/// Runs `input`; panics with a description of the first disagreement with the model.
pub fn run(input: &Input, opts: &Options) {
    refusing_ports();
    let baseline = fd_count();
    let mut ex = Exec {
        r: None,
        w: World {
            trace: opts.trace,
            manifest: input.manifest,
            turns: 0,
            next_seq: 0,
            pending: BTreeMap::new(),
            fifo: VecDeque::new(),
            servers: BTreeMap::new(),
            server_issued: Vec::new(),
            next_server: 1,
            tcps: BTreeMap::new(),
            tcp_issued: Vec::new(),
            next_tcp: 1,
            listen_gen: 0,
            peers: Vec::new(),
            timers: Vec::new(),
            listeners: Vec::new(),
            dispatch_waiting: Vec::new(),
            failure: None,
        },
        input_manifest: input.manifest,
        batch: input.batch,
        baseline,
    };
    ex.new_reactor();
    for (n, cmd) in input.cmds.iter().enumerate() {
        ex.w.log(|| format!("{cmd}"));
        ex.step(cmd);
        ex.check(&format!("after command {} `{cmd}`", n + 1));
    }
    ex.w.log(|| "# end: drain, drop the reactor, close peers".into());
    ex.drain(None);
    ex.check("in the final drain");
    if let Some((seq, p)) = ex.w.pending.iter().find(|(_, p)| !p.may_stay) {
        panic!("callback #{seq} ({}) never ran", p.desc);
    }
    if let Some(i) = ex.w.timers.iter().position(|t| t.state == TState::Pending) {
        panic!("timer {i} never fired");
    }
    ex.r = None;
    ex.w.peers.clear();
    wait_fds(baseline, "after dropping the reactor and the peers");
}

fn wait_fds(want: usize, when: &str) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let now = fd_count();
        if now == want {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "fd count {now}, expected {want} {when}"
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

impl Exec {
    fn r(&mut self) -> &mut Reactor<World> {
        self.r.as_mut().expect("reactor")
    }

    fn check(&mut self, when: &str) {
        if let Some(f) = self.w.failure.take() {
            panic!("{when}: {f}");
        }
    }

    fn new_reactor(&mut self) {
        self.r = Some(build(self.input_manifest, self.batch));
        self.add_observers();
    }

    /// The harness's own listeners, registered before any fuzz listener.
    fn add_observers(&mut self) {
        let r = self.r.as_mut().unwrap();
        let _ = r
            .tcp_server()
            .on_accept()
            .add_listener(|r, w: &mut World, info| w.on_accept(r, info));
        let _ = r
            .tcp_server()
            .on_accept_error()
            .add_listener(|_, w: &mut World, info| {
                w.begin_dispatch(EventKind::AcceptError);
                w.fail(format!("unexpected on_accept_error {info:?}"));
            });
        let _ = r
            .tcp()
            .on_receive()
            .add_listener(|_, w: &mut World, info| w.on_receive(info));
        let _ = r
            .tcp()
            .on_receive_error()
            .add_listener(|_, w: &mut World, info| w.on_receive_error(info));
    }

    fn turn(&mut self, timeout: Duration) {
        self.w.turns += 1;
        let r = self.r.as_mut().unwrap();
        r.turn(Some(timeout), &mut self.w).expect("turn");
        self.w.end_dispatch();
        if let Some(f) = self.w.fifo.front() {
            if f.stamp() < self.w.turns {
                let msg = format!("{f:?} was queued before the turn and did not run in it");
                self.w.fail(msg);
            }
        }
    }

    /// Turns until callback `seq` ran (or, with `None`, until everything that can run has).
    fn drain(&mut self, seq: Option<u64>) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let done = match seq {
                Some(s) => !self.w.pending.contains_key(&s),
                None => {
                    self.w.pending.values().all(|p| p.may_stay)
                        && self.w.fifo.is_empty()
                        && self.w.timers.iter().all(|t| t.state != TState::Pending)
                }
            };
            if done || self.w.failure.is_some() {
                return;
            }
            if Instant::now() > deadline {
                let msg = format!(
                    "drain for {seq:?} timed out; pending {:?}",
                    self.w.pending.values().map(|p| &p.desc).collect::<Vec<_>>()
                );
                return self.w.fail(msg);
            }
            self.turn(Duration::from_millis(1));
        }
    }

    fn sid(&self, p: Pick) -> i32 {
        World::pick(&self.w.server_issued, self.w.next_server, p)
    }

    fn tid(&self, p: Pick) -> i32 {
        World::pick(&self.w.tcp_issued, self.w.next_tcp, p)
    }

    fn peer(&self, p: Pick) -> Option<usize> {
        let n = self.w.peers.len();
        (n > 0).then(|| p.0 as usize % n)
    }

    fn step(&mut self, cmd: &Cmd) {
        use Cmd::*;
        match *cmd {
            ServerCreate { name, persistent } => {
                let id = self.w.next_server;
                let seq = self
                    .w
                    .expect_exact(format!("tcpServer.create -> {id}"), Got::Created(id));
                self.w.next_server += 1;
                self.w.server_issued.push(id);
                let name = name_of(name);
                let persistent = flag_of(persistent);
                self.w.servers.insert(
                    id,
                    MServer {
                        name: name.clone().unwrap_or_default(),
                        persistent: persistent.unwrap_or(false),
                        paused: false,
                        listen: None,
                        resuming: None,
                        accepts: (0, 0),
                    },
                );
                let props = tcp_server::SocketProperties { persistent, name };
                self.r().tcp_server().create(
                    props,
                    World::callback(seq, |r| {
                        got(r, |c: tcp_server::CreateInfo| {
                            Got::Created(c.socket_id.raw())
                        })
                    }),
                );
            }
            ServerUpdate {
                id: p,
                name,
                persistent,
            } => {
                let id = self.sid(p);
                let (name, persistent) = (name_of(name), flag_of(persistent));
                let want = match self.w.servers.get_mut(&id) {
                    Some(s) => {
                        if let Some(n) = &name {
                            s.name = n.clone();
                        }
                        if let Some(p) = persistent {
                            s.persistent = p;
                        }
                        Got::Unit
                    }
                    None => not_found(),
                };
                let seq = self.w.expect_exact(format!("tcpServer.update {id}"), want);
                let props = tcp_server::SocketProperties { persistent, name };
                self.r().tcp_server().update(
                    ServerSocketId::from_raw(id),
                    props,
                    World::callback(seq, |r| got(r, |()| Got::Unit)),
                );
            }
            ServerSetPaused { id: p, paused } => {
                let id = self.sid(p);
                let (turns, batch) = (self.w.turns, 1 + self.batch as usize % 4);
                let mut arm = false;
                let want = match self.w.servers.get_mut(&id) {
                    Some(s) => {
                        // A full batch in the last turn may have left an accept step queued.
                        arm = s.paused
                            && !paused
                            && s.listen.is_some()
                            && !(s.accepts.0 == turns && s.accepts.1 >= batch);
                        s.paused = paused;
                        Got::Unit
                    }
                    None => not_found(),
                };
                let seq = self.w.expect(
                    format!("tcpServer.setPaused {id}"),
                    true,
                    Box::new(move |w, g| {
                        if let Some(s) = w.servers.get_mut(&id) {
                            s.resuming = None;
                        }
                        ensure!(*g == want, "expected {want:?}");
                        Ok(())
                    }),
                );
                if let Some(s) = self.w.servers.get_mut(&id) {
                    s.resuming = arm.then_some(seq);
                }
                self.r().tcp_server().set_paused(
                    ServerSocketId::from_raw(id),
                    paused,
                    World::callback(seq, |r| got(r, |()| Got::Unit)),
                );
            }
            ServerListen {
                id: p,
                addr,
                port,
                backlog,
            } => self.listen(p, addr, port, backlog),
            ServerDisconnect { id: p } => {
                let id = self.sid(p);
                let want = match self.w.servers.get_mut(&id) {
                    Some(s) => {
                        s.listen = None;
                        Got::Unit
                    }
                    None => not_found(),
                };
                let seq = self
                    .w
                    .expect_exact(format!("tcpServer.disconnect {id}"), want);
                self.r().tcp_server().disconnect(
                    ServerSocketId::from_raw(id),
                    World::callback(seq, |r| got(r, |()| Got::Unit)),
                );
            }
            ServerClose { id: p } => {
                let id = self.sid(p);
                let want = match self.w.servers.remove(&id) {
                    Some(_) => Got::Unit,
                    None => not_found(),
                };
                let seq = self.w.expect_exact(format!("tcpServer.close {id}"), want);
                self.r().tcp_server().close(
                    ServerSocketId::from_raw(id),
                    World::callback(seq, |r| got(r, |()| Got::Unit)),
                );
            }
            ServerGetInfo { id: p } => {
                let id = self.sid(p);
                let seq = self.expect_server_info(id);
                self.r().tcp_server().get_info(
                    ServerSocketId::from_raw(id),
                    World::callback(seq, |r| got(r, Got::SInfo)),
                );
            }
            ServerGetSockets => {
                let exps: Vec<ExpS> = self
                    .w
                    .servers
                    .keys()
                    .map(|&id| self.w.exp_server(id).unwrap())
                    .collect();
                let seq = self.w.expect(
                    "tcpServer.getSockets".into(),
                    true,
                    Box::new(move |_, g| {
                        let Got::SList(list) = g else {
                            return Err("expected a list".into());
                        };
                        ensure!(list.len() == exps.len(), "expected {exps:?}");
                        for (e, i) in exps.iter().zip(list) {
                            e.check(i)?;
                        }
                        Ok(())
                    }),
                );
                self.r()
                    .tcp_server()
                    .get_sockets(World::callback(seq, |r| got(r, Got::SList)));
            }
            TcpCreate {
                name,
                persistent,
                buffer,
            } => {
                let id = self.w.next_tcp;
                let seq = self
                    .w
                    .expect_exact(format!("tcp.create -> {id}"), Got::Created(id));
                self.w.next_tcp += 1;
                self.w.tcp_issued.push(id);
                let (name, persistent, buffer_size) =
                    (name_of(name), flag_of(persistent), buf_of(buffer));
                self.w.tcps.insert(
                    id,
                    MTcp {
                        name: name.clone().unwrap_or_default(),
                        persistent: persistent.unwrap_or(false),
                        buffer: buffer_size.unwrap_or(0),
                        paused: false,
                        conn: MConn::Idle,
                        link: Link::Reactor,
                        sent: Vec::new(),
                        received: Vec::new(),
                        resuming: None,
                        full_chunk_turn: None,
                    },
                );
                let props = tcp::SocketProperties {
                    persistent,
                    name,
                    buffer_size,
                };
                self.r().tcp().create(
                    props,
                    World::callback(seq, |r| {
                        got(r, |c: tcp::CreateInfo| Got::Created(c.socket_id.raw()))
                    }),
                );
            }
            TcpUpdate {
                id: p,
                name,
                persistent,
                buffer,
            } => {
                let id = self.tid(p);
                let (name, persistent, buffer_size) =
                    (name_of(name), flag_of(persistent), buf_of(buffer));
                let want = match self.w.tcps.get_mut(&id) {
                    Some(t) => {
                        if let Some(n) = &name {
                            t.name = n.clone();
                        }
                        if let Some(p) = persistent {
                            t.persistent = p;
                        }
                        if let Some(b) = buffer_size {
                            t.buffer = b;
                        }
                        Got::Unit
                    }
                    None => not_found(),
                };
                let seq = self.w.expect_exact(format!("tcp.update {id}"), want);
                let props = tcp::SocketProperties {
                    persistent,
                    name,
                    buffer_size,
                };
                self.r().tcp().update(
                    TcpSocketId::from_raw(id),
                    props,
                    World::callback(seq, |r| got(r, |()| Got::Unit)),
                );
            }
            TcpSetPaused { id: p, paused } => {
                let id = self.tid(p);
                let turns = self.w.turns;
                let mut arm = false;
                let want = match self.w.tcps.get_mut(&id) {
                    Some(t) => {
                        // A full chunk in the last turn may have left a read step queued.
                        arm = t.paused
                            && !paused
                            && matches!(t.conn, MConn::Connected { .. })
                            && t.full_chunk_turn != Some(turns);
                        t.paused = paused;
                        Got::Unit
                    }
                    None => not_found(),
                };
                let seq = self.w.expect(
                    format!("tcp.setPaused {id}"),
                    true,
                    Box::new(move |w, g| {
                        if let Some(t) = w.tcps.get_mut(&id) {
                            t.resuming = None;
                        }
                        ensure!(*g == want, "expected {want:?}");
                        Ok(())
                    }),
                );
                if let Some(t) = self.w.tcps.get_mut(&id) {
                    t.resuming = arm.then_some(seq);
                }
                self.r().tcp().set_paused(
                    TcpSocketId::from_raw(id),
                    paused,
                    World::callback(seq, |r| got(r, |()| Got::Unit)),
                );
            }
            TcpSetKeepAlive {
                id: p,
                enable,
                delay,
            } => {
                let id = self.tid(p);
                let delay = match delay {
                    KeepAliveDelay::Zero => 0,
                    KeepAliveDelay::One => 1,
                    KeepAliveDelay::D45 => 45,
                    KeepAliveDelay::Minus1 => -1,
                    KeepAliveDelay::D40000 => 40000,
                };
                let odd_delay = enable && !(0..=32767).contains(&delay);
                let seq = self.expect_sockopt(format!("tcp.setKeepAlive {id}"), id, odd_delay);
                self.r().tcp().set_keep_alive(
                    TcpSocketId::from_raw(id),
                    enable,
                    delay,
                    World::callback(seq, |r| got(r, |()| Got::Unit)),
                );
            }
            TcpSetNoDelay { id: p, no_delay } => {
                let id = self.tid(p);
                let seq = self.expect_sockopt(format!("tcp.setNoDelay {id}"), id, false);
                self.r().tcp().set_no_delay(
                    TcpSocketId::from_raw(id),
                    no_delay,
                    World::callback(seq, |r| got(r, |()| Got::Unit)),
                );
            }
            TcpConnect { id: p, host, port } => self.connect(p, host, port),
            TcpDisconnect { id: p } => {
                let id = self.tid(p);
                let mut recv_err = false;
                if let Some(t) = self.w.tcps.get_mut(&id) {
                    let conn = std::mem::replace(&mut t.conn, MConn::Idle);
                    if matches!(conn, MConn::Connected { .. }) && !t.paused {
                        t.paused = true;
                        recv_err = true;
                    }
                    self.w.connect_aborted(conn);
                    let seq = self
                        .w
                        .expect_exact(format!("tcp.disconnect {id}"), Got::Unit);
                    if recv_err {
                        self.w.fifo.push_back(Fifo::RecvErr(id, self.w.turns));
                    }
                    self.r().tcp().disconnect(
                        TcpSocketId::from_raw(id),
                        World::callback(seq, |r| got(r, |()| Got::Unit)),
                    );
                } else {
                    let seq = self
                        .w
                        .expect_exact(format!("tcp.disconnect {id}"), not_found());
                    self.r().tcp().disconnect(
                        TcpSocketId::from_raw(id),
                        World::callback(seq, |r| got(r, |()| Got::Unit)),
                    );
                }
            }
            TcpSend { id: p, len } => self.send(p, (len % 65) as usize),
            TcpClose { id: p } => {
                let id = self.tid(p);
                let want = if self.w.tcps.contains_key(&id) {
                    self.w.close_tcp_model(id);
                    Got::Unit
                } else {
                    not_found()
                };
                let seq = self.w.expect_exact(format!("tcp.close {id}"), want);
                self.r().tcp().close(
                    TcpSocketId::from_raw(id),
                    World::callback(seq, |r| got(r, |()| Got::Unit)),
                );
            }
            TcpGetInfo { id: p } => {
                let id = self.tid(p);
                let exp = self.w.exp_tcp(id);
                let seq = self.w.expect(
                    format!("tcp.getInfo {id}"),
                    true,
                    Box::new(move |_, g| match (&exp, g) {
                        (None, g) => {
                            ensure!(*g == not_found(), "expected Socket not found");
                            Ok(())
                        }
                        (Some(e), Got::TInfo(i)) => e.check(i),
                        (Some(e), _) => Err(format!("expected {e:?}")),
                    }),
                );
                self.r().tcp().get_info(
                    TcpSocketId::from_raw(id),
                    World::callback(seq, |r| got(r, Got::TInfo)),
                );
            }
            TcpGetSockets => {
                let exps: Vec<ExpT> = self
                    .w
                    .tcps
                    .keys()
                    .map(|&id| self.w.exp_tcp(id).unwrap())
                    .collect();
                let seq = self.w.expect(
                    "tcp.getSockets".into(),
                    true,
                    Box::new(move |_, g| {
                        let Got::TList(list) = g else {
                            return Err("expected a list".into());
                        };
                        ensure!(list.len() == exps.len(), "expected {exps:?}");
                        for (e, i) in exps.iter().zip(list) {
                            e.check(i)?;
                        }
                        Ok(())
                    }),
                );
                self.r()
                    .tcp()
                    .get_sockets(World::callback(seq, |r| got(r, Got::TList)));
            }
            AddListener { event } => {
                let index = self.w.listeners.len();
                let r = self.r.as_mut().unwrap();
                let id = match event {
                    EventKind::Accept => r
                        .tcp_server()
                        .on_accept()
                        .add_listener(move |_, w: &mut World, _| w.fuzz_listener_saw(index)),
                    EventKind::AcceptError => r
                        .tcp_server()
                        .on_accept_error()
                        .add_listener(move |_, w: &mut World, _| w.fuzz_listener_saw(index)),
                    EventKind::Receive => r
                        .tcp()
                        .on_receive()
                        .add_listener(move |_, w: &mut World, _| w.fuzz_listener_saw(index)),
                    EventKind::ReceiveError => r
                        .tcp()
                        .on_receive_error()
                        .add_listener(move |_, w: &mut World, _| w.fuzz_listener_saw(index)),
                };
                self.w.listeners.push((event, id, true));
                self.w.log(|| format!("  listener {index} = {id:?}"));
                self.check_has_listener(index);
            }
            RemoveListener { which } => {
                let n = self.w.listeners.len();
                if n == 0 {
                    return self.w.log(|| "  (no listener to remove)".into());
                }
                let index = which.0 as usize % n;
                let (event, id, live) = self.w.listeners[index];
                let r = self.r.as_mut().unwrap();
                let removed = match event {
                    EventKind::Accept => r.tcp_server().on_accept().remove_listener(id),
                    EventKind::AcceptError => r.tcp_server().on_accept_error().remove_listener(id),
                    EventKind::Receive => r.tcp().on_receive().remove_listener(id),
                    EventKind::ReceiveError => r.tcp().on_receive_error().remove_listener(id),
                };
                assert_eq!(removed, live, "remove_listener({index}) returned {removed}");
                self.w.listeners[index].2 = false;
                self.check_has_listener(index);
            }
            PeerConnect { server, v6 } => self.peer_connect(server, v6),
            PeerWrite { peer, len } => {
                let Some(pi) = self.peer(peer) else { return };
                let n = (len % 33 + 1) as usize;
                let p = &mut self.w.peers[pi];
                let (Some(s), false) = (&p.sock, p.shut) else {
                    return self.w.log(|| format!("  (peer {pi} cannot write)"));
                };
                let base = p.written.len();
                let data: Vec<u8> = (0..n)
                    .map(|i| (pi * 7 + base + i) as u8)
                    .collect::<Vec<u8>>();
                let res = s.send_with_flags(&data, libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT);
                if let Ok(k) = res {
                    p.written.extend_from_slice(&data[..k]);
                }
                self.w.log(|| format!("  peer {pi} wrote: {res:?}"));
            }
            PeerRead { peer } => {
                let Some(pi) = self.peer(peer) else { return };
                let p = &mut self.w.peers[pi];
                let Some(s) = &p.sock else { return };
                let _ = s.set_nonblocking(true);
                let mut buf = [0u8; 4096];
                let mut reader: &Socket = s;
                for _ in 0..64 {
                    match reader.read(&mut buf) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => p.read.extend_from_slice(&buf[..n]),
                    }
                }
                let (read, tcp) = (p.read.len(), p.tcp);
                if tcp.is_some() && !p.expect_in.starts_with(&p.read) {
                    let msg = format!(
                        "peer {pi} read {:?}, its tcp socket sent {:?}",
                        p.read, p.expect_in
                    );
                    self.w.fail(msg);
                }
                self.w.log(|| format!("  peer {pi} has read {read} bytes"));
            }
            PeerShutdown { peer } => {
                let Some(pi) = self.peer(peer) else { return };
                let p = &mut self.w.peers[pi];
                if let Some(s) = &p.sock {
                    let _ = s.shutdown(std::net::Shutdown::Write);
                    p.shut = true;
                }
            }
            PeerClose { peer } | PeerReset { peer } => {
                let Some(pi) = self.peer(peer) else { return };
                let p = &mut self.w.peers[pi];
                if let Some(s) = p.sock.take() {
                    if matches!(cmd, PeerReset { .. }) {
                        let _ = s.set_linger(Some(Duration::ZERO));
                    }
                    drop(s);
                    p.gone = true;
                    if let Some(t) = p.tcp.and_then(|id| self.w.tcps.get_mut(&id)) {
                        if let MConn::Connected { maybe_gone } = &mut t.conn {
                            *maybe_gone = true;
                        }
                    }
                }
            }
            SetTimeout { delay } => {
                let d = Duration::from_millis(match delay {
                    DelayChoice::Zero => 0,
                    DelayChoice::Ms1 => 1,
                    DelayChoice::Ms3 => 3,
                });
                let index = self.w.timers.len();
                let lo = Instant::now() + d;
                let id = self
                    .r()
                    .set_timeout(d, move |_, w: &mut World| w.timer_fired(index));
                let hi = Instant::now() + d;
                self.w.timers.push(MTimer {
                    id,
                    lo,
                    hi,
                    state: TState::Pending,
                });
            }
            ClearTimeout { which } => {
                let n = self.w.timers.len();
                if n == 0 {
                    return;
                }
                let i = which.0 as usize % n;
                let t = self.w.timers[i].id;
                let was = self.w.timers[i].state == TState::Pending;
                let got = self.r().clear_timeout(t);
                assert_eq!(got, was, "clear_timeout({i}) returned {got}");
                if was {
                    self.w.timers[i].state = TState::Cleared;
                }
            }
            Turn { timeout } => self.turn(Duration::from_millis(match timeout {
                TurnTimeout::Zero => 0,
                TurnTimeout::Ms1 => 1,
                TurnTimeout::Ms5 => 5,
            })),
            Drain => self.drain(None),
            SuspendApp => {
                let servers: Vec<i32> = self
                    .w
                    .servers
                    .iter()
                    .filter(|(_, s)| !s.persistent)
                    .map(|(&id, _)| id)
                    .collect();
                for id in servers {
                    self.w.servers.remove(&id);
                }
                let tcps: Vec<i32> = self
                    .w
                    .tcps
                    .iter()
                    .filter(|(_, t)| !t.persistent)
                    .map(|(&id, _)| id)
                    .collect();
                for id in tcps {
                    self.w.close_tcp_model(id);
                }
                self.r().suspend_app();
            }
            UnloadApp => {
                self.r().unload_app();
                self.forget_pending();
                self.w.servers.clear();
                self.w.tcps.clear();
                for l in &mut self.w.listeners {
                    l.2 = false;
                }
                self.add_observers();
            }
            DropReactor => {
                self.r = None;
                self.forget_pending();
                self.w.servers.clear();
                self.w.tcps.clear();
                self.w.listeners.clear();
                self.w.timers.clear();
                self.w.server_issued.clear();
                self.w.tcp_issued.clear();
                self.w.next_server = 1;
                self.w.next_tcp = 1;
                for p in &mut self.w.peers {
                    p.tcp = None;
                }
                let peers = self.w.peers.iter().filter(|p| p.sock.is_some()).count();
                wait_fds(self.baseline + peers, "after drop_reactor");
                self.new_reactor();
            }
        }
    }

    /// Everything queued is discarded (unload or drop): none of it may run.
    fn forget_pending(&mut self) {
        self.w.pending.clear();
        self.w.fifo.clear();
        for t in &mut self.w.timers {
            if t.state == TState::Pending {
                t.state = TState::Dropped;
            }
        }
    }

    fn check_has_listener(&mut self, index: usize) {
        let (event, id, live) = self.w.listeners[index];
        let r = self.r.as_mut().unwrap();
        let (has, any) = match event {
            EventKind::Accept => {
                let mut e = r.tcp_server();
                let e = e.on_accept();
                (e.has_listener(id), e.has_listeners())
            }
            EventKind::AcceptError => {
                let mut e = r.tcp_server();
                let e = e.on_accept_error();
                (e.has_listener(id), e.has_listeners())
            }
            EventKind::Receive => {
                let mut e = r.tcp();
                let e = e.on_receive();
                (e.has_listener(id), e.has_listeners())
            }
            EventKind::ReceiveError => {
                let mut e = r.tcp();
                let e = e.on_receive_error();
                (e.has_listener(id), e.has_listeners())
            }
        };
        assert_eq!(has, live, "has_listener({index})");
        assert!(any, "has_listeners with the harness's own listener");
    }

    fn expect_server_info(&mut self, id: i32) -> u64 {
        let exp = self.w.exp_server(id);
        self.w.expect(
            format!("tcpServer.getInfo {id}"),
            true,
            Box::new(move |_, g| match (&exp, g) {
                (None, g) => {
                    ensure!(*g == not_found(), "expected Socket not found");
                    Ok(())
                }
                (Some(e), Got::SInfo(i)) => e.check(i),
                (Some(e), _) => Err(format!("expected {e:?}")),
            }),
        )
    }

    /// setKeepAlive / setNoDelay: "Socket not found" with -2, -2 unless connected.
    fn expect_sockopt(&mut self, desc: String, id: i32, odd_delay: bool) -> u64 {
        match self.w.tcps.get(&id).map(|t| t.conn) {
            None => self
                .w
                .expect_exact(desc, Got::Err("Socket not found".into(), Some(-2))),
            Some(MConn::Connected { maybe_gone }) if odd_delay || maybe_gone => self.w.expect(
                desc,
                true,
                Box::new(|_, g| {
                    ensure!(*g == Got::Unit || *g == net(-2), "expected Ok or -2");
                    Ok(())
                }),
            ),
            Some(MConn::Connected { .. }) => self.w.expect_exact(desc, Got::Unit),
            Some(_) => self.w.expect_exact(desc, net(-2)),
        }
    }

    fn listen(&mut self, p: Pick, addr: ListenAddr, port: PortChoice, backlog: BacklogChoice) {
        let id = self.sid(p);
        let (text, ip) = listen_addr(addr);
        let port_val: i32 = match port {
            PortChoice::Zero => 0,
            PortChoice::OfServer(q) => {
                let sid = self.sid(q);
                self.w.server_port(sid).map_or(0, |(_, p)| p as i32)
            }
            PortChoice::OfPeer(q) => self
                .peer(q)
                .map_or(0, |i| self.w.peers[i].local_port as i32),
            PortChoice::Minus1 => -1,
            PortChoice::P65536 => 65536,
            PortChoice::P70000 => 70000,
            PortChoice::Min => i32::MIN,
        };
        let backlog_val = match backlog {
            BacklogChoice::Default => None,
            BacklogChoice::One => Some(1),
            BacklogChoice::Two => Some(2),
            BacklogChoice::B128 => Some(128),
            BacklogChoice::Max => Some(i32::MAX),
            BacklogChoice::Zero => Some(0),
            BacklogChoice::Minus1 => Some(-1),
        };
        let desc = format!("tcpServer.listen {id} {text:?} {port_val} {backlog_val:?}");
        let allowed = match self.w.manifest {
            ManifestChoice::None | ManifestChoice::ListenOnly => true,
            ManifestChoice::Loopback4 => text == "127.0.0.1",
            ManifestChoice::ConnectOnly => false,
        };
        // The exact answer, or None when the kernel decides (bind to a given port).
        let want: Option<Got> = match self.w.servers.get(&id) {
            None => Some(not_found()),
            Some(_) if !allowed => Some(no_permission()),
            Some(_) if ip.is_none() => Some(net(-4)),
            Some(_) if !(0..=65535).contains(&port_val) => Some(net(-4)),
            Some(_) if backlog_val.is_some_and(|b| b <= 0) => Some(net(-4)),
            Some(s) if s.listen.is_some() => Some(net(-23)),
            Some(_) => {
                let ip = ip.unwrap();
                let taken = self.w.servers.values().any(|s| {
                    s.listen
                        .as_ref()
                        .is_some_and(|l| l.ip == ip && l.port == Some(port_val as u16))
                });
                if addr == ListenAddr::NonLocal {
                    None
                } else if port_val == 0 {
                    Some(Got::Unit)
                } else if taken {
                    Some(net(-147))
                } else {
                    None
                }
            }
        };
        let small = matches!(backlog_val, Some(1 | 2));
        let ip_v = ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let known_port = (port_val != 0).then_some(port_val as u16);
        let sid = ServerSocketId::from_raw(id);
        match want {
            Some(want) => {
                let ok = want == Got::Unit;
                if ok {
                    self.w.listen_gen += 1;
                    self.w.servers.get_mut(&id).unwrap().listen = Some(MListen {
                        ip: ip_v,
                        port: known_port,
                        small_backlog: small,
                        gen: self.w.listen_gen,
                    });
                }
                let seq = self.w.expect_exact(desc, want);
                self.r().tcp_server().listen(
                    sid,
                    text,
                    port_val,
                    backlog_val,
                    World::callback(seq, |r| got(r, |()| Got::Unit)),
                );
                if ok {
                    self.learn_port(id);
                }
            }
            None => {
                let seq = self.w.expect(
                    desc,
                    true,
                    Box::new(move |w, g| {
                        match g {
                            Got::Unit => {
                                w.listen_gen += 1;
                                let gen = w.listen_gen;
                                if let Some(s) = w.servers.get_mut(&id) {
                                    s.listen = Some(MListen {
                                        ip: ip_v,
                                        port: known_port,
                                        small_backlog: small,
                                        gen,
                                    });
                                }
                            }
                            Got::Err(m, Some(c))
                                if *c < 0 && *m == NetError::from_code(*c).message() => {}
                            _ => return Err("expected Ok or a net error".into()),
                        }
                        Ok(())
                    }),
                );
                self.r().tcp_server().listen(
                    sid,
                    text,
                    port_val,
                    backlog_val,
                    World::callback(seq, |r| got(r, |()| Got::Unit)),
                );
                self.drain(Some(seq));
                self.check("resolving an OS-dependent listen");
                if self.w.servers.get(&id).is_some_and(|s| s.listen.is_some()) {
                    self.learn_port(id);
                }
            }
        }
    }

    /// A harness get_info that checks the listening state and learns the port.
    fn learn_port(&mut self, id: i32) {
        let exp = self.w.exp_server(id).unwrap();
        let gen = self.w.servers[&id].listen.as_ref().unwrap().gen;
        let seq = self.w.expect(
            format!("(harness) tcpServer.getInfo {id} for its port"),
            true,
            Box::new(move |w, g| {
                let Got::SInfo(i) = g else {
                    return Err(format!("expected {exp:?}"));
                };
                exp.check(i)?;
                if let Some(l) = w.servers.get_mut(&id).and_then(|s| s.listen.as_mut()) {
                    if l.gen == gen {
                        l.port = i.local_port;
                    }
                }
                Ok(())
            }),
        );
        self.r().tcp_server().get_info(
            ServerSocketId::from_raw(id),
            World::callback(seq, |r| got(r, Got::SInfo)),
        );
    }

    fn connect(&mut self, p: Pick, host: ConnectHost, port: ConnectPort) {
        let id = self.tid(p);
        let text = connect_host(host);
        let v6 = matches!(host, ConnectHost::V6);
        let (refused4, refused6) = refusing_ports();
        let refused = if v6 { refused6 } else { refused4 };
        // (port, the listener's backlog is small, server, listen generation) for a live
        // compatible listener.
        let target: Option<(u16, bool, i32, u64)> = match port {
            ConnectPort::OfServer(q) => {
                let sid = self.sid(q);
                self.w.servers.get(&sid).and_then(|s| {
                    let l = s.listen.as_ref()?;
                    let fits = match l.ip {
                        IpAddr::V4(a) => !v6 && (a.is_loopback() || a.is_unspecified()),
                        IpAddr::V6(a) => a.is_unspecified() || (v6 && a.is_loopback()),
                    };
                    fits.then_some((l.port?, l.small_backlog, sid, l.gen))
                })
            }
            _ => None,
        };
        let port_val: i32 = match port {
            ConnectPort::OfServer(_) => target.map_or(refused as i32, |t| t.0 as i32),
            ConnectPort::Refused => refused as i32,
            ConnectPort::Zero => 0,
            ConnectPort::Minus1 => -1,
            ConnectPort::P65536 => 65536,
        };
        let desc = format!("tcp.connect {id} {text:?} {port_val}");
        let allowed = match self.w.manifest {
            ManifestChoice::None | ManifestChoice::ConnectOnly => true,
            ManifestChoice::Loopback4 => text == "127.0.0.1",
            ManifestChoice::ListenOnly => false,
        };
        let immediate = match self.w.tcps.get(&id) {
            None => Some(not_found()),
            Some(_) if !allowed => Some(no_permission()),
            Some(_) if !(0..=65535).contains(&port_val) => Some(net(-4)),
            Some(t) => match t.conn {
                MConn::Connected { .. } => Some(net(-23)),
                MConn::Connecting { .. } => Some(net(-104)),
                MConn::Idle => None,
            },
        };
        let tid = TcpSocketId::from_raw(id);
        if let Some(want) = immediate {
            let seq = self.w.expect_exact(desc, want);
            return self.r().tcp().connect(
                tid,
                text,
                port_val,
                World::callback(seq, |r| got(r, |()| Got::Unit)),
            );
        }
        let may_hang = target.is_some_and(|t| t.1);
        let expect_ok = target.is_some() && host != ConnectHost::NulName;
        let seq = self.w.expect(
            desc,
            false,
            Box::new(move |w, g| {
                let t = w
                    .tcps
                    .get(&id)
                    .ok_or("connect answered for a closed socket")?;
                ensure!(
                    matches!(t.conn, MConn::Connecting { .. }),
                    "connect answered while the model has {:?}",
                    t.conn
                );
                // A listener closed since the connect began resets the connection.
                let still_listening = target.is_some_and(|(_, _, sid, gen)| {
                    w.servers
                        .get(&sid)
                        .and_then(|s| s.listen.as_ref())
                        .is_some_and(|l| l.gen == gen)
                });
                let t = w
                    .tcps
                    .get_mut(&id)
                    .ok_or("connect answered for a closed socket")?;
                let fine = match g {
                    Got::Unit => expect_ok,
                    Got::Err(..) if expect_ok && !still_listening => {
                        [net(-101), net(-102), net(-103)].contains(g)
                    }
                    Got::Err(..) if host == ConnectHost::NulName => *g == net(-105),
                    Got::Err(..) if port_val == 0 || may_hang => true,
                    Got::Err(..) => !expect_ok && *g == net(-102),
                    _ => false,
                };
                ensure!(
                    fine,
                    "connect result (expected {})",
                    if expect_ok { "Ok" } else { "an error" }
                );
                t.conn = if *g == Got::Unit {
                    MConn::Connected { maybe_gone: true }
                } else {
                    MConn::Idle
                };
                Ok(())
            }),
        );
        self.w.pending.get_mut(&seq).unwrap().may_stay = may_hang;
        self.w.tcps.get_mut(&id).unwrap().conn = MConn::Connecting { seq };
        self.r().tcp().connect(
            tid,
            text,
            port_val,
            World::callback(seq, |r| got(r, |()| Got::Unit)),
        );
    }

    fn send(&mut self, p: Pick, len: usize) {
        let id = self.tid(p);
        let base = self.w.tcps.get(&id).map_or(0, |t| t.sent.len());
        let data: Vec<u8> = (0..len)
            .map(|i| (id as u8).wrapping_mul(13).wrapping_add((base + i) as u8))
            .collect();
        let desc = format!("tcp.send {id} {len} bytes");
        let tid = TcpSocketId::from_raw(id);
        let cb = |seq| World::callback(seq, |r| got(r, |s: tcp::SendInfo| Got::Sent(s.bytes_sent)));
        let conn = self.w.tcps.get(&id).map(|t| t.conn);
        match conn {
            None => {
                let seq = self.w.expect_exact(desc, not_found());
                self.r().tcp().send(tid, data, cb(seq));
            }
            Some(MConn::Idle | MConn::Connecting { .. }) => {
                let seq = self.w.expect_exact(desc, net(-15));
                self.r().tcp().send(tid, data, cb(seq));
            }
            Some(MConn::Connected { maybe_gone }) if len == 0 || !maybe_gone => {
                self.w.record_sent(id, &data);
                let seq = self.w.expect_exact(desc, Got::Sent(len));
                self.r().tcp().send(tid, data, cb(seq));
            }
            Some(MConn::Connected { .. }) => {
                let d = data.clone();
                let seq = self.w.expect(
                    desc,
                    true,
                    Box::new(move |w, g| {
                        match g {
                            Got::Sent(n) if *n == len => w.record_sent(id, &d),
                            Got::Err(m, Some(c))
                                if *c < 0 && *m == NetError::from_code(*c).message() =>
                            {
                                // The write failed: disconnected; a reading socket gets -100 next.
                                let t = w.tcps.get_mut(&id).expect("live");
                                t.conn = MConn::Idle;
                                if !t.paused {
                                    t.paused = true;
                                    w.fifo.push_front(Fifo::RecvErr(id, w.turns - 1));
                                }
                            }
                            _ => return Err("expected every byte sent or a net error".into()),
                        }
                        Ok(())
                    }),
                );
                self.r().tcp().send(tid, data, cb(seq));
                self.drain(Some(seq));
                self.check("resolving a send to a peer that may be gone");
            }
        }
    }

    fn peer_connect(&mut self, server: Pick, v6: bool) {
        let sid = self.sid(server);
        let Some((ip, port)) = self.w.server_port(sid) else {
            return self.w.log(|| format!("  (server {sid} has no known port)"));
        };
        let target: IpAddr = match (ip, v6) {
            (IpAddr::V4(_), _) => Ipv4Addr::LOCALHOST.into(),
            (IpAddr::V6(a), true) if a.is_unspecified() || a.is_loopback() => {
                Ipv6Addr::LOCALHOST.into()
            }
            (IpAddr::V6(a), false) if a.is_unspecified() => Ipv4Addr::LOCALHOST.into(),
            (IpAddr::V6(_), false) => Ipv6Addr::LOCALHOST.into(),
            (IpAddr::V6(_), true) => return,
        };
        if matches!(ip, IpAddr::V4(a) if !a.is_loopback() && !a.is_unspecified()) {
            return;
        }
        let addr = SocketAddr::new(target, port);
        let s = Socket::new(Domain::for_address(addr), Type::STREAM, None).expect("peer socket");
        s.set_nonblocking(true).expect("nonblocking");
        let res = s.connect(&addr.into());
        let local_port = match s.local_addr().ok().and_then(|a| a.as_socket()) {
            Some(a) => a.port(),
            None => return,
        };
        let index = self.w.peers.len();
        self.w
            .log(|| format!("  peer {index} from port {local_port} to {addr}: {res:?}"));
        self.w.peers.push(Peer {
            sock: Some(s),
            local_port,
            written: Vec::new(),
            read: Vec::new(),
            expect_in: Vec::new(),
            tcp: None,
            shut: false,
            gone: false,
        });
    }
}

impl World {
    fn record_sent(&mut self, id: i32, data: &[u8]) {
        let t = self.tcps.get_mut(&id).expect("live");
        t.sent.extend_from_slice(data);
        if let Link::Peer(pi) = t.link {
            self.peers[pi].expect_in.extend_from_slice(data);
        }
    }
}
