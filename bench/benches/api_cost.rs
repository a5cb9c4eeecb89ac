//! The cost of the API itself, with no network traffic.
//!
//! ```text
//! cargo bench --bench api_cost               # full run
//! cargo bench --bench api_cost -- --quick    # CI smoke run, a few seconds
//! ```
//!
//! - callbacks dispatched per second: `get_info` round trips, each callback issuing the next
//!   `get_info` (one chain with `turn_budget(1)`: one callback per turn; one chain with the
//!   default budget: 64 callbacks per turn, the chain continuing within the turn; 64 chains:
//!   64 callbacks per turn);
//! - a turn's cost (one `get_info` callback per turn, `turn_budget(1)`) with 1, 1,000 and
//!   10,000 idle listening server sockets: it must stay flat, since a turn is O(ready events),
//!   not O(sockets);
//! - a turn's cost (the same) with 1 and with 10,000 pending timers (all an hour away).
//!
//! The reactors compared live side by side and are measured interleaved, round by round; each
//! figure is the median over rounds. Knobs (environment): `CS_BENCH_QUICK=1` (same as
//! `--quick`), `CS_BENCH_ROUNDS`, `CS_BENCH_SECONDS` (measured seconds per case and round),
//! `CS_BENCH_CAP` (hard cap in seconds; exit status 3 when reached).
//!
//! The last line is machine-readable:
//! `api_cost callbacks_per_s=<1 chain, turn_budget(1)> idle_1000_vs_1=<ratio>
//! idle_10000_vs_1=<ratio> timers_10000_vs_1=<ratio>`.

use std::io;
use std::time::{Duration, Instant};

use chrome_sockets::tcp_server::SocketProperties;
use chrome_sockets::{Reactor, ReactorBuilder, ServerSocketId, DEFAULT_TURN_BUDGET};

mod common;
use common::{config, enforce_cap, median, Config};

/// State lent to the callbacks: how many `get_info` callbacks ran.
#[derive(Default)]
struct Counter {
    callbacks: u64,
    listening: usize,
    ids: Vec<ServerSocketId>,
}

/// Issues a `get_info` whose callback issues the next one, forever.
fn chain(r: &mut Reactor<Counter>, id: ServerSocketId) {
    r.tcp_server().get_info(id, move |r, counter, info| {
        assert!(info.is_ok(), "get_info on a live server");
        counter.callbacks += 1;
        chain(r, id);
    });
}

/// A reactor running at most `budget` tasks a turn, with `listeners` idle listening servers
/// (at least one server exists), `timers` timers an hour away, and `chains` `get_info` chains
/// running.
fn reactor(
    listeners: usize,
    timers: usize,
    chains: usize,
    budget: usize,
) -> io::Result<(Reactor<Counter>, Counter)> {
    let mut r: Reactor<Counter> = ReactorBuilder::new().turn_budget(budget).build()?;
    let mut counter = Counter::default();
    for _ in 0..listeners.max(1) {
        r.tcp_server().create(
            SocketProperties::default(),
            |_, counter: &mut Counter, created| {
                counter.ids.push(created.expect("create").socket_id);
            },
        );
    }
    while r.next_timeout() == Some(Duration::ZERO) {
        r.turn(Some(Duration::ZERO), &mut counter)?;
    }
    let ids = std::mem::take(&mut counter.ids);
    assert_eq!(ids.len(), listeners.max(1), "every create callback ran");
    for &id in ids.iter().take(listeners) {
        r.tcp_server().listen(
            id,
            "127.0.0.1",
            0,
            None,
            |_, counter: &mut Counter, result| {
                result.expect("listen on 127.0.0.1:0");
                counter.listening += 1;
            },
        );
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while counter.listening < listeners {
        assert!(Instant::now() < deadline, "listening took too long");
        r.turn(Some(Duration::ZERO), &mut counter)?;
    }
    for _ in 0..timers {
        r.set_timeout(Duration::from_secs(3600), |_, _| {});
    }
    for _ in 0..chains {
        chain(&mut r, ids[0]);
    }
    Ok((r, counter))
}

/// Turns `r` for about `seconds`; returns (ns per turn, callbacks per second).
fn measure(
    r: &mut Reactor<Counter>,
    counter: &mut Counter,
    seconds: f64,
) -> io::Result<(f64, f64)> {
    let before = counter.callbacks;
    let start = Instant::now();
    let end = start + Duration::from_secs_f64(seconds);
    let mut turns = 0u64;
    while Instant::now() < end {
        for _ in 0..256 {
            r.turn(Some(Duration::ZERO), counter)?;
        }
        turns += 256;
    }
    let elapsed = start.elapsed().as_secs_f64();
    let callbacks = (counter.callbacks - before) as f64;
    Ok((elapsed * 1e9 / turns as f64, callbacks / elapsed))
}

/// Runs every case once per round, interleaved; returns the per-case medians
/// (ns per turn, callbacks per second).
fn interleaved(
    cases: &mut [(Reactor<Counter>, Counter)],
    cfg: &Config,
) -> io::Result<Vec<(f64, f64)>> {
    let mut samples = vec![(Vec::new(), Vec::new()); cases.len()];
    // One unmeasured pass warms caches and allocators.
    for (r, c) in cases.iter_mut() {
        measure(r, c, cfg.seconds / 5.0)?;
    }
    for round in 0..cfg.rounds {
        for k in 0..cases.len() {
            let i = (round + k) % cases.len();
            let (r, c) = &mut cases[i];
            let (ns, rate) = measure(r, c, cfg.seconds)?;
            samples[i].0.push(ns);
            samples[i].1.push(rate);
        }
    }
    Ok(samples
        .into_iter()
        .map(|(ns, rate)| (median(ns), median(rate)))
        .collect())
}

/// Prints one table row: the case, ns per turn, callbacks per second and the ratio if any.
fn row(case: &str, (ns, rate): (f64, f64), ratio: Option<f64>) {
    let ratio = ratio.map_or(" ".to_string(), |r| format!(" {r:.3} "));
    println!("| {case} | {ns:.0} | {rate:.0} |{ratio}|");
}

fn main() -> io::Result<()> {
    let cfg = config((3, 0.1), (7, 0.5), (55.0, 600.0), 0.01);
    enforce_cap("api_cost", cfg.cap);
    println!("api_cost: {}; cap {:?}", cfg.describe(), cfg.cap);
    // 11,001 listeners plus a few fds per reactor.
    let limit = rlimit::increase_nofile_limit(12_000)?;
    let big = if limit >= 11_100 { 10_000 } else { 1_000 };
    if big < 10_000 {
        println!("RLIMIT_NOFILE is {limit}: the 10,000-listener case is left out");
    }

    println!();
    println!("| case | ns per turn | callbacks/s | ratio |");
    println!("|---|---:|---:|---:|");

    let mut chains = vec![
        reactor(0, 0, 1, 1)?,
        reactor(0, 0, 1, DEFAULT_TURN_BUDGET)?,
        reactor(0, 0, 64, DEFAULT_TURN_BUDGET)?,
    ];
    let res = interleaved(&mut chains, &cfg)?;
    drop(chains);
    row(
        "get_info chain, 1 in flight, turn_budget(1) (1 callback per turn)",
        res[0],
        None,
    );
    row(
        "get_info chain, 1 in flight, default budget (64 callbacks per turn)",
        res[1],
        None,
    );
    row(
        "get_info chains, 64 in flight (64 callbacks per turn)",
        res[2],
        None,
    );
    let callbacks_per_s = res[0].1;

    let sizes = [1, 1_000, big];
    let mut idle = Vec::new();
    for &n in &sizes {
        idle.push(reactor(n, 0, 1, 1)?);
    }
    let res = interleaved(&mut idle, &cfg)?;
    drop(idle);
    let mut idle_ratios = Vec::new();
    for (i, &n) in sizes.iter().enumerate() {
        let ratio = res[i].0 / res[0].0;
        idle_ratios.push(ratio);
        row(
            &format!("turn with {n} idle listeners"),
            res[i],
            Some(ratio),
        );
    }

    let mut timers = vec![reactor(0, 1, 1, 1)?, reactor(0, 10_000, 1, 1)?];
    let res = interleaved(&mut timers, &cfg)?;
    drop(timers);
    let timer_ratio = res[1].0 / res[0].0;
    row("turn with 1 pending timer", res[0], Some(1.0));
    row("turn with 10000 pending timers", res[1], Some(timer_ratio));

    println!();
    println!(
        "api_cost callbacks_per_s={callbacks_per_s:.0} idle_1000_vs_1={:.3} idle_{big}_vs_1={:.3} \
         timers_10000_vs_1={timer_ratio:.3}",
        idle_ratios[1], idle_ratios[2]
    );
    Ok(())
}
