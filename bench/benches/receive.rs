//! The read path: what one `on_receive` costs, for bulk data and for small echoed messages.
//!
//! ```text
//! cargo bench --bench receive               # full run
//! cargo bench --bench receive -- --quick    # a few seconds
//! ```
//!
//! One reactor on this thread, one loopback client on a thread of its own:
//! - `bulk`: the client writes 64 KiB blocks as fast as the reactor takes them; the socket's
//!   `buffer_size` is 64 KiB. Reported: MB/s received and ns per `on_receive`.
//! - `echo 64 B`: the client sends 64 bytes and waits for the reactor's echo of them, again
//!   and again (one message in flight). Reported: round trips per second.
//!
//! Each case runs `rounds` times, the cases interleaved; each figure is the median over
//! rounds. Knobs (environment): `CS_BENCH_QUICK=1` (same as `--quick`), `CS_BENCH_ROUNDS`,
//! `CS_BENCH_SECONDS` (seconds per case and round), `CS_BENCH_CAP` (hard cap in seconds).
//!
//! Fixed work instead of fixed time, for instruction counts (`valgrind --tool=callgrind`,
//! where time means nothing): `CS_BENCH_BULK_MIB=M` sends exactly M MiB in the bulk case and
//! `CS_BENCH_ECHO_TRIPS=N` makes exactly N round trips, once each (0 leaves a case out).
//!
//! The last line is machine-readable: `receive bulk_mb_per_s=X ns_per_receive=Y
//! echo64_round_trips_per_s=Z`.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use chrome_sockets::tcp::SocketProperties as TcpProperties;
use chrome_sockets::Reactor;

mod common;
use common::{config, enforce_cap, listen_on_loopback, median};

/// What the reactor counts while a case runs.
#[derive(Default)]
struct Counts {
    bytes: u64,
    receives: u64,
}

/// The server side: every accepted socket reads with a 64 KiB `buffer_size`; in echo mode
/// every byte received is sent back.
fn reactor(echo: bool) -> io::Result<(Reactor<Counts>, SocketAddr)> {
    let mut r: Reactor<Counts> = Reactor::new()?;
    let mut counts = Counts::default();
    let addr = listen_on_loopback(&mut r, &mut counts)?;
    r.tcp_server().on_accept().add_listener(|r, _, info| {
        let id = info.client_socket_id;
        let props = TcpProperties::default().buffer_size(64 * 1024);
        r.tcp().update(id, props, |_, _, res| res.expect("update"));
        r.tcp()
            .set_paused(id, false, |_, _, res| res.expect("unpause"));
    });
    r.tcp().on_receive().add_listener(move |r, counts, info| {
        counts.bytes += info.data.len() as u64;
        counts.receives += 1;
        if echo {
            r.tcp()
                .send(info.socket_id, info.data.clone(), |_, _, _| {});
        }
    });
    Ok((r, addr))
}

/// Turns `r` until `done` is set, then until the client's bytes stop coming.
fn serve(r: &mut Reactor<Counts>, counts: &mut Counts, done: &AtomicBool) -> io::Result<()> {
    while !done.load(Ordering::Acquire) {
        r.turn(Some(Duration::from_millis(5)), counts)?;
    }
    Ok(())
}

/// The fixed amount of work the environment variable `name` asks for, if any.
fn fixed(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// Bulk: returns (MB/s, ns per `on_receive`).
fn bulk(seconds: f64) -> io::Result<(f64, f64)> {
    let blocks = fixed("CS_BENCH_BULK_MIB").map(|mib| mib * 16);
    let (mut r, addr) = reactor(false)?;
    let mut counts = Counts::default();
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let client = thread::spawn(move || -> io::Result<()> {
        let mut s = TcpStream::connect(addr)?;
        let block = vec![7u8; 64 * 1024];
        let end = Instant::now() + Duration::from_secs_f64(seconds);
        let mut sent = 0u64;
        while blocks.map_or(Instant::now() < end, |n| sent < n) {
            s.write_all(&block)?;
            sent += 1;
        }
        flag.store(true, Ordering::Release);
        Ok(())
    });
    // Start counting once the first bytes arrive.
    while counts.bytes == 0 {
        r.turn(Some(Duration::from_millis(5)), &mut counts)?;
    }
    let start = Instant::now();
    let (b0, n0) = (counts.bytes, counts.receives);
    serve(&mut r, &mut counts, &done)?;
    if let Some(n) = blocks {
        // Fixed work: read every byte sent.
        while counts.bytes < n * 64 * 1024 {
            r.turn(Some(Duration::from_millis(5)), &mut counts)?;
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    client.join().expect("client thread")?;
    let bytes = (counts.bytes - b0) as f64;
    let receives = (counts.receives - n0) as f64;
    Ok((bytes / elapsed / 1e6, elapsed * 1e9 / receives.max(1.0)))
}

/// Echo of 64-byte messages, one in flight: returns round trips per second.
fn echo(seconds: f64) -> io::Result<f64> {
    let (mut r, addr) = reactor(true)?;
    let max_trips = fixed("CS_BENCH_ECHO_TRIPS");
    let mut counts = Counts::default();
    let done = Arc::new(AtomicBool::new(false));
    let flag = done.clone();
    let client = thread::spawn(move || -> io::Result<f64> {
        let mut s = TcpStream::connect(addr)?;
        s.set_nodelay(true)?;
        let msg = [5u8; 64];
        let mut back = [0u8; 64];
        let start = Instant::now();
        let end = start + Duration::from_secs_f64(seconds);
        let mut trips = 0u64;
        while max_trips.map_or(Instant::now() < end, |n| trips < n) {
            s.write_all(&msg)?;
            s.read_exact(&mut back)?;
            trips += 1;
        }
        let rate = trips as f64 / start.elapsed().as_secs_f64();
        flag.store(true, Ordering::Release);
        Ok(rate)
    });
    serve(&mut r, &mut counts, &done)?;
    client.join().expect("client thread")
}

fn main() -> io::Result<()> {
    let cfg = config((3, 0.3), (7, 1.0), (60.0, 600.0), 0.05);
    enforce_cap("receive", cfg.cap);
    println!("receive: {}", cfg.describe());
    let (mut mbs, mut ns, mut trips) = (Vec::new(), Vec::new(), Vec::new());
    let fixed_work = fixed("CS_BENCH_BULK_MIB").is_some() || fixed("CS_BENCH_ECHO_TRIPS").is_some();
    let rounds = if fixed_work { 1 } else { cfg.rounds };
    // Fixed work of zero leaves a case out.
    let run_bulk = fixed("CS_BENCH_BULK_MIB") != Some(0);
    let run_echo = fixed("CS_BENCH_ECHO_TRIPS") != Some(0);
    for _ in 0..rounds {
        if run_bulk {
            let (m, n) = bulk(cfg.seconds)?;
            mbs.push(m);
            ns.push(n);
        }
        if run_echo {
            trips.push(echo(cfg.seconds)?);
        }
    }
    let (mbs, ns, trips) = (median(mbs), median(ns), median(trips));
    println!();
    println!("| case | figure |");
    println!("|---|---:|");
    println!("| bulk, 64 KiB buffer_size: MB/s | {mbs:.0} |");
    println!("| bulk, 64 KiB buffer_size: ns per on_receive | {ns:.0} |");
    println!("| echo 64 B, 1 in flight: round trips/s | {trips:.0} |");
    println!();
    println!(
        "receive bulk_mb_per_s={mbs:.0} ns_per_receive={ns:.0} echo64_round_trips_per_s={trips:.0}"
    );
    Ok(())
}
