//! Chrome in the accept benchmark: the accept-and-close app (`bench-app/`) and a loopback
//! load loop, with Chrome's CPU time summed over its whole process group.

use std::io::{self, Read};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use serde_json::Value;
use socket2::SockRef;

use crate::chrome::{bench_app_dir, Chrome, Error};

/// Chromium running the accept-and-close app, listening on 127.0.0.1.
#[derive(Debug)]
pub struct ChromeAcceptServer {
    chrome: Chrome,
    port: u16,
}

impl ChromeAcceptServer {
    /// Launches Chromium with `bench-app/` and makes it listen on 127.0.0.1:`port`
    /// (0 = any free port); every accepted socket is closed in the `onAccept` listener.
    pub fn launch(port: u16) -> Result<ChromeAcceptServer, Error> {
        let mut chrome = Chrome::launch_app(&bench_app_dir())?;
        let started = chrome.evaluate(&format!("startAcceptClose({port})"))?;
        let port = started["port"]
            .as_u64()
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(|| Error::Protocol(format!("startAcceptClose answered {started}")))?;
        Ok(ChromeAcceptServer { chrome, port })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// How many connections the app has accepted so far.
    pub fn accepted(&mut self) -> Result<u64, Error> {
        match self.chrome.evaluate("acceptedCount()")? {
            Value::Number(n) => n
                .as_u64()
                .ok_or_else(|| Error::Protocol(format!("acceptedCount() = {n}"))),
            other => Err(Error::Protocol(format!("acceptedCount() = {other}"))),
        }
    }

    /// User + system CPU time of all of Chromium's processes (see [`Chrome::cpu_time`]).
    pub fn cpu_time(&self) -> Duration {
        self.chrome.cpu_time()
    }

    /// The harness underneath.
    pub fn chrome(&mut self) -> &mut Chrome {
        &mut self.chrome
    }
}

/// What one load run measured.
#[derive(Clone, Copy, Debug)]
pub struct LoadResult {
    /// Connections that saw the server close them (EOF or reset).
    pub completed: u64,
    /// Connections that failed (connect error, or no close within 5 s).
    pub errors: u64,
    /// Wall time of the run.
    pub elapsed: Duration,
}

impl LoadResult {
    /// Completed connections per second.
    pub fn per_second(&self) -> f64 {
        self.completed as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Opens `connections` connections to 127.0.0.1:`port`, `in_flight` at a time (one thread
/// each), the same way `bench/benches/accept_throughput.rs` does: connect, wait until the server
/// closes (EOF or reset), then close with `SO_LINGER` 0.
pub fn accept_close_load(port: u16, connections: u64, in_flight: usize) -> io::Result<LoadResult> {
    let in_flight = in_flight.max(1);
    let start = Instant::now();
    let per_thread = connections / in_flight as u64;
    let extra = connections % in_flight as u64;
    let threads: Vec<_> = (0..in_flight)
        .map(|i| {
            let n = per_thread + u64::from((i as u64) < extra);
            thread::spawn(move || {
                let mut completed = 0;
                let mut errors = 0;
                for _ in 0..n {
                    if one_connection(port).unwrap_or(false) {
                        completed += 1;
                    } else {
                        errors += 1;
                    }
                }
                (completed, errors)
            })
        })
        .collect();
    let mut result = LoadResult {
        completed: 0,
        errors: 0,
        elapsed: Duration::ZERO,
    };
    for t in threads {
        let (c, e) = t
            .join()
            .map_err(|_| io::Error::other("load thread panicked"))?;
        result.completed += c;
        result.errors += e;
    }
    result.elapsed = start.elapsed();
    Ok(result)
}

fn one_connection(port: u16) -> io::Result<bool> {
    let mut s = TcpStream::connect(("127.0.0.1", port))?;
    SockRef::from(&s).set_linger(Some(Duration::ZERO))?;
    s.set_read_timeout(Some(Duration::from_secs(5)))?;
    let mut buf = [0u8; 64];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return Ok(true),
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(true),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => return Ok(false),
        }
    }
}
