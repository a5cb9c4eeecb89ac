//! What the benches share: the run configuration (arguments and `CS_BENCH_*` environment),
//! the hard time cap, the median, and a reactor server listening on loopback.
#![allow(dead_code)] // each bench uses a part

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use chrome_sockets::tcp_server::SocketProperties;
use chrome_sockets::Reactor;

/// Creates a server socket listening on 127.0.0.1 (a free port) and turns `r` until it
/// listens (10 s at most); returns its address.
pub fn listen_on_loopback<S: 'static>(r: &mut Reactor<S>, state: &mut S) -> io::Result<SocketAddr> {
    let port = Rc::new(Cell::new(None));
    let slot = port.clone();
    r.tcp_server()
        .create(SocketProperties::default(), move |r, _, created| {
            let id = created.expect("create").socket_id;
            r.tcp_server()
                .listen(id, "127.0.0.1", 0, None, move |r, _, listened| {
                    listened.expect("listen");
                    r.tcp_server().get_info(id, move |_, _, info| {
                        slot.set(info.expect("get_info").local_port);
                    });
                });
        });
    let deadline = Instant::now() + Duration::from_secs(10);
    while port.get().is_none() {
        if Instant::now() > deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "listen did not complete",
            ));
        }
        r.turn(Some(Duration::from_millis(10)), state)?;
    }
    Ok(SocketAddr::from((
        [127, 0, 0, 1],
        port.get().expect("port"),
    )))
}

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
