//! What idle connections cost: resident memory per connection and the time of a turn with all
//! of them idle, for the library against a hand-written mio loop, tokio and Node's `net`.
//!
//! ```text
//! cargo bench --bench idle_connections               # 1,000 and 10,000 connections
//! cargo bench --bench idle_connections -- --quick    # 1,000 only
//! ```
//!
//! Every server runs alone in a child process (this bench binary again, with
//! `CS_IDLE_SERVE=<server>`, or `node` for Node), so its resident memory (`VmRSS` of
//! `/proc/<pid>/status`) is its own. The parent reads it once the server listens, opens N
//! loopback connections, waits until the server says `READY` (every connection accepted, and
//! in the reading modes one byte read from each), and reads it again: the difference over N is
//! the resident bytes per connection. Kernel socket memory is not resident memory of the
//! process and is not counted (it is the same for every server). The servers:
//! - `lib-paused`: the library, accepted sockets left paused (Chrome's default: not
//!   registered with the poll, nothing read);
//! - `lib-reading`: the library, each accepted socket unpaused and one `on_receive` done;
//! - `mio-slab`: a hand-written mio loop keeping its streams in a `Slab`, registered, one read
//!   done (the floor);
//! - `tokio`: tokio's current-thread runtime, one task per connection, one read done;
//! - `node`: Node's `net.Server`, one `data` event per socket (only when `node` is installed).
//!
//! The idle turn time is the mean of 1,000 zero-timeout turns (`Reactor::turn`, `Poll::poll`)
//! with every connection idle; tokio and Node have no turn to call from outside (`-`).
//!
//! Each figure is the median of `CS_BENCH_ROUNDS` runs (1 quick, 3 full); `CS_BENCH_SECONDS`
//! is how long the parent lets a server settle before reading its memory again.
//!
//! The last line is machine-readable: `idle_connections bytes_per_conn=X vs_mio=Y`, for
//! `lib-paused` at the largest N, and its ratio to `mio-slab` at the same N.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrome_sockets::Reactor;

mod common;
use common::{config, enforce_cap, median};

const SERVE: &str = "CS_IDLE_SERVE";
const CONNS: &str = "CS_IDLE_N";
const IDLE_TURNS: u32 = 1000;

const NODE_SERVER: &str = r#"
const net = require('net');
const N = +process.env.CS_IDLE_N;
let n = 0;
const sockets = [];
const server = net.createServer((s) => {
  sockets.push(s);
  s.once('data', () => { if (++n === N) console.log('READY'); });
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

/// The library: accepts `n` connections, unpausing each and waiting for one read when `read`.
fn serve_library(n: usize, read: bool) -> io::Result<()> {
    #[derive(Default)]
    struct App {
        accepted: usize,
        received: usize,
    }
    let mut r: Reactor<App> = Reactor::new()?;
    let mut app = App::default();
    r.tcp_server()
        .on_accept()
        .add_listener(move |r, app, info| {
            app.accepted += 1;
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
    let start = Instant::now();
    for _ in 0..IDLE_TURNS {
        r.turn(Some(Duration::ZERO), &mut app)?;
    }
    say(&format!(
        "READY {}",
        start.elapsed().as_nanos() / IDLE_TURNS as u128
    ));
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
    let mut buf = [0u8; 64];
    while reads < n {
        poll.poll(&mut events, None)?;
        for event in events.iter() {
            if event.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((mut s, _)) => {
                            let entry = streams.vacant_entry();
                            poll.registry().register(
                                &mut s,
                                Token(entry.key()),
                                Interest::READABLE,
                            )?;
                            entry.insert(s);
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
    let start = Instant::now();
    for _ in 0..IDLE_TURNS {
        poll.poll(&mut events, Some(Duration::ZERO))?;
    }
    say(&format!(
        "READY {}",
        start.elapsed().as_nanos() / IDLE_TURNS as u128
    ));
    wait_for_parent();
    drop(streams);
    Ok(())
}

/// tokio's current-thread runtime: one task per connection, one read, then waiting for more.
fn serve_tokio(n: usize) -> io::Result<()> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    let reads = Arc::new(AtomicUsize::new(0));
    let counted = reads.clone();
    rt.block_on(async move {
        let listener = tokio::net::TcpListener::bind(loopback()).await?;
        say(&format!("LISTENING {}", listener.local_addr()?));
        tokio::spawn(async move {
            loop {
                let Ok((s, _)) = listener.accept().await else {
                    continue;
                };
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
    say("READY -");
    // The runtime and its tasks stay alive (and idle) while the parent measures.
    wait_for_parent();
    drop(rt);
    Ok(())
}

/// In a child: runs the server `CS_IDLE_SERVE` names. Returns false in the parent.
fn serve_if_child() -> io::Result<bool> {
    let Ok(name) = std::env::var(SERVE) else {
        return Ok(false);
    };
    let n: usize = std::env::var(CONNS)
        .ok()
        .and_then(|v| v.parse().ok())
        .expect("CS_IDLE_N");
    match name.as_str() {
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

/// What one server at one N measured.
struct Row {
    server: &'static str,
    conns: usize,
    bytes_per_conn: f64,
    /// Mean idle turn, in microseconds (`None`: no turn to time).
    turn_us: Option<f64>,
}

fn spawn(server: &str, n: usize) -> io::Result<Child> {
    let mut cmd = if server == "node" {
        let mut c = Command::new("node");
        c.args(["-e", NODE_SERVER]);
        c
    } else {
        let mut c = Command::new(std::env::current_exe()?);
        c.env(SERVE, server);
        c
    };
    cmd.env(CONNS, n.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
}

fn measure(server: &'static str, read: bool, n: usize, settle: f64) -> io::Result<Row> {
    let mut child = spawn(server, n)?;
    let mut out = BufReader::new(child.stdout.take().expect("piped"));
    let mut line = String::new();
    out.read_line(&mut line)?;
    let addr: SocketAddr = line
        .trim()
        .strip_prefix("LISTENING ")
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::Other, format!("{server} said {line:?}")))?;
    std::thread::sleep(Duration::from_millis(50));
    let before = rss_bytes(child.id())?;
    let mut clients = Vec::with_capacity(n);
    for _ in 0..n {
        let mut c = TcpStream::connect_timeout(&addr, Duration::from_secs(30))?;
        if read {
            c.write_all(b"x")?;
        }
        clients.push(c);
    }
    line.clear();
    out.read_line(&mut line)?;
    // "READY <mean idle turn in ns>", or "READY" / "READY -" when there is no turn to time.
    let turn_ns = line
        .trim()
        .strip_prefix("READY")
        .ok_or_else(|| io::Error::new(io::ErrorKind::Other, format!("{server} said {line:?}")))?;
    let turn_us = turn_ns.trim().parse::<f64>().ok().map(|ns| ns / 1000.0);
    std::thread::sleep(Duration::from_secs_f64(settle));
    let after = rss_bytes(child.id())?;
    drop(child.stdin.take());
    drop(clients);
    child.wait()?;
    Ok(Row {
        server,
        conns: n,
        bytes_per_conn: after.saturating_sub(before) as f64 / n as f64,
        turn_us,
    })
}

fn main() -> io::Result<()> {
    if serve_if_child()? {
        return Ok(());
    }
    // Rounds (median of them) and the settle time before reading the memory again.
    let cfg = config((1, 0.1), (3, 0.2), (120.0, 900.0), 0.0);
    enforce_cap("idle_connections", cfg.cap);
    let levels: &[usize] = if cfg.quick { &[1000] } else { &[1000, 10_000] };
    // The parent holds the client ends; each server's child has its own fd table.
    let want = levels.iter().max().copied().unwrap_or(1000) as u64 + 256;
    match rlimit::increase_nofile_limit(want) {
        Ok(got) if got < want => {
            println!("open-file limit {got} < {want}: fewer connections may fail");
        }
        Ok(_) => {}
        Err(e) => println!("raising the open-file limit: {e}"),
    }
    println!(
        "idle_connections: {} connections, {} rounds (median), servers in child processes{}",
        levels
            .iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(" and "),
        cfg.rounds,
        if cfg.quick { " (quick)" } else { "" },
    );
    let servers = servers();
    let mut rows = Vec::new();
    for &n in levels {
        for &(server, read) in &servers {
            let mut runs = Vec::new();
            for _ in 0..cfg.rounds {
                match measure(server, read, n, cfg.seconds) {
                    Ok(row) => runs.push(row),
                    Err(e) => println!("{server} at {n}: {e}"),
                }
            }
            if !runs.is_empty() {
                let turns: Vec<f64> = runs.iter().filter_map(|r| r.turn_us).collect();
                rows.push(Row {
                    server,
                    conns: n,
                    bytes_per_conn: median(runs.iter().map(|r| r.bytes_per_conn).collect()),
                    turn_us: (!turns.is_empty()).then(|| median(turns)),
                });
            }
        }
    }
    println!();
    println!("| connections | server | resident bytes/conn | vs mio-slab | idle turn µs |");
    println!("|---:|---|---:|---:|---:|");
    let floor = |n: usize| {
        rows.iter()
            .find(|r| r.server == "mio-slab" && r.conns == n)
            .map(|r| r.bytes_per_conn)
    };
    for row in &rows {
        let ratio = floor(row.conns).map_or("-".into(), |m| {
            format!("{:.2}", row.bytes_per_conn / m.max(1.0))
        });
        let turn = row.turn_us.map_or("-".into(), |t| format!("{t:.1}"));
        println!(
            "| {} | {} | {:.0} | {ratio} | {turn} |",
            row.conns, row.server, row.bytes_per_conn
        );
    }
    let top = levels.iter().max().copied().unwrap_or(1000);
    let lib = rows
        .iter()
        .find(|r| r.server == "lib-paused" && r.conns == top)
        .map_or(f64::NAN, |r| r.bytes_per_conn);
    let vs = floor(top).map_or(f64::NAN, |m| lib / m.max(1.0));
    println!();
    println!("idle_connections bytes_per_conn={lib:.0} vs_mio={vs:.2}");
    Ok(())
}
