//! Waking a blocked reactor from another thread.
//!
//! ```text
//! cargo run --example remote_wake -- [--delay-ms N]
//! ```
//!
//! The main thread's reactor has nothing to do: no sockets, no timers, so `turn(None, ..)`
//! would block forever. A second thread sleeps `N` ms (default 200) and calls
//! [`Waker::wake`](chrome_sockets::Waker::wake); the turn returns and the example prints how
//! long it was blocked, then exits. `--help` prints the usage; a bad command line exits 2.

mod common;

use std::process::ExitCode;
use std::time::{Duration, Instant};

use chrome_sockets::Reactor;
use common::Cli;

const USAGE: &str = "\
usage: remote_wake [--delay-ms N]

Blocks a turn with no timeout and wakes it from another thread after N ms (default 200).
  --delay-ms N   how long the other thread sleeps before waking the reactor
  --help         this text
";

fn main() -> ExitCode {
    let mut cli = Cli::new("remote_wake", USAGE);
    let mut delay_ms: u64 = 200;
    while let Some(flag) = cli.next_flag() {
        match flag.as_str() {
            "--delay-ms" => delay_ms = cli.count(&flag),
            _ => cli.unknown(&flag),
        }
    }

    let mut r: Reactor = Reactor::new().expect("creating the reactor");
    // Send + Sync + Clone: hand it to any thread.
    let waker = r.waker();
    let delay = Duration::from_millis(delay_ms);
    let start = Instant::now();
    let thread = std::thread::spawn(move || {
        std::thread::sleep(delay);
        waker.wake().expect("wake");
    });

    // Blocks with no timeout until the other thread wakes it.
    let report = match r.turn(None, &mut ()) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("remote_wake: turn: {e}");
            return ExitCode::FAILURE;
        }
    };
    let elapsed = start.elapsed();
    thread.join().expect("the waking thread");
    println!(
        "turn(None) returned after {elapsed:.2?} (the other thread slept {delay:?}, then woke \
         it); poll events: {}, callbacks run: {}",
        report.events, report.tasks
    );
    ExitCode::SUCCESS
}
