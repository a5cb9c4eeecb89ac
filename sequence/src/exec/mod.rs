//! The executor: runs an [`Input`] against a real reactor, one function per command, grouped
//! by family (`server.rs`, `tcp.rs`, `peer.rs`, `app.rs`), while the model predicts every
//! result. At the end (and at every `drop_reactor`), after a bounded drain, every callback ran
//! exactly once and the process's fd count is back where it started.

use std::net::SocketAddr;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use chrome_sockets::{Reactor, ReactorBuilder, SocketsManifest};
use socket2::{Domain, Socket, Type};

use crate::cmd::*;
use crate::model::{TState, World};
use crate::trace::Trace;

mod app;
mod connect;
mod fault;
mod peer;
mod server;
mod tcp;

/// How to run.
#[derive(Clone, Copy, Debug, Default)]
pub struct Options {
    /// Print every command, callback and event, one line each, as it happens.
    pub trace: bool,
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

fn build(manifest: ManifestChoice, batch: u8, ids: (i32, i32)) -> Reactor<World> {
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
    let mut b = ReactorBuilder::new()
        .accept_batch(1 + batch as usize % 4)
        .ids_from(ids.0)
        .ids_up_to(ids.1);
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
    /// `(ids_from, ids_up_to)` of every reactor this run builds.
    ids: (i32, i32),
    baseline: usize,
}

const PATIENCE: Duration = Duration::from_secs(5);

/// Runs `input` and returns what it observed; panics with a description of the first
/// disagreement with the model.
pub fn run(input: &Input, opts: &Options) -> Trace {
    refusing_ports();
    // Faults are per thread: none left over from an earlier run (or a failed one).
    chrome_sockets::fault_injection::clear();
    let baseline = fd_count();
    let mut ex = Exec {
        r: None,
        w: World::new(
            input.manifest,
            (input.ids_from, input.ids_up_to),
            opts.trace,
        ),
        input_manifest: input.manifest,
        batch: input.batch,
        ids: (input.ids_from, input.ids_up_to),
        baseline,
    };
    ex.new_reactor();
    for (n, cmd) in input.cmds.iter().enumerate() {
        ex.w.log(|| format!("{cmd}"));
        ex.w.seen.begin(Some(*cmd));
        ex.step(cmd);
        ex.check(&format!("after command {} `{cmd}`", n + 1));
    }
    ex.w.log(|| "# end: drain, drop the reactor, close peers".into());
    ex.w.seen.begin(None);
    ex.finish_sends();
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
    chrome_sockets::fault_injection::clear();
    wait_fds(baseline, "after dropping the reactor and the peers");
    std::mem::take(&mut ex.w.seen)
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
        self.r = Some(build(self.input_manifest, self.batch, self.ids));
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
            .add_listener(|_, w: &mut World, info| w.on_accept_error(info));
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
        let report = r.turn(Some(timeout), &mut self.w).expect("turn");
        self.w.end_dispatch();
        for t in self.w.tcps.values_mut() {
            t.late_recv_err = false;
        }
        // A turn runs queued work until the queue is empty or its budget is spent: only a turn
        // that stopped short of the budget must have run everything queued before it.
        let budget_spent = report.tasks >= chrome_sockets::DEFAULT_TURN_BUDGET;
        if let Some(f) = self.w.fifo.front() {
            if f.stamp() < self.w.turns && !budget_spent {
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

    /// Runs one command: one function per command, in the file of its family.
    fn step(&mut self, cmd: &Cmd) {
        use Cmd::*;
        match *cmd {
            ServerCreate { name, persistent } => self.server_create(name, persistent),
            ServerUpdate {
                id,
                name,
                persistent,
            } => self.server_update(id, name, persistent),
            ServerSetPaused { id, paused } => self.server_set_paused(id, paused),
            ServerListen {
                id,
                addr,
                port,
                backlog,
            } => self.server_listen(id, addr, port, backlog),
            ServerDisconnect { id } => self.server_disconnect(id),
            ServerClose { id } => self.server_close(id),
            ServerGetInfo { id } => self.server_get_info(id),
            ServerGetSockets => self.server_get_sockets(),
            TcpCreate {
                name,
                persistent,
                buffer,
            } => self.tcp_create(name, persistent, buffer),
            TcpUpdate {
                id,
                name,
                persistent,
                buffer,
            } => self.tcp_update(id, name, persistent, buffer),
            TcpSetPaused { id, paused } => self.tcp_set_paused(id, paused),
            TcpSetKeepAlive { id, enable, delay } => self.tcp_set_keep_alive(id, enable, delay),
            TcpSetNoDelay { id, no_delay } => self.tcp_set_no_delay(id, no_delay),
            TcpConnect { id, host, port } => self.tcp_connect(id, host, port),
            TcpDisconnect { id } => self.tcp_disconnect(id),
            TcpSend { id, len } => self.tcp_send(id, (len % 65) as usize),
            TcpClose { id } => self.tcp_close(id),
            TcpGetInfo { id } => self.tcp_get_info(id),
            TcpGetSockets => self.tcp_get_sockets(),
            AddListener { event } => self.add_listener(event),
            RemoveListener { which } => self.remove_listener(which),
            PeerConnect { server, v6 } => self.peer_connect(server, v6),
            PeerWrite { peer, len } => self.peer_write(peer, (len % 33 + 1) as usize),
            PeerRead { peer } => self.peer_read(peer),
            PeerShutdown { peer } => self.peer_shutdown(peer),
            PeerClose { peer } => self.peer_close(peer, false),
            PeerReset { peer } => self.peer_close(peer, true),
            SetTimeout { delay } => self.set_timeout(delay.value()),
            ClearTimeout { which } => self.clear_timeout(which),
            Turn { timeout } => self.turn(timeout.value()),
            Drain => self.drain(None),
            SuspendApp => self.suspend_app(),
            UnloadApp => self.unload_app(),
            DropReactor => self.drop_reactor(),
            FaultArm {
                syscall,
                errno,
                times,
            } => self.fault_arm(syscall, errno, (times % 3 + 1) as usize),
            TcpSendBig { id, size } => self.tcp_send_big(id, size),
            PeerDrain { peer } => self.peer_drain(peer),
            PeerSetRcvbuf { peer, size } => self.peer_set_rcvbuf(peer, size),
        }
    }
}
