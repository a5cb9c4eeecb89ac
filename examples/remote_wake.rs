//! Waking a blocked reactor from another thread.
//!
//! ```text
//! cargo run --example remote_wake -- [--delay-ms N]
//! ```
//!
//! The main thread's reactor has nothing to do: no sockets, no timers, so `turn(None, ..)`
//! would block forever. A second thread sleeps `N` ms (default 200) and calls
//! [`Waker::wake`](chrome_sockets::Waker::wake); the turn returns and the example prints how
//! long it was blocked, then exits.

use std::process::ExitCode;
use std::time::{Duration, Instant};

use chrome_sockets::Reactor;

fn main() -> ExitCode {
    let mut delay_ms: u64 = 200;
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        match (flag.as_str(), args.next().map(|v| v.parse())) {
            ("--delay-ms", Some(Ok(v))) => delay_ms = v,
            _ => {
                eprintln!("usage: remote_wake [--delay-ms N]");
                return ExitCode::from(2);
            }
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
