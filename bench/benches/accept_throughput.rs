//! Accept-and-close throughput: the library against a hand-written mio accept loop, in one run.
//!
//! ```text
//! cargo bench --bench accept_throughput               # full run
//! cargo bench --bench accept_throughput -- --quick    # CI smoke run, well under 60 s
//! ```
//!
//! Every server runs on a thread of its own in this process, listening on 127.0.0.1:
//! 1. `mio`: a hand-written mio loop (drain `accept` until would-block, drop each stream): the
//!    floor;
//! 2. `lib-chrome-defaults`: the library, `on_accept` closes each client socket, accepted
//!    sockets get Chrome's options ([`AcceptedSockets::ChromeDefaults`]);
//! 3. `lib-untouched`: the same with [`AcceptedSockets::Untouched`];
//! 4. `std-blocking` and `tokio-current-thread`, for context;
//! 5. `lib-sharded-1` and `lib-sharded-2`: the library sharded over 1 and 2 reactors, one per
//!    thread, on one port (`SocketProperties::reuse_port`, Chrome's defaults), as
//!    `examples/sharded_accept.rs` runs it; CPU is summed over the shard threads. On a
//!    2-core machine the load generator competes with both shards for the cores;
//! 6. `chrome`: real Chromium running the accept-and-close Chrome App of `chrome/bench-app`
//!    (`chrome.sockets.tcpServer`, each accepted socket closed in `onAccept`), when chromium is
//!    installed (one line says it is skipped otherwise). Its CPU is summed over all of
//!    Chromium's processes (its process group), from `/proc/<pid>/stat` in clock ticks.
//!
//! One load generator on the main thread (mio, non-blocking) keeps C connections in flight:
//! each connects, reads until EOF, closes, and is replaced at once. EOF only arrives after the
//! server accepted and closed, so the completion rate is an honest accept rate; latency runs
//! from just before `connect` to EOF. Cells are interleaved round by round (every server at
//! every level in each round, the server order rotating by one each round), and every ratio is
//! against the mio floor of the same round and level, so drift of the machine cancels out.
//!
//! Server CPU is the server thread's own on-CPU time (`/proc/self/task/<tid>/schedstat`, field
//! 1, nanoseconds) over the measured window, divided by the connections completed in it.
//!
//! Ephemeral ports and TIME_WAIT: every client socket gets `SO_LINGER {on, 0}`, so its close
//! sends RST. The server has already closed (its side waits in FIN_WAIT2), the RST ends the
//! connection there, and no TIME_WAIT socket is left on either side, so the port range never
//! runs out however many connections a run makes.
//!
//! Knobs (environment): `CS_BENCH_QUICK=1` (same as `--quick`), `CS_BENCH_ROUNDS`,
//! `CS_BENCH_SECONDS` (measured seconds per cell), `CS_BENCH_CAP` (hard cap in seconds for the
//! whole run; the process exits with status 3 when it is reached).
//!
//! After the table, [`counts`] reports syscalls per connection (`strace -f -c`) and user-space
//! instructions per connection (`perf stat -e instructions:u`, else callgrind) at 1 in
//! flight, each server alone in a child process; on by default in full runs, `CS_BENCH_COUNTS=1`
//! or `0` forces it on or off, `CS_BENCH_COUNTS=only` skips the throughput matrix.
//!
//! The table also goes to `accept_throughput.md`, and a chart of it to `accept_throughput.svg`
//! next to it ([`chart`]: conn/s and server CPU µs/conn against connections in flight, a line
//! per server through its medians over a min-max band over rounds), in
//! `target/accept_throughput/` (`$CARGO_TARGET_DIR/accept_throughput/` when that is set), or
//! in the directory `CS_BENCH_OUT` names; one line on stdout gives both paths.
//!
//! The last line is machine-readable:
//! `accept_throughput ratio_vs_mio=<conn/s ratio> cpu_per_conn_vs_mio=<CPU ratio>`, both for
//! the default configuration (Chrome defaults) at 16 connections in flight.
//!
//! **With connections held** (`cargo bench --bench accept_throughput -- --held 100000`; `k`
//! and `M` suffixes too): the servers are `mio` and `lib-chrome-defaults` as above, next to
//! `mio+held` and `lib+held`, the same servers each holding N idle accepted connections (the
//! library's left paused, as Chrome leaves them; the mio loop's registered in a `Slab`) while
//! they accept and close the load generator's. The held connections come from a client in a
//! child process (this binary with `CS_HELD_CLIENT`), bound across 127.0.0.2, 127.0.0.3, ...
//! as in `idle_connections`, before the first round; both processes raise `RLIMIT_NOFILE` to
//! 2N + 1,024 or say which limit or sysctl to raise and exit. No counts, std, tokio or Chrome
//! rows in this mode. After the usual last line come three more (server CPU per connection
//! held over empty, both servers; conn/s held over empty for mio), the last of them:
//! `accept_held held=N ratio_vs_empty=R`, the library's conn/s with N held over its conn/s
//! with none, at 16 in flight, median over rounds of the ratio within each round.

use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream as StdStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use chrome_oracle::{group_cpu_time, ChromeAcceptServer};
use chrome_sockets::{AcceptedSockets, Reactor, ReactorBuilder};
use mio::net::TcpStream;
use mio::{Events, Interest, Poll, Token};

mod chart;
mod common;
mod counts;
use common::{config, enforce_cap, median};

const LEVELS: [usize; 3] = [1, 16, 64];

// ---------------------------------------------------------------------------------------------
// Servers

/// A server running on a thread of its own.
struct Server {
    name: &'static str,
    addr: SocketAddr,
    cpu: Cpu,
    stop: Arc<AtomicBool>,
    thread: JoinHandle<()>,
}

/// Whose CPU time a server costs.
enum Cpu {
    /// The server thread's (its kernel tid).
    Thread(u32),
    /// Every process of a process group (Chromium's).
    Group(u32),
    /// Several threads' (the shards of a sharded server).
    Threads(Vec<u32>),
}

impl Server {
    /// Starts `body` on a new thread; it reports its address once listening, then serves
    /// until the stop flag is set (checked after every wake-up).
    fn spawn<F>(name: &'static str, body: F) -> Server
    where
        F: FnOnce(Arc<AtomicBool>, mpsc::Sender<SocketAddr>) -> io::Result<()> + Send + 'static,
    {
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let (tid_tx, tid_rx) = mpsc::channel();
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                tid_tx.send(thread_id()).expect("main thread waits");
                if let Err(e) = body(flag, tx) {
                    panic!("server {name}: {e}");
                }
            })
            .expect("spawning a server thread");
        let tid = tid_rx.recv().expect("server thread started");
        let addr = rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("server {name} did not start listening"));
        Server {
            name,
            addr,
            cpu: Cpu::Thread(tid),
            stop,
            thread,
        }
    }

    /// Chromium with the accept-and-close app, held by a thread of its own until stopped;
    /// `None` (said in one line) when chromium is not installed.
    fn chrome() -> Option<Server> {
        if chrome_oracle::chromium_path().is_none() {
            println!("chrome: skipped (chromium not installed: apt-get install -y chromium)");
            return None;
        }
        let stop = Arc::new(AtomicBool::new(false));
        let (tx, rx) = mpsc::channel();
        let flag = stop.clone();
        let thread = std::thread::spawn(move || match ChromeAcceptServer::launch(0) {
            Ok(mut server) => {
                let _ = tx.send(Ok((server.port(), server.chrome().pgid())));
                while !flag.load(Ordering::SeqCst) {
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
            Err(e) => {
                let _ = tx.send(Err(e.to_string()));
            }
        });
        let (port, pgid) = rx
            .recv()
            .expect("the chrome thread answers")
            .unwrap_or_else(|e| panic!("server chrome: {e}"));
        Some(Server {
            name: "chrome",
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            cpu: Cpu::Group(pgid),
            stop,
            thread,
        })
    }

    /// On-CPU time of the server so far, in nanoseconds.
    fn cpu_ns(&self) -> u64 {
        match self.cpu {
            Cpu::Thread(tid) => thread_cpu_ns(tid),
            Cpu::Threads(ref tids) => tids.iter().map(|&tid| thread_cpu_ns(tid)).sum(),
            Cpu::Group(pgid) => {
                u64::try_from(group_cpu_time(pgid).0.as_nanos()).unwrap_or(u64::MAX)
            }
        }
    }

    /// Sets the stop flag, wakes the server with one connection and joins it.
    fn stop(self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = StdStream::connect_timeout(&self.addr, Duration::from_secs(1));
        self.thread.join().expect("server thread panicked");
    }
}

/// This thread's kernel id, from the `/proc/thread-self` link (`<pid>/task/<tid>`).
fn thread_id() -> u32 {
    let link = std::fs::read_link("/proc/thread-self").expect("/proc/thread-self");
    link.file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.parse().ok())
        .expect("a numeric tid")
}

/// Field 1 of `/proc/self/task/<tid>/schedstat`: time spent on a CPU, in nanoseconds.
fn thread_cpu_ns(tid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat"))
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .expect("reading schedstat")
}

fn loopback() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 0))
}

/// The floor: one thread, a mio listener, drain `accept` until would-block, drop each stream.
fn mio_floor(stop: Arc<AtomicBool>, tx: mpsc::Sender<SocketAddr>) -> io::Result<()> {
    let (mut poll, listener) = mio_listening(Token(0), &tx)?;
    let mut events = Events::with_capacity(1024);
    while !stop.load(Ordering::Relaxed) {
        if !poll_events(&mut poll, &mut events)? {
            continue;
        }
        for _event in events.iter() {
            accept_until_would_block(&listener, |stream| {
                drop(stream);
                Ok(())
            })?;
        }
    }
    Ok(())
}

/// A mio `Poll` and a listener on 127.0.0.1 registered for reading under `token`; the
/// listener's address is sent to the main thread.
fn mio_listening(
    token: Token,
    tx: &mpsc::Sender<SocketAddr>,
) -> io::Result<(Poll, mio::net::TcpListener)> {
    let poll = Poll::new()?;
    let mut listener = mio::net::TcpListener::bind(loopback())?;
    poll.registry()
        .register(&mut listener, token, Interest::READABLE)?;
    tx.send(listener.local_addr()?).expect("main waits");
    Ok((poll, listener))
}

/// Waits for events without a timeout; `Ok(false)` when a signal interrupted the wait.
fn poll_events(poll: &mut Poll, events: &mut Events) -> io::Result<bool> {
    match poll.poll(events, None) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => Ok(false),
        Err(e) => Err(e),
    }
}

/// Accepts until `accept` would block, handing each stream to `take`; an interrupted or
/// aborted accept is retried, any other error returned (the mio servers' accept drain).
fn accept_until_would_block(
    listener: &mio::net::TcpListener,
    mut take: impl FnMut(TcpStream) -> io::Result<()>,
) -> io::Result<()> {
    loop {
        match listener.accept() {
            Ok((stream, _peer)) => take(stream)?,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => {}
            Err(e) => return Err(e),
        }
    }
}

/// The library: `on_accept` closes each client socket.
fn library(
    accepted: AcceptedSockets,
) -> impl FnOnce(Arc<AtomicBool>, mpsc::Sender<SocketAddr>) -> io::Result<()> + Send {
    move |stop, tx| {
        let mut r: Reactor = ReactorBuilder::new().accepted_sockets(accepted).build()?;
        r.tcp_server().on_accept().add_listener(|r, _, info| {
            r.tcp().close(info.client_socket_id, |_, _, _| {});
        });
        serve_until_stopped(r, (), &stop, tx)
    }
}

/// Listens on 127.0.0.1, sends the address to the main thread, then turns `r` until `stop`.
fn serve_until_stopped<S: 'static>(
    mut r: Reactor<S>,
    mut state: S,
    stop: &AtomicBool,
    tx: mpsc::Sender<SocketAddr>,
) -> io::Result<()> {
    tx.send(common::listen_on_loopback(&mut r, &mut state)?)
        .expect("main waits");
    while !stop.load(Ordering::Relaxed) {
        r.turn(None, &mut state)?;
    }
    Ok(())
}

/// The library sharded over `threads` reactors, one per thread, each with a `reuse_port`
/// server on the same port whose `on_accept` closes each client socket. A coordinating
/// thread (not counted: it sleeps) stops the shards through their wakers once the stop flag
/// is set.
fn sharded(name: &'static str, threads: usize) -> Server {
    use chrome_sockets::tcp_server::SocketProperties;
    let mut port = 0u16;
    let (mut tids, mut wakers, mut shards) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..threads {
        let (tx, rx) = mpsc::channel();
        shards.push(std::thread::spawn(move || {
            let mut r: Reactor<Option<u16>> = ReactorBuilder::new().build().expect("reactor");
            r.tcp_server().on_accept().add_listener(|r, _, info| {
                r.tcp().close(info.client_socket_id, |_, _, _| {});
            });
            let props = SocketProperties::new().reuse_port(true);
            r.tcp_server().create(props, move |r, _, created| {
                let id = created.expect("create").socket_id;
                let port = i32::from(port);
                r.tcp_server()
                    .listen(id, "127.0.0.1", port, None, move |r, _, res| {
                        res.expect("listen on the shared port");
                        r.tcp_server().get_info(id, |_, bound, info| {
                            *bound = info.expect("get_info").local_port;
                        });
                    });
            });
            let mut bound = None;
            while bound.is_none() {
                r.turn(None, &mut bound).expect("turn");
            }
            tx.send((thread_id(), bound.unwrap(), r.waker()))
                .expect("main waits");
            r.run(&mut bound).expect("run");
        }));
        let (tid, bound, waker) = rx.recv().expect("a shard listens");
        port = bound;
        tids.push(tid);
        wakers.push(waker);
    }
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    let thread = std::thread::spawn(move || {
        while !flag.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20));
        }
        for waker in wakers {
            waker.stop().expect("stop a shard");
        }
        for shard in shards {
            shard.join().expect("shard thread panicked");
        }
    });
    Server {
        name,
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        cpu: Cpu::Threads(tids),
        stop,
        thread,
    }
}

/// std's blocking accept loop.
fn std_blocking(stop: Arc<AtomicBool>, tx: mpsc::Sender<SocketAddr>) -> io::Result<()> {
    let listener = std::net::TcpListener::bind(loopback())?;
    tx.send(listener.local_addr()?).expect("main waits");
    while !stop.load(Ordering::Relaxed) {
        match listener.accept() {
            Ok((stream, _)) => drop(stream),
            Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// tokio's current-thread runtime, `accept().await` in a loop.
fn tokio_current_thread(stop: Arc<AtomicBool>, tx: mpsc::Sender<SocketAddr>) -> io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(loopback()).await?;
        tx.send(listener.local_addr()?).expect("main waits");
        while !stop.load(Ordering::Relaxed) {
            match listener.accept().await {
                Ok((stream, _)) => drop(stream),
                Err(e) if e.kind() == io::ErrorKind::ConnectionAborted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(())
    })
}

/// The servers [`counts`] can run alone in a child process (not Chrome: its processes are
/// not this binary's children).
fn counted(servers: &[Server]) -> Vec<&'static str> {
    servers
        .iter()
        .map(|s| s.name)
        .filter(|name| serve_alone(name).is_some())
        .collect()
}

/// One server alone, for a child process of [`counts`]: serves until the parent closes stdin.
fn serve_alone(name: &str) -> Option<Box<dyn FnOnce() + Send>> {
    fn run<F>(name: &'static str, body: F) -> Option<Box<dyn FnOnce() + Send>>
    where
        F: FnOnce(Arc<AtomicBool>, mpsc::Sender<SocketAddr>) -> io::Result<()> + Send + 'static,
    {
        Some(Box::new(move || {
            let server = Server::spawn(name, body);
            counts::announce_and_wait(server.addr);
            server.stop();
        }))
    }
    match name {
        "mio" => run("mio", mio_floor),
        "lib-chrome-defaults" => run(
            "lib-chrome-defaults",
            library(AcceptedSockets::ChromeDefaults),
        ),
        "lib-untouched" => run("lib-untouched", library(AcceptedSockets::Untouched)),
        "std-blocking" => run("std-blocking", std_blocking),
        "tokio-current-thread" => run("tokio-current-thread", tokio_current_thread),
        _ => None,
    }
}

// ---------------------------------------------------------------------------------------------
// Load generator

/// What one cell measured.
#[derive(Clone, Copy, Debug, Default)]
struct Cell {
    conn_per_s: f64,
    p50_us: f64,
    p99_us: f64,
    cpu_us_per_conn: f64,
    errors: u64,
}

/// Keeps `conc` connections in flight against `server` for `warmup + seconds`; measures the
/// last `seconds`.
fn drive(server: &Server, conc: usize, warmup: f64, seconds: f64) -> io::Result<Cell> {
    let mut poll = Poll::new()?;
    let mut events = Events::with_capacity(conc.max(16));
    let start = Instant::now();
    let warm_end = start + Duration::from_secs_f64(warmup);
    let end = warm_end + Duration::from_secs_f64(seconds);
    let mut slots: Vec<Option<(TcpStream, Instant)>> = (0..conc).map(|_| None).collect();
    let mut lat_ns: Vec<u64> = Vec::with_capacity(1 << 16);
    let mut errors = 0u64;
    let mut completed = 0u64;
    let mut cpu_before: Option<(u64, Instant)> = None;

    let open = |poll: &Poll, i: usize| -> io::Result<(TcpStream, Instant)> {
        let t = Instant::now();
        let mut s = TcpStream::connect(server.addr)?;
        socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO))?;
        poll.registry()
            .register(&mut s, Token(i), Interest::READABLE)?;
        Ok((s, t))
    };
    for (i, slot) in slots.iter_mut().enumerate() {
        *slot = Some(open(&poll, i)?);
    }
    let mut buf = [0u8; 64];
    loop {
        let now = Instant::now();
        if cpu_before.is_none() && now >= warm_end {
            cpu_before = Some((server.cpu_ns(), now));
            completed = 0;
            errors = 0;
            lat_ns.clear();
        }
        if now >= end {
            break;
        }
        let wait = (end - now).min(Duration::from_millis(50));
        let wait = if cpu_before.is_none() {
            wait.min(warm_end - now)
        } else {
            wait
        };
        match poll.poll(&mut events, Some(wait)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for event in events.iter() {
            let i = event.token().0;
            let Some((stream, started)) = slots[i].as_mut() else {
                continue;
            };
            let outcome = loop {
                match stream.read(&mut buf) {
                    Ok(0) => break Some(true),
                    Ok(_) => {}
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break None,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break Some(false),
                }
            };
            let Some(ok) = outcome else { continue };
            let done = Instant::now();
            if ok {
                completed += 1;
                lat_ns.push((done - *started).as_nanos() as u64);
            } else {
                errors += 1;
            }
            // Dropping the stream closes it with RST (linger 0).
            slots[i] = None;
            if done < end {
                match open(&poll, i) {
                    Ok(s) => slots[i] = Some(s),
                    Err(_) => errors += 1,
                }
            }
        }
    }
    let cpu_after = server.cpu_ns();
    let (cpu_start, window_start) = cpu_before.expect("the window started");
    let elapsed = Instant::now().duration_since(window_start).as_secs_f64();
    drop(slots);
    lat_ns.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat_ns.is_empty() {
            return 0.0;
        }
        let rank = ((p / 100.0) * lat_ns.len() as f64).ceil().max(1.0) as usize;
        lat_ns[rank.min(lat_ns.len()) - 1] as f64 / 1000.0
    };
    let per_conn = |x: f64| {
        if completed > 0 {
            x / completed as f64
        } else {
            0.0
        }
    };
    Ok(Cell {
        conn_per_s: completed as f64 / elapsed,
        p50_us: pct(50.0),
        p99_us: pct(99.0),
        cpu_us_per_conn: per_conn((cpu_after - cpu_start) as f64 / 1000.0),
        errors,
    })
}

// ---------------------------------------------------------------------------------------------
// The run

fn main() -> io::Result<()> {
    if counts::serve_if_child(serve_alone) || held::client_if_child()? {
        return Ok(());
    }
    let held = held::arg();
    chart::self_check();
    let cfg = config((2, 0.5), (9, 1.0), (55.0, 900.0), 0.05);
    let warmup = (cfg.seconds / 5.0).min(0.5);
    enforce_cap("accept_throughput", cfg.cap);

    let mut holder = None;
    let mut servers = if let Some(n) = held {
        let (servers, client) = held::servers(n)?;
        holder = Some(client);
        servers
    } else {
        vec![
            Server::spawn("mio", mio_floor),
            Server::spawn(
                "lib-chrome-defaults",
                library(AcceptedSockets::ChromeDefaults),
            ),
            Server::spawn("lib-untouched", library(AcceptedSockets::Untouched)),
            Server::spawn("std-blocking", std_blocking),
            Server::spawn("tokio-current-thread", tokio_current_thread),
            sharded("lib-sharded-1", 1),
            sharded("lib-sharded-2", 2),
        ]
    };
    if held.is_none() {
        servers.extend(Server::chrome());
    }
    let n = servers.len();
    let planned = cfg.rounds as f64 * LEVELS.len() as f64 * n as f64 * (cfg.seconds + warmup);
    println!(
        "accept_throughput: {} rounds x {} levels x {n} servers, {:.2} s (+{:.2} s warm-up) per \
         cell, about {planned:.0} s{}; cap {:?}",
        cfg.rounds,
        LEVELS.len(),
        cfg.seconds,
        warmup,
        if cfg.quick { " (quick)" } else { "" },
        cfg.cap,
    );

    if counts::only() {
        counts::report(&counted(&servers), cfg.quick);
        return Ok(());
    }
    // cells[round][level][server]
    let mut cells = vec![vec![vec![Cell::default(); n]; LEVELS.len()]; cfg.rounds];
    for (round, per_round) in cells.iter_mut().enumerate() {
        for (li, &conc) in LEVELS.iter().enumerate() {
            for k in 0..n {
                let s = (round + k) % n;
                per_round[li][s] = drive(&servers[s], conc, warmup, cfg.seconds)?;
            }
        }
        eprintln!(
            "accept_throughput: round {} of {} done",
            round + 1,
            cfg.rounds
        );
    }

    let mut table = String::from(
        "| in flight | server | conn/s | vs mio [min-max] | p50 µs | p99 µs | CPU µs/conn | \
         CPU vs mio [min-max] | errors |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let mut headline = (f64::NAN, f64::NAN);
    for (li, &conc) in LEVELS.iter().enumerate() {
        for (s, server) in servers.iter().enumerate() {
            let col = |f: &dyn Fn(&Vec<Vec<Cell>>) -> f64| median(cells.iter().map(f).collect());
            // A ratio's median over rounds, with its smallest and largest round.
            let ratio = |f: &dyn Fn(&Vec<Vec<Cell>>) -> f64| {
                let v: Vec<f64> = cells.iter().map(f).collect();
                let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                (median(v), format!("[{lo:.2}-{hi:.2}]"))
            };
            let rate = col(&|c| c[li][s].conn_per_s);
            let (rate_ratio, rate_range) = ratio(&|c| c[li][s].conn_per_s / c[li][0].conn_per_s);
            let cpu = col(&|c| c[li][s].cpu_us_per_conn);
            let (cpu_ratio, cpu_range) =
                ratio(&|c| c[li][s].cpu_us_per_conn / c[li][0].cpu_us_per_conn);
            let errors: u64 = cells.iter().map(|c| c[li][s].errors).sum();
            table += &format!(
                "| {conc} | {} | {rate:.0} | {rate_ratio:.3} {rate_range} | {:.1} | {:.1} | \
                 {cpu:.2} | {cpu_ratio:.3} {cpu_range} | {errors} |\n",
                server.name,
                col(&|c| c[li][s].p50_us),
                col(&|c| c[li][s].p99_us),
            );
            if server.name == "lib-chrome-defaults" && conc == 16 {
                headline = (rate_ratio, cpu_ratio);
            }
        }
    }
    println!();
    print!("{table}");
    let headline = format!(
        "accept_throughput ratio_vs_mio={:.3} cpu_per_conn_vs_mio={:.3}",
        headline.0, headline.1
    );
    write_report(&cfg, &servers, &cells, &table, &headline);
    if held.is_none() {
        counts::report(&counted(&servers), cfg.quick);
    }
    // The held connections' client first (it closes them all), then the servers.
    if let Some(client) = holder {
        client.finish()?;
    }
    for server in servers {
        server.stop();
    }
    println!();
    println!("{headline}");
    if let Some(n) = held {
        // cells[round][level][server]: servers are mio, lib, mio+held, lib+held.
        let li = LEVELS.iter().position(|&l| l == 16).expect("16 in flight");
        // The median over rounds of `of(server with) / of(server without)`.
        let ratio = |of: fn(&Cell) -> f64, with: usize, without: usize| {
            median(
                cells
                    .iter()
                    .map(|c| of(&c[li][with]) / of(&c[li][without]))
                    .collect(),
            )
        };
        let vs_empty = |with, without| ratio(|c| c.conn_per_s, with, without);
        // Server CPU per connection, which the load generator's share of the cores moves less.
        let cpu_vs_empty = |with, without| ratio(|c| c.cpu_us_per_conn, with, without);
        println!(
            "accept_held_cpu held={n} lib_cpu_per_conn_vs_empty={:.3} \
             mio_cpu_per_conn_vs_empty={:.3}",
            cpu_vs_empty(3, 1),
            cpu_vs_empty(2, 0)
        );
        println!(
            "accept_held_mio held={n} ratio_vs_empty={:.3}",
            vs_empty(2, 0)
        );
        println!("accept_held held={n} ratio_vs_empty={:.3}", vs_empty(3, 1));
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Held connections (`--held N`)

mod held {
    use super::*;
    use std::io::{BufRead, BufReader, Write};
    use std::process::{Child, Command, Stdio};
    use std::sync::atomic::AtomicUsize;

    const CLIENT: &str = "CS_HELD_CLIENT";
    const CONNS: &str = "CS_HELD_N";

    /// `--held N` (or `--held=N`; `k` and `M` suffixes), if given.
    pub fn arg() -> Option<usize> {
        let v = common::flag_value("--held")?;
        match common::parse_count(&v) {
            Some(n) => Some(n),
            None => {
                eprintln!("accept_throughput: --held {v:?}: not a count (e.g. 100000, 100k, 1M)");
                std::process::exit(2);
            }
        }
    }

    /// The client holding the connections, in a child process.
    pub struct Holder(Child);

    impl Holder {
        /// Closes its stdin (it then closes every connection, with RST) and reaps it.
        pub fn finish(mut self) -> io::Result<()> {
            drop(self.0.stdin.take());
            self.0.wait().map(drop)
        }
    }

    impl Drop for Holder {
        fn drop(&mut self) {
            if let Ok(None) = self.0.try_wait() {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
    }

    /// In the child (`CS_HELD_CLIENT=<addr>,<addr>`): opens `CS_HELD_N` connections to each
    /// address, says `CONNECTED`, holds them until stdin closes. Returns false in the parent.
    pub fn client_if_child() -> io::Result<bool> {
        let Ok(addrs) = std::env::var(CLIENT) else {
            return Ok(false);
        };
        let n = common::child_dying_with_parent(CONNS)?;
        let addrs: Vec<SocketAddr> = addrs
            .split(',')
            .map(|a| a.parse().expect("CS_HELD_CLIENT: addresses"))
            .collect();
        let say = |line: String| {
            println!("{line}");
            io::stdout().flush().expect("stdout");
        };
        if let Err(e) = common::raise_nofile((n * addrs.len()) as u64 + 1024) {
            say(format!("ERROR {e}"));
            return Ok(true);
        }
        let mut held = Vec::new();
        let mut host = 2;
        for addr in addrs {
            match common::connect_many(addr, n, host, false, |_| {}) {
                Ok((clients, hosts)) => {
                    held.push(clients);
                    // The next server's connections start on a fresh source address.
                    host += hosts as u32;
                }
                Err(e) => {
                    say(format!("ERROR {addr}: {e}"));
                    return Ok(true);
                }
            }
        }
        say("CONNECTED".into());
        let mut sink = Vec::new();
        let _ = io::stdin().read_to_end(&mut sink);
        drop(held);
        Ok(true)
    }

    /// The mio floor, keeping the first `n` accepted streams registered in a `Slab`; `held`
    /// counts them.
    fn mio_holding(
        n: usize,
        held: Arc<AtomicUsize>,
    ) -> impl FnOnce(Arc<AtomicBool>, mpsc::Sender<SocketAddr>) -> io::Result<()> + Send {
        move |stop, tx| {
            const LISTENER: Token = Token(usize::MAX);
            let (mut poll, listener) = mio_listening(LISTENER, &tx)?;
            let mut streams: slab::Slab<TcpStream> = slab::Slab::with_capacity(n);
            let mut events = Events::with_capacity(1024);
            while !stop.load(Ordering::Relaxed) {
                // Held streams stay idle until the end (their close is ignored).
                if !poll_events(&mut poll, &mut events)?
                    || !events.iter().any(|e| e.token() == LISTENER)
                {
                    continue;
                }
                accept_until_would_block(&listener, |stream| {
                    // Beyond the first `n`, a stream is dropped (closed) at once.
                    if streams.len() < n {
                        common::register_in_slab(poll.registry(), &mut streams, stream, |s| s)?;
                        held.store(streams.len(), Ordering::Release);
                    }
                    Ok(())
                })?;
            }
            Ok(())
        }
    }

    /// The library with Chrome's defaults, keeping the first `n` accepted sockets (paused, as
    /// Chrome leaves them) and closing every later one in `on_accept`; `held` counts them.
    fn library_holding(
        n: usize,
        held: Arc<AtomicUsize>,
    ) -> impl FnOnce(Arc<AtomicBool>, mpsc::Sender<SocketAddr>) -> io::Result<()> + Send {
        move |stop, tx| {
            let mut r: Reactor<usize> = ReactorBuilder::new()
                .accepted_sockets(AcceptedSockets::ChromeDefaults)
                .build()?;
            r.tcp_server()
                .on_accept()
                .add_listener(move |r, kept, info| {
                    if *kept < n {
                        *kept += 1;
                        held.store(*kept, Ordering::Release);
                    } else {
                        r.tcp().close(info.client_socket_id, |_, _, _| {});
                    }
                });
            // The state counts the sockets kept.
            serve_until_stopped(r, 0usize, &stop, tx)
        }
    }

    /// The four servers (`mio`, `lib-chrome-defaults`, `mio+held`, `lib+held`), the last two
    /// holding `n` connections each from a client child process, which is returned too.
    pub fn servers(n: usize) -> io::Result<(Vec<Server>, Holder)> {
        let fds = 2 * n as u64 + 1024;
        if let Err(why) =
            common::raise_nofile(fds).and_then(|()| common::room_for_sockets(4 * n as u64, fds))
        {
            eprintln!("accept_throughput: cannot hold {n} connections per server: {why}");
            std::process::exit(2);
        }
        let (mio_held, lib_held) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let servers = vec![
            Server::spawn("mio", mio_floor),
            Server::spawn(
                "lib-chrome-defaults",
                library(AcceptedSockets::ChromeDefaults),
            ),
            Server::spawn("mio+held", mio_holding(n, mio_held.clone())),
            Server::spawn("lib+held", library_holding(n, lib_held.clone())),
        ];
        let start = Instant::now();
        let mut child = Command::new(std::env::current_exe()?)
            .env(CLIENT, format!("{},{}", servers[2].addr, servers[3].addr))
            .env(CONNS, n.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line)?;
        let holder = Holder(child);
        if line.trim() != "CONNECTED" {
            return Err(io::Error::new(
                io::ErrorKind::Other,
                format!("the held connections' client said {line:?}"),
            ));
        }
        // Every connection accepted and kept (2 minutes at most).
        let deadline = Instant::now() + Duration::from_secs(120);
        while mio_held.load(Ordering::Acquire) < n || lib_held.load(Ordering::Acquire) < n {
            if Instant::now() > deadline {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    format!(
                        "held {} (mio) and {} (library) of {n} after 2 minutes",
                        mio_held.load(Ordering::Acquire),
                        lib_held.load(Ordering::Acquire)
                    ),
                ));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        println!(
            "accept_throughput: mio+held and lib+held hold {n} idle connections each (opened and \
             accepted in {:.1} s)",
            start.elapsed().as_secs_f64()
        );
        Ok((servers, holder))
    }
}

/// Where the table and the chart go: `CS_BENCH_OUT`, else `accept_throughput/` in the target
/// directory (`CARGO_TARGET_DIR`, else the workspace's `target/`, next to this `bench/` crate).
fn out_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CS_BENCH_OUT").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target"))
        .join("accept_throughput")
}

/// Writes the table (`accept_throughput.md`) and its chart (`accept_throughput.svg`) and says
/// where on stdout; a failure to write is said on stderr and does not end the run.
fn write_report(
    cfg: &common::Config,
    servers: &[Server],
    cells: &[Vec<Vec<Cell>>],
    table: &str,
    headline: &str,
) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let title = format!(
        "accept_throughput, {}, {} run: {} round{} of {:.2} s per cell, {cpus} CPUs",
        chart::utc(now),
        if cfg.quick { "quick" } else { "full" },
        cfg.rounds,
        if cfg.rounds == 1 { "" } else { "s" },
        cfg.seconds,
    );
    // A cell that completed no connection has no CPU per connection (it reads 0).
    let cpu = |c: &Cell| {
        if c.conn_per_s > 0.0 {
            c.cpu_us_per_conn
        } else {
            f64::NAN
        }
    };
    let series: Vec<chart::Series> = servers
        .iter()
        .enumerate()
        .map(|(s, server)| chart::Series {
            name: server.name.to_string(),
            points: LEVELS
                .iter()
                .enumerate()
                .map(|(li, &in_flight)| chart::Point {
                    in_flight,
                    conn_per_s: chart::Band::over(cells.iter().map(|c| c[li][s].conn_per_s)),
                    cpu_us_per_conn: chart::Band::over(cells.iter().map(|c| cpu(&c[li][s]))),
                })
                .collect(),
        })
        .collect();
    let svg = chart::svg(&title, &series);
    if let Err(e) = chart::check(&svg) {
        panic!("accept_throughput: the chart is not well-formed: {e}");
    }
    let markdown = format!(
        "# {title}\n\n{table}\n```text\n{headline}\n```\n\n![{title}](accept_throughput.svg)\n"
    );
    let dir = out_dir();
    let (md_path, svg_path) = (
        dir.join("accept_throughput.md"),
        dir.join("accept_throughput.svg"),
    );
    let written = std::fs::create_dir_all(&dir)
        .and_then(|()| std::fs::write(&md_path, markdown))
        .and_then(|()| std::fs::write(&svg_path, svg));
    match written {
        Ok(()) => println!(
            "\naccept_throughput: table in {}, chart in {}",
            md_path.display(),
            svg_path.display()
        ),
        Err(e) => eprintln!(
            "accept_throughput: could not write {} and {}: {e}",
            md_path.display(),
            svg_path.display()
        ),
    }
}
