//! Soak run: one reactor serves echo traffic for a given time under a mix of hostile
//! conditions, while resident memory (`VmRSS`), open fds (`/proc/self/fd`) and the reactor's
//! socket counts (`getSockets`) are sampled;
//! fails (exit 1) if any of them keeps growing or if any byte or connection is lost.
//!
//! ```text
//! cargo run --release --example soak -- --minutes N     # samples every 10 s
//! cargo run --release --example soak -- --seconds N     # quick: samples every second
//! cargo run --release --example soak -- --seconds N --ids-from 2147480000  # crosses the id wrap
//! ```
//!
//! The mix, all against one reactor on this thread:
//! - echo traffic from client threads, each verifying the echo byte for byte; some send in
//!   one go and half-close (shutdown) then read to EOF; some are slow readers of megabytes
//!   (the reactor's sends queue and would block); some reset mid-stream (`SO_LINGER` 0);
//! - accept storms: a thread opens dozens of connections at once;
//! - EMFILE episodes: `RLIMIT_NOFILE` is lowered to just above the fds in use for a moment,
//!   so accepts fail (the server pauses with -12 and is resumed later) and clients retry;
//! - injected faults on the reactor's thread: accept errors that pause the server, retried
//!   accept, read and send errors (`ECONNABORTED`, `EINTR`), none of which may lose data;
//! - the main server paused and resumed; a second server closed and recreated on a new port
//!   (connections it accepted live on; a client whose connection was still in the closed
//!   server's backlog connects again, before any byte was echoed).
//!
//! With `--hostile`, the first half of the run is that mix plus a probe timing a 64-byte echo
//! every millisecond, and the second half adds hostile peers from a child process (slowloris,
//! a one-byte drip into a buffering listener, never-reading clients against the write
//! quota, RST storms, connect floods past a small backlog) and bursts of host-name connects;
//! see `soak_hostile/mod.rs`. Memory, fds and sockets must then stay flat within each half,
//! the fd count must come back to where it started, and the last line is `hostile: p99 quiet
//! X us, attack Y us, retained bytes per received byte Z, resolver threads max T, N lost`;
//! the run fails unless Y <= 10 X, Z <= 2 and T <= 4.
//!
//! `--ids-from N` starts both socket id counters at N (`ReactorBuilder::ids_from`), so a run
//! crosses the wrap from `i32::MAX` to 1 (deviation D12) after `i32::MAX - N` sockets.
//!
//! The `soak:` line (the last line without `--hostile`) is `soak: N connections, B bytes, 0
//! lost, ids wrapped K, rss first/last third X/Y KiB, fds X/Y` (K: how many times a socket id
//! counter wrapped; X/Y: the maximum of the first and of the last third of the samples). A quantity
//! "grows" when the last third's maximum is above the first third's by more than 5 % plus a
//! small absolute slack (1 MiB of memory, 32 fds or sockets). Clients generate and check
//! their bytes piece by piece, so the memory measured is the reactor's; samples wait while
//! the fd limit is lowered or a storm is in flight.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU16, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use chrome_sockets::fault_injection::{self, Syscall};
use chrome_sockets::tcp::SocketProperties as TcpProperties;
use chrome_sockets::tcp_server::SocketProperties;
use chrome_sockets::{Reactor, ReactorBuilder, ServerSocketId, TcpSocketId};
use rlimit::Resource;

mod common;
mod soak_hostile;
use common::Cli;

/// Bytes one `on_receive` may carry.
const CHUNK: i32 = 64 * 1024;
/// Client threads doing echo traffic.
const CLIENTS: usize = 6;
/// How long a client waits for an echo before it calls the connection lost.
const PATIENCE: Duration = Duration::from_secs(30);

const USAGE: &str = "usage: soak (--minutes N | --seconds N) [--hostile]

Drives one reactor under mixed load for the given time, sampling memory, fds and socket
counts (every 10 s, or every second with --seconds); exits 1 if any grows without bound or
any byte or connection is lost.

  --minutes N   run for N minutes, a sample every 10 s
  --seconds N   run for N seconds, a sample every second
  --hostile     first half quiet, second half under hostile peers (see the source)
  --attacker    (internal) the hostile mode's child process: MAIN DRIP SINK FLOOD SECONDS
  --ids-from N  start the socket id counters at N (1..=2147483647), e.g. 2147480000 to
                cross the wrap from i32::MAX to 1 during the run
  --help        this text
";

/// How long to run and how often to sample: `--minutes N` (a sample every 10 s) or
/// `--seconds N` (a sample every second); whether `--hostile`; `--ids-from N`.
fn parse_args() -> (Duration, Duration, bool, i32) {
    let mut cli = Cli::new("soak", USAGE);
    let mut run = None;
    let mut hostile = false;
    let mut ids_from = 1;
    while let Some(flag) = cli.next_flag() {
        let (scale, every) = match flag.as_str() {
            "--minutes" => (60.0, Duration::from_secs(10)),
            "--seconds" => (1.0, Duration::from_secs(1)),
            "--hostile" => {
                hostile = true;
                continue;
            }
            "--ids-from" => {
                ids_from = cli.value(&flag, "a socket id (1..=2147483647)");
                if ids_from < 1 {
                    cli.fail(format!("--ids-from {ids_from}: ids start at 1"));
                }
                continue;
            }
            _ => cli.unknown(&flag),
        };
        let n = cli.seconds(&flag);
        if n <= 0.0 {
            cli.fail(format!("{flag} {n}: not a positive number"));
        }
        run = Some((Duration::from_secs_f64(n * scale), every));
    }
    let (run, every) = run.unwrap_or_else(|| cli.fail("expected --minutes N or --seconds N"));
    (run, every, hostile, ids_from)
}

/// Starts a thread named `name`: every thread of the soak is named `soak-*`, so that the
/// hostile mode can count the threads it did not start. Threads are started by a thread of
/// their own (`soak-spawner`): a new thread carries its creator's name until it names itself,
/// and the main thread's (`soak`) is the name a thread the library starts unnamed would carry.
fn spawn<T: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> T + Send + 'static,
) -> std::io::Result<JoinHandle<T>> {
    type Job = Box<dyn FnOnce() + Send>;
    static SPAWNER: std::sync::OnceLock<std::sync::Mutex<std::sync::mpsc::Sender<Job>>> =
        std::sync::OnceLock::new();
    let spawner = SPAWNER.get_or_init(|| {
        let (tx, rx) = std::sync::mpsc::channel::<Job>();
        let started = thread::Builder::new()
            .name("soak-spawner".into())
            .spawn(move || rx.into_iter().for_each(|job| job()));
        if let Err(e) = started {
            eprintln!("soak: cannot start the spawner thread: {e}");
        }
        std::sync::Mutex::new(tx)
    });
    let (tx, rx) = std::sync::mpsc::channel();
    let name = name.to_owned();
    let job: Job = Box::new(move || {
        let _ = tx.send(thread::Builder::new().name(name).spawn(f));
    });
    let sent = spawner.lock().map(|s| s.send(job).is_ok()).unwrap_or(false);
    match sent {
        true => rx
            .recv()
            .unwrap_or_else(|_| Err(std::io::ErrorKind::Other.into())),
        false => Err(std::io::ErrorKind::Other.into()),
    }
}

/// What the clients report, shared across threads.
#[derive(Default)]
struct Tally {
    connections: AtomicU64,
    bytes: AtomicU64,
    lost: AtomicU64,
    retried: AtomicU64,
}

impl Tally {
    fn lost(&self, what: String) {
        eprintln!("soak: LOST {what}");
        self.lost.fetch_add(1, Ordering::Relaxed);
    }
}

/// The reactor's side.
#[derive(Default)]
struct Echo {
    /// Servers paused by an accept error, to resume later.
    to_resume: Vec<ServerSocketId>,
    accept_errors: u64,
    tcp_count: usize,
    server_count: usize,
    /// The hostile mode's server side.
    hostile: Option<soak_hostile::Server>,
}

fn close(r: &mut Reactor<Echo>, id: TcpSocketId) {
    r.tcp().close(id, |_, _, _| {});
}

/// Counts each accept error and queues its server (an accept error pauses it) for the main
/// loop to resume, outside an EMFILE episode: the same in both modes, so `main` registers it
/// next to either mode's `serve`.
fn on_accept_error(r: &mut Reactor<Echo>) {
    let _ = r
        .tcp_server()
        .on_accept_error()
        .add_listener(|_, echo: &mut Echo, info| {
            echo.accept_errors += 1;
            echo.to_resume.push(info.socket_id);
        });
}

/// Every accepted socket echoes: it pauses on each chunk, sends it back, and reads on once
/// the send completed, so memory stays bounded however slowly the peer reads, and a
/// half-close is read only after everything before it was echoed.
fn serve(r: &mut Reactor<Echo>) {
    let _ = r.tcp_server().on_accept().add_listener(|r, _, info| {
        let id = info.client_socket_id;
        let props = TcpProperties::new().buffer_size(CHUNK);
        r.tcp().update(id, props, |_, _, _| {});
        r.tcp().set_paused(id, false, |_, _, _| {});
    });
    let _ = r.tcp().on_receive().add_listener(|r, _, info| {
        let id = info.socket_id;
        r.tcp().set_paused(id, true, |_, _, _| {});
        r.tcp()
            .send(id, info.data.clone(), move |r, _, sent| match sent {
                Ok(_) => r.tcp().set_paused(id, false, |_, _, _| {}),
                Err(_) => close(r, id),
            });
    });
    let _ = r
        .tcp()
        .on_receive_error()
        .add_listener(|r, _, info| close(r, info.socket_id));
}

/// Creates a server listening on a free loopback port (with `backlog`, or the default);
/// returns its id and port.
fn new_server(
    r: &mut Reactor<Echo>,
    echo: &mut Echo,
    backlog: Option<i32>,
) -> (ServerSocketId, u16) {
    let id = Arc::new(std::sync::Mutex::new(None));
    let slot = id.clone();
    r.tcp_server()
        .create(SocketProperties::default(), move |r, _, created| {
            let sid = created.expect("create").socket_id;
            *slot.lock().unwrap() = Some(sid);
            r.tcp_server()
                .listen(sid, "127.0.0.1", 0, backlog, |_, _, res| {
                    res.expect("listen")
                });
        });
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        r.turn(Some(Duration::from_millis(1)), echo).expect("turn");
        if let Some(sid) = *id.lock().unwrap() {
            let port = Arc::new(AtomicU16::new(0));
            let p = port.clone();
            r.tcp_server().get_info(sid, move |_, _, info| {
                if let Some(n) = info.ok().and_then(|i| i.local_port) {
                    p.store(n, Ordering::Relaxed);
                }
            });
            while port.load(Ordering::Relaxed) == 0 {
                assert!(Instant::now() < deadline, "no port for the new server");
                r.turn(Some(Duration::from_millis(1)), echo).expect("turn");
            }
            return (sid, port.load(Ordering::Relaxed));
        }
        assert!(Instant::now() < deadline, "server create did not answer");
    }
}

/// Bytes `from..from + len` of what connection `n` sends: a pattern that differs between
/// connections and repeats only every 64 KiB, so a lost, repeated or reordered piece shows
/// as a mismatch. Generated piece by piece, so clients hold no more than a buffer each and
/// the memory samples measure the reactor, not the clients.
fn pattern(n: u64, from: usize, len: usize) -> Vec<u8> {
    (from as u64..(from + len) as u64)
        .map(|i| (n.wrapping_mul(131) ^ (i >> 8).wrapping_mul(37) ^ i) as u8)
        .collect()
}

/// Piece size of the writes and checks.
const PIECE: usize = 64 * 1024;

/// Connects, retrying while the process is out of fds or the port is closed (an EMFILE
/// episode, a server being recreated); None when told to stop.
fn connect(port: &AtomicU16, stop: &AtomicBool, tally: &Tally) -> Option<TcpStream> {
    while !stop.load(Ordering::Relaxed) {
        let addr = SocketAddr::from(([127, 0, 0, 1], port.load(Ordering::Relaxed)));
        match TcpStream::connect_timeout(&addr, Duration::from_secs(5)) {
            Ok(s) => {
                let _ = s.set_read_timeout(Some(PATIENCE));
                let _ = s.set_write_timeout(Some(PATIENCE));
                return Some(s);
            }
            Err(_) => {
                tally.retried.fetch_add(1, Ordering::Relaxed);
                thread::sleep(Duration::from_millis(20));
            }
        }
    }
    None
}

/// How one echo exchange ended.
enum Outcome {
    Echoed(u64),
    /// Refused or reset before any byte came back: the connection was still in the backlog
    /// of a server that was closed, or never reached one. Retried, not lost.
    NotAccepted,
    Lost(String),
    /// Could not start (out of fds): nothing was sent.
    Retry,
}

/// Writes connection `conn`'s `len` bytes from a second thread while reading the echo (in
/// small pieces with pauses when `slow`) and checks it byte for byte; with `half_close`,
/// shuts down writing and expects EOF after the echo.
fn exchange(mut s: TcpStream, conn: u64, len: usize, slow: bool, half_close: bool) -> Outcome {
    let writer = {
        let mut w = match s.try_clone() {
            Ok(w) => w,
            // Out of fds (an EMFILE episode): nothing was sent; try again.
            Err(_) => return Outcome::Retry,
        };
        let spawned = spawn("soak-writer", move || {
            let mut at = 0;
            while at < len {
                let n = PIECE.min(len - at);
                if w.write_all(&pattern(conn, at, n)).is_err() {
                    return false;
                }
                at += n;
            }
            if half_close {
                let _ = w.shutdown(Shutdown::Write);
            }
            true
        });
        match spawned {
            Ok(writer) => writer,
            // Out of threads for a moment: nothing was sent; try again.
            Err(_) => return Outcome::Retry,
        }
    };
    let mut got = 0;
    let mut buf = vec![0u8; if slow { 1024 } else { PIECE }];
    let mut reads = 0u32;
    let mut failure = None;
    while got < len {
        match s.read(&mut buf) {
            Ok(0) => {
                failure = Some(format!("EOF after {got} of {len} bytes"));
                break;
            }
            Ok(n) => {
                let want = pattern(conn, got, n.min(len - got));
                if buf[..n] != want[..] {
                    let at = buf.iter().zip(&want).take_while(|(a, b)| a == b).count();
                    failure = Some(format!("echo differs at byte {} of {len}", got + at));
                    break;
                }
                got += n;
            }
            Err(e) => {
                failure = Some(format!("{e} after {got} of {len} bytes"));
                break;
            }
        }
        reads += 1;
        if slow && reads % 16 == 0 {
            thread::sleep(Duration::from_millis(1));
        }
    }
    if let Some(f) = failure {
        // The writer fails too once the connection is gone; don't wait on a full buffer.
        let _ = s.shutdown(Shutdown::Both);
        let _ = writer.join();
        return match got {
            0 => Outcome::NotAccepted,
            _ => Outcome::Lost(f),
        };
    }
    if !writer.join().unwrap_or(false) {
        return Outcome::Lost("the write failed after a full echo".into());
    }
    if half_close {
        match s.read(&mut buf) {
            Ok(0) => {}
            other => return Outcome::Lost(format!("after a half-close, expected EOF: {other:?}")),
        }
    }
    Outcome::Echoed(len as u64)
}

/// One client thread: echo exchanges of varied kinds until told to stop.
fn client(n: usize, ports: [Arc<AtomicU16>; 2], stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    let mut k: u64 = 0;
    while !stop.load(Ordering::Relaxed) {
        k += 1;
        let conn = (n as u64) << 40 | k;
        // Even clients use the main server, odd ones the one that gets recreated.
        let rotating = n % 2 == 1;
        let Some(mut s) = connect(&ports[rotating as usize], &stop, &tally) else {
            return;
        };
        let kind = (k + n as u64) % 8;
        if kind == 7 {
            // A reset mid-stream: the reactor sees -101 and closes its side.
            let _ = s.write_all(&pattern(conn, 0, 100_000));
            let mut buf = [0u8; 1000];
            let _ = s.read(&mut buf);
            let sock = socket2::Socket::from(s);
            let _ = sock.set_linger(Some(Duration::ZERO));
            drop(sock);
            tally.connections.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let (len, slow, half) = match kind {
            0 => (3 << 20, true, false), // a slow reader of megabytes
            1 | 2 => (200, false, true),
            _ => (1 + (conn as usize * 7919) % 300_000, false, kind == 3),
        };
        match exchange(s, conn, len, slow, half) {
            Outcome::Echoed(b) => {
                tally.connections.fetch_add(1, Ordering::Relaxed);
                tally.bytes.fetch_add(b, Ordering::Relaxed);
            }
            Outcome::NotAccepted if rotating => {
                tally.retried.fetch_add(1, Ordering::Relaxed);
            }
            Outcome::Retry => {
                tally.retried.fetch_add(1, Ordering::Relaxed);
                thread::sleep(Duration::from_millis(20));
            }
            Outcome::NotAccepted => tally.lost(format!("client {n} #{k}: never echoed")),
            Outcome::Lost(why) => tally.lost(format!("client {n} #{k}: {why}")),
        }
    }
}

/// Opens `count` connections at once to the main server, then checks each echoes a byte.
fn storm(count: usize, port: Arc<AtomicU16>, stop: Arc<AtomicBool>, tally: Arc<Tally>) {
    let mut conns = Vec::new();
    for _ in 0..count {
        match connect(&port, &stop, &tally) {
            Some(s) => conns.push(s),
            None => return,
        }
    }
    for (i, mut s) in conns.into_iter().enumerate() {
        let byte = [i as u8];
        let mut back = [0u8; 1];
        match s.write_all(&byte).and_then(|()| s.read_exact(&mut back)) {
            Ok(()) if back == byte => {
                tally.connections.fetch_add(1, Ordering::Relaxed);
                tally.bytes.fetch_add(1, Ordering::Relaxed);
            }
            other => tally.lost(format!("storm connection {i}: {other:?} {back:?}")),
        }
    }
}

/// One sample of the quantities that must stay flat.
#[derive(Clone, Copy, Debug, Default)]
struct Sample {
    rss_kib: u64,
    fds: u64,
    sockets: u64,
    /// Taken during the hostile mode's attack.
    attack: bool,
}

/// Resident memory, from `/proc/self/status` (`VmRSS`, in KiB).
fn rss_kib() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn fd_count() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64)
}

/// The maximum of `f` over the first and the last third of `samples`.
fn thirds(samples: &[Sample], f: impl Fn(&Sample) -> u64) -> (u64, u64) {
    let third = (samples.len() / 3).max(1);
    let max = |s: &[Sample]| s.iter().map(&f).max().unwrap_or(0);
    (
        max(&samples[..third]),
        max(&samples[samples.len() - third..]),
    )
}

/// Turns the reactor until the process has `fds` fds again (every connection closed), for
/// at most 15 s; returns the count it ended with.
fn settle_fds(r: &mut Reactor<Echo>, echo: &mut Echo, fds: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let now = fd_count();
        if now == fds || Instant::now() > deadline {
            return now;
        }
        r.turn(Some(Duration::from_millis(5)), echo).expect("turn");
    }
}

/// Whether `last` is above `first` by more than 5 % plus `slack`.
fn grew((first, last): (u64, u64), slack: u64) -> bool {
    last > first + first / 20 + slack
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.first().map(String::as_str) == Some("--attacker") {
        return soak_hostile::attacker_main(&args[1..]);
    }
    let (duration, every, hostile, ids_from) = parse_args();
    if hostile {
        // Thousands of connections: the soft fd limit up to the hard one (the attacker, a
        // child, inherits it).
        let (_, hard) = rlimit::getrlimit(Resource::NOFILE).expect("getrlimit");
        rlimit::setrlimit(Resource::NOFILE, hard, hard).expect("raise RLIMIT_NOFILE");
    }
    let builder = match hostile {
        true => soak_hostile::builder(),
        false => ReactorBuilder::new(),
    };
    let mut r: Reactor<Echo> = builder.ids_from(ids_from).build().expect("reactor");
    let mut echo = Echo::default();
    on_accept_error(&mut r);
    match hostile {
        true => soak_hostile::serve(&mut r),
        false => serve(&mut r),
    }
    let (main_id, main_port) = new_server(&mut r, &mut echo, None);
    let (mut rot_id, rot_port) = new_server(&mut r, &mut echo, None);
    let hostile_ports = hostile.then(|| soak_hostile::listen(&mut r, &mut echo, main_port));
    let fds_at_start = fd_count();
    let ports = [
        Arc::new(AtomicU16::new(main_port)),
        Arc::new(AtomicU16::new(rot_port)),
    ];
    let stop = Arc::new(AtomicBool::new(false));
    let tally = Arc::new(Tally::default());
    let mut threads: Vec<_> = (0..CLIENTS)
        .map(|n| {
            let (ports, stop, tally) = (ports.clone(), stop.clone(), tally.clone());
            spawn("soak-client", move || client(n, ports, stop, tally)).expect("client thread")
        })
        .collect();

    // Episodes happen on a fixed cycle scaled to the sampling interval.
    let cycle = every / 2;
    let (soft, hard) = rlimit::getrlimit(Resource::NOFILE).expect("getrlimit");
    let start = Instant::now();
    // In the hostile mode, the second half is the attack.
    let mut attack = hostile_ports.map(|p| {
        soak_hostile::Run::start(main_port, p, start + duration / 2, duration / 2, &tally)
    });
    let mut next_sample = start + every;
    let mut next_episode = start + cycle;
    let mut episode = 0u64;
    let mut restore_limit_at: Option<Instant> = None;
    let mut resume_main_at: Option<Instant> = None;
    let mut samples: Vec<Sample> = Vec::new();
    let counts = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));

    while start.elapsed() < duration {
        r.turn(Some(Duration::from_millis(5)), &mut echo)
            .expect("turn");
        let now = Instant::now();
        if let Some(attack) = attack.as_mut() {
            attack.tick(&mut r, &mut echo, now);
        }
        // Servers an accept error paused come back after a moment (not during an EMFILE
        // episode, which would only fail again).
        if restore_limit_at.is_none() && !echo.to_resume.is_empty() {
            for sid in std::mem::take(&mut echo.to_resume) {
                r.tcp_server().set_paused(sid, false, |_, _, _| {});
            }
        }
        if restore_limit_at.is_some_and(|t| now >= t) {
            rlimit::setrlimit(Resource::NOFILE, soft, hard).expect("restore RLIMIT_NOFILE");
            restore_limit_at = None;
        }
        if resume_main_at.is_some_and(|t| now >= t) {
            r.tcp_server().set_paused(main_id, false, |_, _, _| {});
            resume_main_at = None;
        }
        if now >= next_episode {
            next_episode = now + cycle;
            episode += 1;
            match episode % 5 {
                0 => {
                    // EMFILE: just above the fds in use, so the next accepts fail.
                    let limit = fd_count() + 4;
                    rlimit::setrlimit(Resource::NOFILE, limit, hard).expect("lower limit");
                    restore_limit_at = Some(now + cycle / 4);
                }
                1 => {
                    // A storm of connections at once, from its own thread.
                    let (port, stop, tally) = (ports[0].clone(), stop.clone(), tally.clone());
                    if let Ok(t) = spawn("soak-storm", move || storm(64, port, stop, tally)) {
                        threads.push(t);
                    }
                }
                2 => {
                    fault_injection::inject(Syscall::Accept, libc::ENOBUFS, 1);
                    fault_injection::inject(Syscall::Accept, libc::ECONNABORTED, 2);
                    fault_injection::inject(Syscall::Read, libc::EINTR, 3);
                    fault_injection::inject(Syscall::Send, libc::EINTR, 3);
                }
                3 => {
                    r.tcp_server().set_paused(main_id, true, |_, _, _| {});
                    resume_main_at = Some(now + cycle / 4);
                }
                _ => {
                    // Close the second server and open a new one on a new port.
                    r.tcp_server().close(rot_id, |_, _, _| {});
                    let (id, port) = new_server(&mut r, &mut echo, None);
                    rot_id = id;
                    ports[1].store(port, Ordering::Relaxed);
                }
            }
        }
        // Not while fds are short (reading /proc needs one), nor during a storm (its 64
        // connections at once are not growth).
        // A finished storm thread is joined now: an exited thread keeps its stack until then.
        let mut i = CLIENTS;
        while i < threads.len() {
            if threads[i].is_finished() {
                if threads.swap_remove(i).join().is_err() {
                    tally.lost("a storm thread panicked".into());
                }
            } else {
                i += 1;
            }
        }
        // Under attack, thousands of connections are open: a storm's 64 are not growth.
        let attacking = attack.as_ref().is_some_and(|a| a.attacking());
        let storming = threads.len() > CLIENTS && !attacking;
        if now >= next_sample
            && restore_limit_at.is_none()
            && !storming
            && soak_hostile::settled(&echo)
        {
            // After a long wait, one sample, not one per missed interval.
            next_sample = (next_sample + every).max(now);
            // The socket counts come from the previous sample's request.
            let c = counts.clone();
            r.tcp().get_sockets(move |_, _, l| {
                c.0.store(l.map_or(0, |l| l.len() as u64), Ordering::Relaxed)
            });
            let c = counts.clone();
            r.tcp_server().get_sockets(move |_, _, l| {
                c.1.store(l.map_or(0, |l| l.len() as u64), Ordering::Relaxed)
            });
            echo.tcp_count = counts.0.load(Ordering::Relaxed) as usize;
            echo.server_count = counts.1.load(Ordering::Relaxed) as usize;
            let s = Sample {
                rss_kib: rss_kib(),
                fds: fd_count(),
                sockets: (echo.tcp_count + echo.server_count) as u64,
                attack: attacking,
            };
            println!(
                "soak: t={:>5.0}s rss {} KiB, fds {}, sockets {}, connections {}, lost {}, \
                 accept errors {}{}",
                start.elapsed().as_secs_f64(),
                s.rss_kib,
                s.fds,
                s.sockets,
                tally.connections.load(Ordering::Relaxed),
                tally.lost.load(Ordering::Relaxed),
                echo.accept_errors,
                if s.attack { " (attack)" } else { "" },
            );
            samples.push(s);
        }
    }
    rlimit::setrlimit(Resource::NOFILE, soft, hard).expect("restore RLIMIT_NOFILE");
    fault_injection::clear();
    let measured = attack.as_mut().map(|a| a.finish(&mut r, &mut echo));
    for sid in std::mem::take(&mut echo.to_resume) {
        r.tcp_server().set_paused(sid, false, |_, _, _| {});
    }
    r.tcp_server().set_paused(main_id, false, |_, _, _| {});
    // Stop the clients; keep turning while they finish their last exchange.
    stop.store(true, Ordering::Relaxed);
    while threads.iter().any(|t| !t.is_finished()) {
        r.turn(Some(Duration::from_millis(5)), &mut echo)
            .expect("turn");
        for sid in std::mem::take(&mut echo.to_resume) {
            r.tcp_server().set_paused(sid, false, |_, _, _| {});
        }
    }
    for t in threads {
        if t.join().is_err() {
            tally.lost("a client thread panicked".into());
        }
    }
    // Every connection gone, the fds come back to where they were before the first client.
    let fds_at_end = match hostile {
        true => settle_fds(&mut r, &mut echo, fds_at_start),
        false => fds_at_start,
    };

    // In the hostile mode, each half must stay flat on its own; the line shows the attack.
    let (quiet, attacked): (Vec<Sample>, Vec<Sample>) = samples.iter().partition(|s| !s.attack);
    // Under attack, the never-readers fill the write quota every 2 s and their unsent bytes
    // are freed when they are closed: a sample may or may not catch that much more memory.
    let phases = match hostile {
        true => vec![
            ("quiet ", quiet, 1024),
            ("attack ", attacked, 1024 + soak_hostile::PENDING_KIB),
        ],
        false => vec![("", samples, 1024)],
    };
    let shown = &phases[phases.len() - 1].1;
    let rss = thirds(shown, |s| s.rss_kib);
    let fds = thirds(shown, |s| s.fds);
    let lost = tally.lost.load(Ordering::Relaxed);
    println!(
        "soak: {} connections, {} bytes, {lost} lost, ids wrapped {}, rss first/last third {}/{} KiB, fds {}/{}",
        tally.connections.load(Ordering::Relaxed),
        tally.bytes.load(Ordering::Relaxed),
        r.id_wraps(),
        rss.0,
        rss.1,
        fds.0,
        fds.1,
    );
    let mut failed = lost > 0;
    for (phase, samples, rss_slack) in &phases {
        for (name, v, slack) in [
            ("rss", thirds(samples, |s| s.rss_kib), *rss_slack),
            ("fds", thirds(samples, |s| s.fds), 32),
            ("sockets", thirds(samples, |s| s.sockets), 32),
        ] {
            if grew(v, slack) {
                eprintln!(
                    "soak: {phase}{name} grew: first third max {}, last third max {}",
                    v.0, v.1
                );
                failed = true;
            }
        }
        if samples.len() < 3 {
            eprintln!("soak: only {} {phase}samples: run longer", samples.len());
            failed = true;
        }
    }
    if fds_at_end != fds_at_start {
        eprintln!("soak: {fds_at_start} fds at the start, {fds_at_end} at the end");
        failed = true;
    }
    if let (Some(mut attack), Some((hist, threads))) = (attack, measured) {
        let summary = soak_hostile::Summary {
            phases: [&phases[0].1, &phases[1].1],
            hist,
            threads,
            lost,
            fds: (fds_at_start, fds_at_end),
        };
        failed |= !summary.report(&mut attack, &mut echo);
    }
    match failed {
        true => ExitCode::FAILURE,
        false => ExitCode::SUCCESS,
    }
}
