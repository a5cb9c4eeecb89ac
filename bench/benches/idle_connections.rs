//! What idle connections cost, from 1,000 to 1,000,000 of them: resident memory per connection,
//! the kernel's memory per connection, the time to accept all of them from a burst, and the
//! time of a turn with all of them idle, for the library against a hand-written mio loop, tokio
//! and Node's `net`.
//!
//! ```text
//! cargo bench --bench idle_connections                                   # 1,000 and 10,000
//! cargo bench --bench idle_connections -- --quick                        # 1,000 only
//! cargo bench --bench idle_connections -- --conns 10000,100000,1000000   # any list (k, M too)
//! ```
//!
//! Every server runs alone in a child process (this bench binary again, with
//! `CS_IDLE_SERVE=<server>`, or `node` for Node), and so does the client side (this binary
//! with `CS_IDLE_CLIENT=<address>`), so each has its own fd table and the server's resident
//! memory (`VmRSS` of `/proc/<pid>/status`) is its own. The parent reads the server's `VmRSS`
//! and the kernel's `Slab:` (`/proc/meminfo`) once the server listens, starts the client, which
//! opens N loopback connections as fast as it can (a burst), waits until the server says
//! `READY` (every connection accepted, and in the reading modes one byte read from each), lets
//! it settle, and reads both again:
//! - resident bytes/conn: the server's `VmRSS` difference over N;
//! - kernel bytes/conn: the `Slab:` difference over N, so both sockets of a connection (the
//!   server's and the client's: 2N sockets), their files, inodes and dentries, and the epoll
//!   items of registered ones. It is machine-wide: other work on the machine moves it by a few
//!   MiB, which is noise at 10,000 connections and nothing at 1,000,000;
//! - accept all: from the server's first accepted connection to its N-th (and N-th read);
//! - idle turn: the median over 11 batches (after one of warm-up) of the mean of 1,000
//!   zero-timeout turns (`Reactor::turn`, `Poll::poll`) with every connection idle; tokio and
//!   Node have no turn to call from outside (`-`). `turn vs 1k` divides it by the same server's at 1,000
//!   connections (1,000 is always measured).
//!
//! The servers:
//! - `lib-paused`: the library, accepted sockets left paused (Chrome's default: not
//!   registered with the poll, nothing read);
//! - `lib-reading`: the library, each accepted socket unpaused and one `on_receive` done;
//! - `mio-slab`: a hand-written mio loop keeping its streams in a `Slab`, registered, one read
//!   done (the floor);
//! - `tokio`: tokio's current-thread runtime, one task per connection, one read done;
//! - `node`: Node's `net.Server`, one `data` event per socket (only when `node` is installed).
//!
//! tokio and Node run up to 100,000 connections; `CS_IDLE_SERVERS=lib-paused,mio-slab` (a
//! comma-separated list) runs only the servers it names. Each figure is the median of
//! `CS_BENCH_ROUNDS` runs (1 quick, 3 full) up to 10,000 connections, of one run above;
//! `CS_BENCH_SECONDS` is how long the parent lets a server settle before reading again.
//!
//! **Many connections.** One source address has at most 64,512 ports, so the client binds
//! each socket explicitly: 127.0.0.2 with every port from 1024 to 65535 outside the ephemeral
//! range (`net.ipv4.ip_local_port_range`; a bound port is withdrawn from every other `connect`
//! of the machine, so the bench leaves the ephemeral range to them), then 127.0.0.3, and so on
//! across 127.0.0.0/8 (about 28 addresses for 1,000,000 with the default range). Client
//! sockets close with RST (`SO_LINGER {on, 0}`): no TIME_WAIT is left behind. Each process
//! raises its own `RLIMIT_NOFILE` (soft and hard) to N + 256, which needs a hard limit that
//! high or `CAP_SYS_RESOURCE`. Before each N the parent checks the machine, and when it is
//! short, says exactly what to raise and skips that N (one line, then the next N):
//! - `fs.nr_open` (the most one process may open; 1,048,576 by default, enough for
//!   1,000,000): `sysctl -w fs.nr_open=2097152`;
//! - `fs.file-max` (open files machine-wide: 2N more are needed):
//!   `sysctl -w fs.file-max=4194304`;
//! - the hard `RLIMIT_NOFILE` when the process cannot raise it (no `CAP_SYS_RESOURCE`):
//!   `ulimit -Hn`, `LimitNOFILE=` or `docker run --ulimit nofile=...` before the run;
//! - free memory: about 4 KiB of kernel memory per socket (8 GiB for 1,000,000
//!   connections).
//!
//! After each run both children exit (closing every socket) and the parent waits until the
//! kernel's count of TCP sockets (`/proc/net/sockstat`) is back down before the next run: no
//! fd and no process is left behind. Children die with the parent (`PR_SET_PDEATHSIG`).
//!
//! The last line is machine-readable, for `lib-paused` at the largest N:
//! `idle_connections n=N bytes_per_conn=X kernel_bytes_per_conn=K idle_turn_us=T turn_vs_1k=R`.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use chrome_sockets::Reactor;

mod common;
use common::{config, enforce_cap, median};

const SERVE: &str = "CS_IDLE_SERVE";
const CLIENT: &str = "CS_IDLE_CLIENT";
const WRITE: &str = "CS_IDLE_WRITE";
const CONNS: &str = "CS_IDLE_N";
/// Zero-timeout turns in one batch, and batches (the idle turn is the median batch mean).
const IDLE_TURNS: u32 = 1000;
const IDLE_BATCHES: usize = 11;
/// The largest N tokio and Node are run at.
const RUNTIME_MAX: usize = 100_000;
/// The N the idle turn is compared with.
const BASE: usize = 1000;

const NODE_SERVER: &str = r#"
const net = require('net');
const N = +process.env.CS_IDLE_N;
let n = 0;
let first = null;
const sockets = [];
const server = net.createServer((s) => {
  if (first === null) first = process.hrtime.bigint();
  sockets.push(s);
  s.on('error', () => {}); // the client's RST at the end
  s.once('data', () => {
    if (++n === N) console.log('READY ' + (process.hrtime.bigint() - first) + ' -');
  });
});
server.listen(0, '127.0.0.1', () => console.log('LISTENING 127.0.0.1:' + server.address().port));
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
"#;

/// The servers, whether each reads one byte per connection, and whether it exists here.
fn servers() -> Vec<(&'static str, bool)> {
    let mut v = vec![
        ("lib-paused", false),
        ("lib-reading", true),
        ("mio-slab", true),
        ("tokio", true),
    ];
    let node = Command::new("node").arg("--version").output();
    if node.is_ok_and(|o| o.status.success()) {
        v.push(("node", true));
    } else {
        println!("node is not installed: no Node row.");
    }
    // `CS_IDLE_SERVERS=lib-paused,mio-slab` runs only those.
    if let Ok(only) = std::env::var("CS_IDLE_SERVERS") {
        v.retain(|(name, _)| only.split(',').any(|o| o.trim() == *name));
    }
    v
}

// ---------------------------------------------------------------------------------------------
// Child side

/// Prints one line for the parent.
fn say(line: &str) {
    println!("{line}");
    io::stdout().flush().expect("stdout");
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// Waits until the parent closes stdin.
fn wait_for_parent() {
    let mut sink = Vec::new();
    let _ = io::stdin().read_to_end(&mut sink);
}

/// The median over [`IDLE_BATCHES`] of the mean time of [`IDLE_TURNS`] calls of `turn`, in ns.
fn idle_turn_ns(mut turn: impl FnMut() -> io::Result<()>) -> io::Result<f64> {
    // One batch of warm-up, not counted (the first turns after the burst still find work).
    for _ in 0..IDLE_TURNS {
        turn()?;
    }
    let mut batches = Vec::with_capacity(IDLE_BATCHES);
    for _ in 0..IDLE_BATCHES {
        let start = Instant::now();
        for _ in 0..IDLE_TURNS {
            turn()?;
        }
        batches.push(start.elapsed().as_nanos() as f64 / f64::from(IDLE_TURNS));
    }
    Ok(median(batches))
}

/// The library: accepts `n` connections, unpausing each and waiting for one read when `read`.
fn serve_library(n: usize, read: bool) -> io::Result<()> {
    #[derive(Default)]
    struct App {
        accepted: usize,
        received: usize,
        first: Option<Instant>,
    }
    let mut r: Reactor<App> = Reactor::new()?;
    let mut app = App::default();
    r.tcp_server()
        .on_accept()
        .add_listener(move |r, app, info| {
            app.accepted += 1;
            app.first.get_or_insert_with(Instant::now);
            if read {
                r.tcp()
                    .set_paused(info.client_socket_id, false, |_, _, res| {
                        res.expect("unpause");
                    });
            }
        });
    r.tcp()
        .on_receive()
        .add_listener(|_, app, _| app.received += 1);
    let addr = common::listen_on_loopback(&mut r, &mut app)?;
    say(&format!("LISTENING {addr}"));
    while app.accepted < n || (read && app.received < n) {
        r.turn(None, &mut app)?;
    }
    let accept_ns = app.first.map_or(0, |t| t.elapsed().as_nanos());
    let turn_ns = idle_turn_ns(|| r.turn(Some(Duration::ZERO), &mut app).map(drop))?;
    say(&format!("READY {accept_ns} {turn_ns:.1}"));
    wait_for_parent();
    Ok(())
}

/// The floor: a mio loop with its streams in a slab, registered, one read each.
fn serve_mio(n: usize) -> io::Result<()> {
    use mio::{Events, Interest, Poll, Token};
    let mut poll = Poll::new()?;
    let mut listener = mio::net::TcpListener::bind(loopback())?;
    const LISTENER: Token = Token(usize::MAX);
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    say(&format!("LISTENING {}", listener.local_addr()?));
    let mut streams: slab::Slab<mio::net::TcpStream> = slab::Slab::new();
    let mut events = Events::with_capacity(1024);
    let mut reads = 0;
    let mut first = None;
    let mut buf = [0u8; 64];
    while reads < n {
        poll.poll(&mut events, None)?;
        for event in events.iter() {
            if event.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((s, _)) => {
                            first.get_or_insert_with(Instant::now);
                            common::register_in_slab(poll.registry(), &mut streams, s, |s| s)?;
                        }
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    }
                }
            } else if let Some(s) = streams.get_mut(event.token().0) {
                loop {
                    match s.read(&mut buf) {
                        Ok(0) => break,
                        Ok(_) => reads += 1,
                        Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                        Err(e) => return Err(e),
                    }
                }
            }
        }
    }
    let accept_ns = first.map_or(0, |t: Instant| t.elapsed().as_nanos());
    let turn_ns = idle_turn_ns(|| poll.poll(&mut events, Some(Duration::ZERO)))?;
    say(&format!("READY {accept_ns} {turn_ns:.1}"));
    wait_for_parent();
    drop(streams);
    Ok(())
}

/// tokio's current-thread runtime: one task per connection, one read, then waiting for more.
fn serve_tokio(n: usize) -> io::Result<()> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{Arc, OnceLock};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    let reads = Arc::new(AtomicUsize::new(0));
    let first: Arc<OnceLock<Instant>> = Arc::default();
    let counted = reads.clone();
    let first_accept = first.clone();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(loopback()).await?;
        say(&format!("LISTENING {}", listener.local_addr()?));
        tokio::spawn(async move {
            loop {
                let Ok((s, _)) = listener.accept().await else {
                    continue;
                };
                first_accept.get_or_init(Instant::now);
                let counted = counted.clone();
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    let mut done = false;
                    // One read, then idle (waiting for more) while holding the stream.
                    while s.readable().await.is_ok() {
                        match s.try_read(&mut buf) {
                            Ok(0) => return,
                            Ok(_) if !done => {
                                done = true;
                                counted.fetch_add(1, Ordering::Relaxed);
                            }
                            Ok(_) => {}
                            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                            Err(_) => return,
                        }
                    }
                });
            }
        });
        while reads.load(Ordering::Relaxed) < n {
            tokio::task::yield_now().await;
        }
        io::Result::Ok(())
    })?;
    let accept_ns = first.get().map_or(0, |t| t.elapsed().as_nanos());
    say(&format!("READY {accept_ns} -"));
    // The runtime and its tasks stay alive (and idle) while the parent measures.
    wait_for_parent();
    drop(rt);
    Ok(())
}

/// The client side: `n` connections to the address in `CS_IDLE_CLIENT`, held until the parent
/// closes stdin, then closed with RST.
fn run_client(addr: &str, n: usize) -> io::Result<()> {
    let addr: SocketAddr = addr
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, format!("{addr}: {e}")))?;
    let write = std::env::var(WRITE).is_ok_and(|v| v == "1");
    let start = Instant::now();
    match common::connect_many(addr, n, 2, write, |_| {}) {
        Ok((clients, hosts)) => {
            say(&format!("CONNECTED {hosts} {}", start.elapsed().as_nanos()));
            wait_for_parent();
            drop(clients);
        }
        Err(e) => say(&format!("ERROR {e}")),
    }
    Ok(())
}

/// In a child: runs the server `CS_IDLE_SERVE` or the client `CS_IDLE_CLIENT` names. Returns
/// false in the parent.
fn child_if_child() -> io::Result<bool> {
    let serve = std::env::var(SERVE).ok();
    let client = std::env::var(CLIENT).ok();
    if serve.is_none() && client.is_none() {
        return Ok(false);
    }
    // Nothing outlives the parent, whatever stops it (the hard cap included).
    let n = common::child_dying_with_parent(CONNS)?;
    if let Err(e) = common::raise_nofile(n as u64 + 256) {
        say(&format!("ERROR {e}"));
        return Ok(true);
    }
    if let Some(addr) = client {
        run_client(&addr, n)?;
        return Ok(true);
    }
    match serve.as_deref().unwrap_or_default() {
        "lib-paused" => serve_library(n, false)?,
        "lib-reading" => serve_library(n, true)?,
        "mio-slab" => serve_mio(n)?,
        "tokio" => serve_tokio(n)?,
        other => panic!("{SERVE}={other}: no such server"),
    }
    Ok(true)
}

// ---------------------------------------------------------------------------------------------
// Parent side

/// `VmRSS` of a process, in bytes.
fn rss_bytes(pid: u32) -> io::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map(|kb| kb * 1024)
        .ok_or_else(|| io::Error::new(io::ErrorKind::Other, "no VmRSS"))
}

/// `Slab:` of `/proc/meminfo`, in bytes.
fn slab_bytes() -> io::Result<i64> {
    common::meminfo_kb("Slab")
        .map(|kb| kb as i64 * 1024)
        .ok_or_else(|| io::Error::new(io::ErrorKind::Other, "no Slab: in /proc/meminfo"))
}

/// What one server at one N measured.
#[derive(Clone)]
struct Row {
    server: &'static str,
    conns: usize,
    bytes_per_conn: f64,
    kernel_bytes_per_conn: f64,
    accept_ms: f64,
    /// Idle turn, in microseconds (`None`: no turn to time).
    turn_us: Option<f64>,
}

/// A child process that is killed (if still running) and reaped when dropped.
struct Proc {
    child: Child,
    out: BufReader<ChildStdout>,
}

impl Proc {
    fn spawn(mut cmd: Command) -> io::Result<Proc> {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let out = BufReader::new(child.stdout.take().expect("piped"));
        Ok(Proc { child, out })
    }

    /// The child's next line, which must start with `word`; the rest of it.
    fn expect(&mut self, who: &str, word: &str) -> io::Result<String> {
        let mut line = String::new();
        self.out.read_line(&mut line)?;
        line.trim()
            .strip_prefix(word)
            .map(|rest| rest.trim().to_string())
            .ok_or_else(|| io::Error::new(io::ErrorKind::Other, format!("{who} said {line:?}")))
    }

    /// Closes stdin (the child's signal to close everything and exit) and reaps it.
    fn finish(mut self) -> io::Result<()> {
        drop(self.child.stdin.take());
        self.child.wait().map(drop)
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn spawn_server(server: &str, n: usize) -> io::Result<Proc> {
    let mut cmd = if server == "node" {
        let mut c = Command::new("node");
        c.args(["-e", NODE_SERVER]);
        c
    } else {
        let mut c = Command::new(std::env::current_exe()?);
        c.env(SERVE, server);
        c
    };
    cmd.env(CONNS, n.to_string());
    Proc::spawn(cmd)
}

fn spawn_client(addr: SocketAddr, n: usize, write: bool) -> io::Result<Proc> {
    let mut cmd = Command::new(std::env::current_exe()?);
    cmd.env(CLIENT, addr.to_string())
        .env(CONNS, n.to_string())
        .env(WRITE, if write { "1" } else { "0" });
    Proc::spawn(cmd)
}

/// Waits (2 minutes at most) until the kernel holds no more TCP sockets than `before` plus
/// some slack for the rest of the machine: the last run's sockets are gone.
fn wait_for_sockets_gone(before: u64, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(120);
    let slack = 2048 + n as u64 / 100;
    while Instant::now() < deadline {
        match common::tcp_inuse() {
            Some(now) if now > before + slack => std::thread::sleep(Duration::from_millis(100)),
            _ => return,
        }
    }
    println!("idle_connections: the kernel still holds more TCP sockets than before the run");
}

fn measure(server: &'static str, read: bool, n: usize, settle: f64) -> io::Result<Row> {
    let inuse_before = common::tcp_inuse().unwrap_or(0);
    let mut srv = spawn_server(server, n)?;
    let addr: SocketAddr = srv
        .expect(server, "LISTENING")?
        .parse()
        .map_err(|e| io::Error::new(io::ErrorKind::Other, format!("{server}: {e}")))?;
    std::thread::sleep(Duration::from_millis(50));
    let pid = srv.child.id();
    let before = rss_bytes(pid)?;
    let slab_before = slab_bytes()?;
    let mut client = spawn_client(addr, n, read)?;
    client.expect("the client", "CONNECTED")?;
    // "READY <ns to accept all> <mean idle turn in ns, or ->".
    let ready = srv.expect(server, "READY")?;
    let mut words = ready.split_whitespace();
    let accept_ns: f64 = words
        .next()
        .and_then(|w| w.parse().ok())
        .unwrap_or(f64::NAN);
    let turn_us = words
        .next()
        .and_then(|w| w.parse::<f64>().ok())
        .map(|ns| ns / 1000.0);
    std::thread::sleep(Duration::from_secs_f64(settle));
    let after = rss_bytes(pid)?;
    let slab_after = slab_bytes()?;
    client.finish()?;
    srv.finish()?;
    wait_for_sockets_gone(inuse_before, n);
    Ok(Row {
        server,
        conns: n,
        bytes_per_conn: after.saturating_sub(before) as f64 / n as f64,
        kernel_bytes_per_conn: (slab_after - slab_before) as f64 / n as f64,
        accept_ms: accept_ns / 1e6,
        turn_us,
    })
}

/// The `--conns` list (`--conns 10000,100k` or `--conns=1M`), if given.
fn conns_arg() -> Option<Vec<usize>> {
    let list = common::flag_value("--conns")?;
    let levels: Vec<usize> = list.split(',').filter_map(common::parse_count).collect();
    if levels.is_empty() {
        eprintln!("idle_connections: --conns {list:?}: no count in it (e.g. 10000,100k,1M)");
        std::process::exit(2);
    }
    Some(levels)
}

fn main() -> io::Result<()> {
    if child_if_child()? {
        return Ok(());
    }
    let quick = std::env::args().any(|a| a == "--quick");
    let mut levels = conns_arg().unwrap_or_else(|| {
        if quick || !std::env::args().any(|a| a == "--bench") {
            vec![BASE]
        } else {
            vec![BASE, 10_000]
        }
    });
    if !levels.contains(&BASE) {
        levels.push(BASE);
    }
    levels.sort_unstable();
    levels.dedup();
    let servers = servers();
    // The default cap: 15 minutes, plus 0.3 ms per connection and server.
    let work: f64 = levels
        .iter()
        .map(|&n| {
            let rows = servers
                .iter()
                .filter(|(s, _)| n <= RUNTIME_MAX || s.starts_with("lib") || *s == "mio-slab")
                .count();
            (n * rows) as f64
        })
        .sum();
    let cfg = config(
        (1, 0.1),
        (3, 0.2),
        (120.0 + work * 3e-4, 900.0 + work * 3e-4),
        0.0,
    );
    enforce_cap("idle_connections", cfg.cap);
    println!(
        "idle_connections: {} connections, {} rounds (median) up to 10,000 and 1 above, servers \
         and client in child processes{}; cap {:?}",
        levels
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(", "),
        cfg.rounds,
        if cfg.quick { " (quick)" } else { "" },
        cfg.cap,
    );
    let mut rows = Vec::new();
    let mut measured = Vec::new();
    for &n in &levels {
        // Each child holds n sockets; one run puts 2n sockets in the kernel.
        let fds = n as u64 + 256;
        if let Err(why) =
            common::raise_nofile(fds).and_then(|()| common::room_for_sockets(2 * n as u64, fds))
        {
            println!("idle_connections: skipping {n} connections: {why}");
            continue;
        }
        let rounds = if n > 10_000 { 1 } else { cfg.rounds };
        for &(server, read) in &servers {
            if n > RUNTIME_MAX && !(server.starts_with("lib") || server == "mio-slab") {
                continue;
            }
            let mut runs = Vec::new();
            for _ in 0..rounds {
                match measure(server, read, n, cfg.seconds) {
                    Ok(row) => runs.push(row),
                    Err(e) => println!("{server} at {n}: {e}"),
                }
            }
            if runs.is_empty() {
                continue;
            }
            let col = |f: fn(&Row) -> f64| median(runs.iter().map(f).collect());
            let turns: Vec<f64> = runs.iter().filter_map(|r| r.turn_us).collect();
            let row = Row {
                server,
                conns: n,
                bytes_per_conn: col(|r| r.bytes_per_conn),
                kernel_bytes_per_conn: col(|r| r.kernel_bytes_per_conn),
                accept_ms: col(|r| r.accept_ms),
                turn_us: (!turns.is_empty()).then(|| median(turns)),
            };
            eprintln!(
                "idle_connections: {n} {server}: {:.0} B/conn, kernel {:.0} B/conn, accept all \
                 {:.0} ms",
                row.bytes_per_conn, row.kernel_bytes_per_conn, row.accept_ms
            );
            rows.push(row);
        }
        measured.push(n);
    }
    println!();
    println!(
        "| connections | server | resident bytes/conn | vs mio-slab | kernel bytes/conn (2 \
         sockets) | accept all ms | idle turn µs | turn vs 1k |"
    );
    println!("|---:|---|---:|---:|---:|---:|---:|---:|");
    let find = |server: &str, n: usize| rows.iter().find(|r| r.server == server && r.conns == n);
    for row in &rows {
        let ratio = find("mio-slab", row.conns).map_or("-".into(), |m| {
            format!("{:.2}", row.bytes_per_conn / m.bytes_per_conn.max(1.0))
        });
        let turn = row.turn_us.map_or("-".into(), |t| format!("{t:.3}"));
        let vs_1k = match (row.turn_us, find(row.server, BASE).and_then(|b| b.turn_us)) {
            (Some(t), Some(b)) if b > 0.0 => format!("{:.2}", t / b),
            _ => "-".into(),
        };
        println!(
            "| {} | {} | {:.0} | {ratio} | {:.0} | {:.0} | {turn} | {vs_1k} |",
            row.conns, row.server, row.bytes_per_conn, row.kernel_bytes_per_conn, row.accept_ms
        );
    }
    let top = measured.iter().max().copied().unwrap_or(BASE);
    let lib = find("lib-paused", top);
    let base_turn = find("lib-paused", BASE).and_then(|r| r.turn_us);
    let turn = lib.and_then(|r| r.turn_us).unwrap_or(f64::NAN);
    println!();
    println!(
        "idle_connections n={top} bytes_per_conn={:.0} kernel_bytes_per_conn={:.0} \
         idle_turn_us={turn:.3} turn_vs_1k={:.2}",
        lib.map_or(f64::NAN, |r| r.bytes_per_conn),
        lib.map_or(f64::NAN, |r| r.kernel_bytes_per_conn),
        base_turn.map_or(f64::NAN, |b| turn / b),
    );
    Ok(())
}
