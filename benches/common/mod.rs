//! What both benches share: the run configuration (arguments and `CS_BENCH_*` environment),
//! the hard time cap and the median.

use std::time::Duration;

/// How long and how often to measure.
pub struct Config {
    /// `--quick`, `CS_BENCH_QUICK=1`, or not run by `cargo bench`.
    pub quick: bool,
    /// Rounds (`CS_BENCH_ROUNDS`, 1..=100).
    pub rounds: usize,
    /// Measured seconds per case and round (`CS_BENCH_SECONDS`).
    pub seconds: f64,
    /// Hard cap for the whole run (`CS_BENCH_CAP`, seconds).
    pub cap: Duration,
}

fn env_num<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// Reads the configuration from the command line and the environment. `quick` and `full` are
/// the default (rounds, seconds) of each mode, `caps` the default cap of each (seconds), and
/// `min_seconds` the least `CS_BENCH_SECONDS` honoured.
pub fn config(
    quick: (usize, f64),
    full: (usize, f64),
    caps: (f64, f64),
    min_seconds: f64,
) -> Config {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`; without it (e.g. `cargo test --benches`) run quick too.
    let is_quick = args.iter().any(|a| a == "--quick")
        || env_num::<u32>("CS_BENCH_QUICK") == Some(1)
        || !args.iter().any(|a| a == "--bench");
    let ((rounds, seconds), cap) = if is_quick {
        (quick, caps.0)
    } else {
        (full, caps.1)
    };
    let cap: f64 = env_num("CS_BENCH_CAP").unwrap_or(cap);
    Config {
        quick: is_quick,
        rounds: env_num("CS_BENCH_ROUNDS").unwrap_or(rounds).clamp(1, 100),
        seconds: env_num::<f64>("CS_BENCH_SECONDS")
            .unwrap_or(seconds)
            .clamp(min_seconds, 60.0),
        cap: Duration::from_secs_f64(cap.clamp(1.0, 3600.0)),
    }
}

/// Ends the process with exit status 3 once `cap` has passed, whatever it is doing.
pub fn enforce_cap(bench: &'static str, cap: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(cap);
        eprintln!("{bench}: hard time cap of {cap:?} reached; exiting");
        std::process::exit(3);
    });
}

/// The median of `v` (NaN when empty).
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}
