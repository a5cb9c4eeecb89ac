//! `soak --hostile`: hostile peers alongside the soak's well-behaved echo clients, and what
//! they cost the well-behaved ones.
//!
//! The run is split in two halves. The first (quiet) runs the soak's usual mix plus a probe:
//! one connection that sends 64 bytes every millisecond and times the echo. The second
//! (attack) adds, from a child process (this same binary, `soak --attacker ...`, one thread
//! driving every attacking socket non-blocking on a 1 ms timer wheel):
//! - slowloris: [`LORIS`] connections to the echo server, each sending one byte a second at
//!   its own phase and checking the echo;
//! - a one-byte drip: [`DRIP`] connections to a buffering listener that keeps every
//!   `ReceiveInfo.data` chunk until a newline (then echoes the line) or the connection's end;
//!   each connection sends a byte every [`DRIP_MS`] ms, lines of 32 bytes, and after three
//!   and a half lines hangs up and connects again;
//! - never-reading clients: [`NEVER`] connections to a listener that sends them 1 MiB every
//!   10 ms until a send fails with "Exceeded write quota." (the reactor's quota is
//!   [`QUOTA`] in this mode), then closes them; the echo meanwhile retries a send that met
//!   the quota after 1 ms, so no well-behaved byte is dropped;
//! - RST storms: [`RST_PER_SECOND`] connections a second that connect, send 1 KiB and close
//!   with `SO_LINGER` 0;
//! - connect floods: [`FLOOD`] non-blocking connects every 3 s to a listener with a backlog
//!   of [`FLOOD_BACKLOG`] that is paused and resumed every 200 ms and closes what it accepts;
//!
//! and, on the reactor's own thread, bursts of [`BURST`] host-name connects
//! (`connect(id, "localhost", ..)`) every 2 s, every tenth closed while it resolves, every
//! other closed when its callback comes (or after 5 s).
//!
//! Measured: the probe's round-trip p99 in each half (one probe, one ping in flight: a stall
//! of the reactor shows as one slow round trip, not as the pings it delayed), the bytes of
//! capacity the buffering listener retained per byte it received (summed `Vec::capacity()`
//! of the chunks it kept over their summed lengths), the resident memory per connection
//! under attack, and the most threads alive that the soak did not start (every soak thread
//! is named `soak-*`; sampled every 5 ms by a thread of its own).

use std::collections::{HashMap, HashSet};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use chrome_sockets::tcp::SocketProperties as TcpProperties;
use chrome_sockets::{LastErrorKind, Reactor, ReactorBuilder, ServerSocketId, TcpSocketId};

use super::{close, connect, pattern, spawn, Echo, Tally, CHUNK};

/// Slowloris connections.
pub(crate) const LORIS: usize = 5000;
/// Dripping connections into the buffering listener.
pub(crate) const DRIP: usize = 500;
/// Milliseconds between two bytes of one dripping connection.
pub(crate) const DRIP_MS: u64 = 200;
/// Never-reading connections open at a time (renewed every 2 s).
pub(crate) const NEVER: usize = 2;
/// Connections reset per second.
pub(crate) const RST_PER_SECOND: usize = 100;
/// Connects per flood.
pub(crate) const FLOOD: usize = 300;
/// The flooded listener's backlog.
pub(crate) const FLOOD_BACKLOG: i32 = 8;
/// Host-name connects per burst.
pub(crate) const BURST: usize = 300;
/// The reactor's write quota in this mode.
pub(crate) const QUOTA: usize = 4 << 20;
/// What the never-reading connections are sent at a time.
const SINK_SEND: usize = 1 << 20;
/// The most memory the never-readers' unsent bytes hold (the quota, and the send that met
/// it), in KiB: added to the slack of the attack half's memory check, since they are freed
/// every 2 s and a sample may or may not catch them.
pub(crate) const PENDING_KIB: u64 = ((QUOTA + SINK_SEND) >> 10) as u64;
/// Bytes of one probe ping.
const PING: usize = 64;
/// Connection number of the probe's pattern (apart from the clients' `n << 40 | k`).
const PROBE_CONN: u64 = 1 << 60;

/// The reactor of this mode: the soak's, with a write quota a never-reading client can fill.
pub(crate) fn builder() -> ReactorBuilder {
    ReactorBuilder::new().write_quota(QUOTA)
}

/// What a connection accepted by one of this mode's listeners is.
#[derive(Debug)]
enum Role {
    /// Dripping into the buffering listener: the chunks kept since the last newline.
    Drip(Vec<Vec<u8>>),
    /// Never reads: sent to until the quota says no.
    Sink,
}

/// The server side's state and counters (part of the soak's [`Echo`]).
#[derive(Debug, Default)]
pub(crate) struct Server {
    drip_server: Option<ServerSocketId>,
    sink_server: Option<ServerSocketId>,
    flood_server: Option<ServerSocketId>,
    roles: HashMap<TcpSocketId, Role>,
    sinks: Vec<TcpSocketId>,
    /// Whether the attack phase runs (timers chain on while it does).
    attacking: bool,
    main_port: u16,
    /// Summed capacity and length of every chunk the buffering listener kept.
    retained_capacity: u64,
    retained_len: u64,
    /// Capacity kept right now, and its maximum.
    retained_now: u64,
    retained_max: u64,
    drip_lines: u64,
    /// Sends to never-reading clients that met the quota.
    quota_hits: u64,
    /// Echo sends that met the quota and were retried.
    echo_retries: u64,
    flood_accepted: u64,
    flood_toggles: u64,
    connects_issued: u64,
    connects_answered: u64,
    connects_ok: u64,
    connects_not_found: u64,
    connects_failed: u64,
    /// Failed host-name connects by net error code.
    connect_errors: std::collections::BTreeMap<i32, u64>,
    bursts: u64,
    /// Host-name connects of the bursts not answered yet.
    burst_pending: u64,
}

/// Whether no burst of host-name connects is in flight: a sample taken during one would see
/// its hundreds of sockets come and go as growth.
pub(crate) fn settled(echo: &Echo) -> bool {
    echo.hostile.as_ref().map_or(true, |h| h.burst_pending == 0)
}

fn server(echo: &mut Echo) -> &mut Server {
    echo.hostile.get_or_insert_with(Default::default)
}

/// The listeners of this mode (in place of the plain soak's): echo on the soak's servers
/// (retrying a send that met the quota), buffering on the drip listener, sending to the
/// never-readers, closing what the flooded listener accepts. The accept-error listener is the
/// plain soak's, which `main` registers for both modes.
pub(crate) fn serve(r: &mut Reactor<Echo>) {
    let _ = r.tcp_server().on_accept().add_listener(|r, echo, info| {
        let id = info.client_socket_id;
        let h = server(echo);
        let from = Some(info.socket_id);
        if from == h.flood_server {
            h.flood_accepted += 1;
            return close(r, id);
        } else if from == h.drip_server {
            // The default buffer size (4,096): the drip is about what one byte costs.
            h.roles.insert(id, Role::Drip(Vec::new()));
        } else if from == h.sink_server {
            h.roles.insert(id, Role::Sink);
            h.sinks.push(id);
        } else {
            let props = TcpProperties::new().buffer_size(CHUNK);
            r.tcp().update(id, props, |_, _, _| {});
        }
        r.tcp().set_paused(id, false, |_, _, _| {});
    });
    let _ = r.tcp().on_receive().add_owning_listener(|r, echo, info| {
        let id = info.socket_id;
        let data = info.data;
        let h = server(echo);
        match h.roles.get_mut(&id) {
            Some(Role::Drip(chunks)) => {
                let (capacity, len) = (data.capacity() as u64, data.len() as u64);
                h.retained_capacity += capacity;
                h.retained_len += len;
                h.retained_now += capacity;
                h.retained_max = h.retained_max.max(h.retained_now);
                let line_end = data.contains(&b'\n');
                chunks.push(data);
                if line_end {
                    let line = chunks.concat();
                    let kept: u64 = chunks.iter().map(|c| c.capacity() as u64).sum();
                    chunks.clear();
                    h.retained_now -= kept;
                    h.drip_lines += 1;
                    r.tcp().send(id, line, move |r, _, sent| {
                        if sent.is_err() {
                            close(r, id);
                        }
                    });
                }
            }
            // A never-reading client sends nothing; nothing to do with what it might.
            Some(Role::Sink) => {}
            None => {
                r.tcp().set_paused(id, true, |_, _, _| {});
                echo_back(r, id, data);
            }
        }
    });
    let _ = r.tcp().on_receive_error().add_listener(|r, echo, info| {
        let id = info.socket_id;
        forget(server(echo), id);
        close(r, id);
    });
}

/// Drops what the app keeps for `id` (its retained chunks, its place among the sinks).
fn forget(h: &mut Server, id: TcpSocketId) {
    match h.roles.remove(&id) {
        Some(Role::Drip(chunks)) => {
            h.retained_now -= chunks.iter().map(|c| c.capacity() as u64).sum::<u64>();
        }
        Some(Role::Sink) => h.sinks.retain(|&s| s != id),
        None => {}
    }
}

/// Sends `data` back and resumes reading once it is out; a send that met the write quota
/// (a never-reading client filled it) is tried again 1 ms later, so nothing is dropped.
fn echo_back(r: &mut Reactor<Echo>, id: TcpSocketId, data: Vec<u8>) {
    r.tcp()
        .send(id, data.clone(), move |r, echo, sent| match sent {
            Ok(_) => r.tcp().set_paused(id, false, |_, _, _| {}),
            Err(e) if e.kind() == LastErrorKind::WriteQuota => {
                server(echo).echo_retries += 1;
                r.set_timeout(Duration::from_millis(1), move |r, _| echo_back(r, id, data));
            }
            Err(_) => close(r, id),
        });
}

/// Creates the drip, sink and flood listeners (idle until the attack).
pub(crate) fn listen(r: &mut Reactor<Echo>, echo: &mut Echo, main_port: u16) -> [u16; 3] {
    server(echo).main_port = main_port;
    let (drip, drip_port) = super::new_server(r, echo, None);
    let (sink, sink_port) = super::new_server(r, echo, None);
    let (flood, flood_port) = super::new_server(r, echo, Some(FLOOD_BACKLOG));
    let h = server(echo);
    h.drip_server = Some(drip);
    h.sink_server = Some(sink);
    h.flood_server = Some(flood);
    [drip_port, sink_port, flood_port]
}

/// Every 10 ms while attacking: 1 MiB more to each never-reading client, until a send meets
/// the quota; that client is then closed (its unsent bytes free the quota).
fn feed_sinks(r: &mut Reactor<Echo>, echo: &mut Echo) {
    let h = server(echo);
    if !h.attacking {
        return;
    }
    for id in h.sinks.clone() {
        r.tcp()
            .send(id, vec![0x5a; SINK_SEND], move |r, echo, sent| match sent {
                Ok(_) => {}
                Err(e) => {
                    let h = server(echo);
                    if e.kind() == LastErrorKind::WriteQuota {
                        h.quota_hits += 1;
                    }
                    forget(h, id);
                    close(r, id);
                }
            });
    }
    r.set_timeout(Duration::from_millis(10), feed_sinks);
}

/// Every 200 ms while attacking: pause or resume the flooded listener.
fn toggle_flood(r: &mut Reactor<Echo>, echo: &mut Echo) {
    let h = server(echo);
    let Some(id) = h.flood_server else { return };
    h.flood_toggles += 1;
    let pause = h.attacking && h.flood_toggles % 2 == 1;
    let again = h.attacking;
    r.tcp_server().set_paused(id, pause, |_, _, _| {});
    if again {
        r.set_timeout(Duration::from_millis(200), toggle_flood);
    }
}

/// Every 2 s while attacking: [`BURST`] host-name connects to the echo server.
fn burst(r: &mut Reactor<Echo>, echo: &mut Echo) {
    let h = server(echo);
    if !h.attacking {
        return;
    }
    h.bursts += 1;
    h.burst_pending += BURST as u64;
    let port = i32::from(h.main_port);
    for i in 0..BURST {
        r.tcp()
            .create(TcpProperties::default(), move |r, echo, created| {
                let Ok(created) = created else {
                    let h = server(echo);
                    h.connects_failed += 1;
                    h.burst_pending -= 1;
                    return;
                };
                let id = created.socket_id;
                server(echo).connects_issued += 1;
                r.tcp()
                    .connect(id, "localhost", port, move |r, echo, result| {
                        let h = server(echo);
                        h.connects_answered += 1;
                        h.burst_pending -= 1;
                        match result {
                            Ok(()) => h.connects_ok += 1,
                            Err(e) if e.kind() == LastErrorKind::NotFound => {
                                h.connects_not_found += 1
                            }
                            Err(e) => {
                                h.connects_failed += 1;
                                let code = e.code().map_or(0, |c| c.code());
                                *h.connect_errors.entry(code).or_default() += 1;
                            }
                        }
                        r.tcp().close(id, |_, _, _| {});
                    });
                if i % 10 == 0 {
                    // Closed while resolving: the callback gets "Socket not found" (D5).
                    r.tcp().close(id, |_, _, _| {});
                } else {
                    r.set_timeout(Duration::from_secs(5), move |r, _| {
                        r.tcp().close(id, |_, _, _| {});
                    });
                }
            });
    }
    r.set_timeout(Duration::from_secs(2), burst);
}

/// A latency histogram: 1 µs buckets below 65,536 µs, 1 ms buckets above (to 60 s).
pub(crate) struct Histogram {
    counts: Vec<u32>,
    n: u64,
    max_us: u64,
}

const EXACT: u64 = 1 << 16;

impl Histogram {
    fn new() -> Self {
        Histogram {
            counts: vec![0; EXACT as usize + 60_000],
            n: 0,
            max_us: 0,
        }
    }

    fn record(&mut self, us: u64) {
        let i = if us < EXACT {
            us
        } else {
            EXACT + (us / 1000).min(59_999)
        };
        self.counts[i as usize] = self.counts[i as usize].saturating_add(1);
        self.n += 1;
        self.max_us = self.max_us.max(us);
    }

    /// The smallest bucket value with at least `q` of the samples at or below it.
    pub(crate) fn quantile(&self, q: f64) -> u64 {
        let want = ((self.n as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0u64;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += u64::from(c);
            if seen >= want {
                let i = i as u64;
                return if i < EXACT { i } else { (i - EXACT) * 1000 };
            }
        }
        self.max_us
    }
}

/// The phases, as the probe and the thread sampler see them.
pub(crate) const QUIET: u8 = 0;
pub(crate) const ATTACK: u8 = 1;
pub(crate) const DONE: u8 = 2;

/// The probe: one connection to the echo server, 64 bytes every millisecond, each echo
/// checked and timed into the histogram of the phase it was sent in.
fn probe(port: u16, phase: Arc<AtomicU8>, tally: Arc<Tally>) -> [Histogram; 2] {
    let mut hist = [Histogram::new(), Histogram::new()];
    let (stop, port) = (
        AtomicBool::new(false),
        std::sync::atomic::AtomicU16::new(port),
    );
    let mut s = None;
    let mut at = 0usize;
    let mut buf = [0u8; PING];
    let mut next = Instant::now();
    while phase.load(Ordering::Relaxed) != DONE {
        let Some(conn) = s.as_mut() else {
            s = connect(&port, &stop, &tally);
            at = 0;
            continue;
        };
        let now = Instant::now();
        if now < next {
            thread::sleep(next - now);
        }
        next = Instant::now().max(next) + Duration::from_millis(1);
        let p = phase.load(Ordering::Relaxed);
        let sent = Instant::now();
        let want = pattern(PROBE_CONN, at, PING);
        let result = conn
            .write_all(&want)
            .and_then(|()| conn.read_exact(&mut buf));
        let us = sent.elapsed().as_micros() as u64;
        match result {
            Ok(()) if buf[..] == want[..] => {
                at += PING;
                tally.bytes.fetch_add(PING as u64, Ordering::Relaxed);
                if p < DONE && phase.load(Ordering::Relaxed) == p {
                    hist[p as usize].record(us);
                }
            }
            Ok(()) => {
                tally.lost(format!("probe: echo differs after {at} bytes"));
                s = None;
            }
            Err(e) => {
                tally.lost(format!("probe: {e} after {at} bytes"));
                s = None;
            }
        }
    }
    if s.is_some() {
        tally.connections.fetch_add(1, Ordering::Relaxed);
    }
    hist
}

/// Threads of this process the soak did not start: every soak thread is named `soak-*` from
/// its first moment (they are started by `soak-spawner`, see `spawn`), so every other
/// thread but the main one is the library's (or a dependency's), whether it named itself or
/// carries the main thread's name `soak`. A thread is classified once (its `comm`); one
/// still named `soak-spawner` is looked at again (it is about to name itself).
struct ThreadCensus {
    pid: u32,
    soak: HashSet<u32>,
    foreign: HashSet<u32>,
}

impl ThreadCensus {
    fn count(&mut self) -> u64 {
        let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
            return 0;
        };
        let mut foreign = 0;
        let mut alive = HashSet::new();

        for entry in dir.flatten() {
            let Some(tid) = entry.file_name().to_str().and_then(|t| t.parse().ok()) else {
                continue;
            };
            alive.insert(tid);
            if tid == self.pid || self.soak.contains(&tid) {
                continue;
            }
            if self.foreign.contains(&tid) {
                foreign += 1;
                continue;
            }
            let comm = std::fs::read_to_string(entry.path().join("comm")).unwrap_or_default();
            let comm = comm.trim_end();
            if comm == "soak-spawner" {
                continue;
            } else if comm.starts_with("soak-") {
                self.soak.insert(tid);
            } else if !comm.is_empty() {
                self.foreign.insert(tid);
                foreign += 1;
            }
        }
        self.soak.retain(|t| alive.contains(t));
        self.foreign.retain(|t| alive.contains(t));
        foreign
    }
}

/// Samples the foreign threads every 5 ms (every 10 while quiet) until `DONE`;
/// returns the most seen in each phase.
fn census(phase: Arc<AtomicU8>) -> [u64; 2] {
    let mut c = ThreadCensus {
        pid: std::process::id(),
        soak: HashSet::new(),
        foreign: HashSet::new(),
    };
    let mut max = [0u64; 2];
    loop {
        let p = phase.load(Ordering::Relaxed);
        if p == DONE {
            return max;
        }
        let n = c.count();
        max[p as usize] = max[p as usize].max(n);
        let every = if p == ATTACK { 5 } else { 10 };
        thread::sleep(Duration::from_millis(every));
    }
}

/// The attack, seen from the soak's main loop.
pub(crate) struct Run {
    phase: Arc<AtomicU8>,
    ports: [u16; 4],
    attack_at: Instant,
    attack_for: Duration,
    child: Option<Child>,
    probe: Option<JoinHandle<[Histogram; 2]>>,
    census: Option<JoinHandle<[u64; 2]>>,
    /// The attacker's summary line.
    pub(crate) attacker: String,
    pub(crate) failures: Vec<String>,
}

impl Run {
    /// Starts the probe and the thread census; the attack begins at `attack_at` and lasts
    /// `attack_for`.
    pub(crate) fn start(
        main_port: u16,
        ports: [u16; 3],
        attack_at: Instant,
        attack_for: Duration,
        tally: &Arc<Tally>,
    ) -> Run {
        let phase = Arc::new(AtomicU8::new(QUIET));
        let (p, t) = (phase.clone(), tally.clone());
        let probe = spawn("soak-probe", move || probe(main_port, p, t));
        let p = phase.clone();
        let census = spawn("soak-threads", move || census(p));
        Run {
            phase,
            ports: [main_port, ports[0], ports[1], ports[2]],
            attack_at,
            attack_for,
            child: None,
            probe: probe.ok(),
            census: census.ok(),
            attacker: String::new(),
            failures: Vec::new(),
        }
    }

    /// Whether the attack phase has begun.
    pub(crate) fn attacking(&self) -> bool {
        self.phase.load(Ordering::Relaxed) == ATTACK
    }

    /// Called every turn: starts the attack when its time comes.
    pub(crate) fn tick(&mut self, r: &mut Reactor<Echo>, echo: &mut Echo, now: Instant) {
        if self.phase.load(Ordering::Relaxed) != QUIET || now < self.attack_at {
            return;
        }
        self.phase.store(ATTACK, Ordering::Relaxed);
        // The attacker stops a second before the soak does, so its connections are gone
        // before the final counts.
        let seconds = self.attack_for.saturating_sub(Duration::from_secs(1));
        let exe = std::env::current_exe().unwrap_or_else(|_| "soak".into());
        let mut args = vec!["--attacker".to_owned()];
        args.extend(self.ports.iter().map(u16::to_string));
        args.push(format!("{:.3}", seconds.as_secs_f64()));
        match Command::new(exe)
            .args(&args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
        {
            Ok(child) => self.child = Some(child),
            Err(e) => self
                .failures
                .push(format!("cannot start the attacker: {e}")),
        }
        server(echo).attacking = true;
        feed_sinks(r, echo);
        toggle_flood(r, echo);
        burst(r, echo);
    }

    /// Ends the attack: waits for the attacker (turning the reactor; killed after 30 s),
    /// stops the probe and the census. Returns the probe's histograms and the census's maxima.
    pub(crate) fn finish(
        &mut self,
        r: &mut Reactor<Echo>,
        echo: &mut Echo,
    ) -> ([Histogram; 2], [u64; 2]) {
        server(echo).attacking = false;
        if let Some(mut child) = self.child.take() {
            drop(child.stdin.take());
            let deadline = Instant::now() + Duration::from_secs(30);
            let status = loop {
                match child.try_wait() {
                    Ok(Some(status)) => break Some(status),
                    Ok(None) if Instant::now() < deadline => {
                        let _ = r.turn(Some(Duration::from_millis(5)), echo);
                    }
                    _ => {
                        let _ = child.kill();
                        let _ = child.wait();
                        break None;
                    }
                }
            };
            let mut out = String::new();
            if let Some(mut stdout) = child.stdout.take() {
                let _ = stdout.read_to_string(&mut out);
            }
            self.attacker = out.trim().to_owned();
            match status {
                Some(s) if s.success() => {}
                Some(s) => self.failures.push(format!("the attacker exited with {s}")),
                None => self
                    .failures
                    .push("the attacker did not stop: killed".into()),
            }
        }
        self.phase.store(DONE, Ordering::Relaxed);
        // The probe's last ping needs the reactor: turn until it stops.
        while self.probe.as_ref().is_some_and(|p| !p.is_finished()) {
            let _ = r.turn(Some(Duration::from_millis(5)), echo);
        }
        let hist = match self.probe.take().map(JoinHandle::join) {
            Some(Ok(h)) => h,
            _ => {
                self.failures.push("the probe thread failed".into());
                [Histogram::new(), Histogram::new()]
            }
        };
        let threads = match self.census.take().map(JoinHandle::join) {
            Some(Ok(t)) => t,
            _ => {
                self.failures.push("the thread census failed".into());
                [0, 0]
            }
        };
        (hist, threads)
    }
}

/// What the server side counted, as one line, and the checks on it.
pub(crate) fn server_report(echo: &mut Echo, failures: &mut Vec<String>) -> (String, f64) {
    let h = server(echo);
    let z = match h.retained_len {
        0 => 0.0,
        n => h.retained_capacity as f64 / n as f64,
    };
    if h.retained_len == 0 {
        failures.push("the buffering listener received nothing".into());
    }
    if h.quota_hits == 0 {
        failures.push("no send to a never-reading client met the write quota".into());
    }
    if h.connects_answered != h.connects_issued {
        failures.push(format!(
            "{} host-name connects issued, {} answered",
            h.connects_issued, h.connects_answered
        ));
    }
    let line = format!(
        "hostile server: drip {} bytes in, {} lines, retained max {} KiB; write quota met {} \
         times by never-readers, echo sends retried {}; flood accepted {} ({} pause toggles); \
         host-name connects {} in {} bursts: {} answered ({} ok, {} closed while resolving, {} \
         failed: {:?} by code)",
        h.retained_len,
        h.drip_lines,
        h.retained_max / 1024,
        h.quota_hits,
        h.echo_retries,
        h.flood_accepted,
        h.flood_toggles,
        h.connects_issued,
        h.bursts,
        h.connects_answered,
        h.connects_ok,
        h.connects_not_found,
        h.connects_failed,
        h.connect_errors,
    );
    (line, z)
}

// ----- the attacker: a child process, one thread, every socket non-blocking -----

/// Byte `k` a slowloris connection `i` sends.
fn loris_byte(i: usize, k: u64) -> u8 {
    (i as u64).wrapping_mul(7).wrapping_add(k) as u8
}

/// Byte `k` a dripping connection `i` sends: lines of 31 letters and a newline.
fn drip_byte(i: usize, k: u64) -> u8 {
    if k % 32 == 31 {
        b'\n'
    } else {
        b'a' + ((k + i as u64) % 26) as u8
    }
}

/// Bytes a dripping connection sends before it hangs up mid-line.
const DRIP_HANG_UP: u64 = 3 * 32 + 16;

/// One attacking connection that checks what comes back.
struct Peer {
    s: TcpStream,
    sent: u64,
    got: u64,
}

#[derive(Default)]
struct Counts {
    connects: u64,
    connect_failures: u64,
    sent: u64,
    echoed: u64,
    bad: u64,
    dropped: u64,
}

fn connect_to(port: u16) -> Option<TcpStream> {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let s = TcpStream::connect_timeout(&addr, Duration::from_secs(1)).ok()?;
    s.set_nonblocking(true).ok()?;
    Some(s)
}

impl Peer {
    /// Reads what came back and checks it against `byte`; false when the connection ended.
    fn drain(&mut self, counts: &mut Counts, byte: impl Fn(u64) -> u8) -> bool {
        let mut buf = [0u8; 512];
        loop {
            match self.s.read(&mut buf) {
                Ok(0) => return false,
                Ok(n) => {
                    for &b in &buf[..n] {
                        if b != byte(self.got) {
                            counts.bad += 1;
                        }
                        self.got += 1;
                    }
                    counts.echoed += n as u64;
                }
                Err(e) if e.kind() == ErrorKind::WouldBlock => return true,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(_) => return false,
            }
        }
    }

    /// Sends one byte; false when the connection ended.
    fn send(&mut self, counts: &mut Counts, byte: u8) -> bool {
        match self.s.write(&[byte]) {
            Ok(_) => {
                self.sent += 1;
                counts.sent += 1;
                true
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => true,
            Err(_) => false,
        }
    }
}

/// Keeps `slot` connected (connecting again if it ended), drains it, sends it its next byte.
fn step(
    slot: &mut Option<Peer>,
    port: u16,
    counts: &mut Counts,
    byte: impl Fn(u64) -> u8,
) -> Option<u64> {
    if slot.is_none() {
        match connect_to(port) {
            Some(s) => {
                counts.connects += 1;
                *slot = Some(Peer { s, sent: 0, got: 0 });
            }
            None => {
                counts.connect_failures += 1;
                return None;
            }
        }
    }
    let peer = slot.as_mut()?;
    let b = byte(peer.sent);
    if !(peer.drain(counts, &byte) && peer.send(counts, b)) {
        counts.dropped += 1;
        *slot = None;
        return None;
    }
    Some(peer.sent)
}

/// `soak --attacker MAIN DRIP SINK FLOOD SECONDS`: the attack's client side; prints one line
/// of counts and exits when the time is up or its stdin closes (the soak went away).
pub(crate) fn attacker_main(args: &[String]) -> ExitCode {
    let nums: Vec<f64> = args.iter().filter_map(|a| a.parse().ok()).collect();
    if nums.len() != 5 {
        eprintln!("soak: --attacker MAIN DRIP SINK FLOOD SECONDS, got {args:?}");
        return ExitCode::from(2);
    }
    let [main, drip, sink, flood] = [0, 1, 2, 3].map(|i| nums[i] as u16);
    let end = Instant::now() + Duration::from_secs_f64(nums[4]);
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let _ = spawn("soak-stdin", move || {
        let _ = std::io::stdin().read_to_end(&mut Vec::new());
        s.store(true, Ordering::Relaxed);
    });

    let mut loris: Vec<Option<Peer>> = (0..LORIS).map(|_| None).collect();
    let mut drips: Vec<Option<Peer>> = (0..DRIP).map(|_| None).collect();
    let (mut lc, mut dc) = (Counts::default(), Counts::default());
    let mut never: Vec<TcpStream> = Vec::new();
    let mut flooding: Vec<socket2::Socket> = Vec::new();
    let (mut never_opened, mut rst, mut flood_tried, mut flood_refused) = (0u64, 0u64, 0u64, 0u64);
    let t0 = Instant::now();
    let mut tick = 0u64;
    while Instant::now() < end && !stop.load(Ordering::Relaxed) {
        let due = t0 + Duration::from_millis(tick);
        let now = Instant::now();
        if now < due {
            thread::sleep(due - now);
        }
        let ms = tick;
        tick += 1;
        for (i, slot) in loris
            .iter_mut()
            .enumerate()
            .skip((ms % 1000) as usize)
            .step_by(1000)
        {
            step(slot, main, &mut lc, |k| loris_byte(i, k));
        }
        let first = (ms % DRIP_MS) as usize;
        for (i, slot) in drips
            .iter_mut()
            .enumerate()
            .skip(first)
            .step_by(DRIP_MS as usize)
        {
            if step(slot, drip, &mut dc, |k| drip_byte(i, k)) == Some(DRIP_HANG_UP) {
                // Hang up mid-line: the listener drops what it kept; connect again next time.
                *slot = None;
            }
        }
        if ms % 2000 == 0 {
            never.clear(); // unread bytes: the close is a reset
            for _ in 0..NEVER {
                if let Some(s) = connect_to(sink) {
                    never.push(s);
                    never_opened += 1;
                }
            }
        }
        let in_second = ms % 1000;
        if (500..500 + RST_PER_SECOND as u64 / 10).contains(&in_second) {
            for _ in 0..10 {
                if let Some(mut s) = connect_to(main) {
                    let _ = s.write(&[0x42; 1024]);
                    let _ = socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO));
                    rst += 1;
                }
            }
        }
        match ms % 3000 {
            1000 => {
                let addr: SocketAddr = ([127, 0, 0, 1], flood).into();
                for _ in 0..FLOOD {
                    use socket2::{Domain, Socket, Type};
                    let Ok(s) = Socket::new(Domain::IPV4, Type::STREAM, None) else {
                        flood_refused += 1;
                        continue;
                    };
                    let _ = s.set_nonblocking(true);
                    flood_tried += 1;
                    match s.connect(&addr.into()) {
                        Ok(()) => flooding.push(s),
                        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => flooding.push(s),
                        Err(_) => flood_refused += 1,
                    }
                }
            }
            2500 => flooding.clear(),
            _ => {}
        }
    }
    let line = format!(
        "hostile attacker: slowloris {} connects ({} failed), {} bytes sent, {} echoed, {} \
         wrong, {} dropped by the server; drip {} connects ({} failed), {} bytes sent, {} \
         echoed, {} wrong, {} dropped; never-readers {}; resets {}; flood connects {} ({} \
         refused at once)",
        lc.connects,
        lc.connect_failures,
        lc.sent,
        lc.echoed,
        lc.bad,
        lc.dropped,
        dc.connects,
        dc.connect_failures,
        dc.sent,
        dc.echoed,
        dc.bad,
        dc.dropped,
        never_opened,
        rst,
        flood_tried,
        flood_refused,
    );
    println!("{line}");
    // A wrong byte, or a connection the server ended, is a failure of the server.
    match lc.bad + dc.bad + lc.dropped + dc.dropped {
        0 => ExitCode::SUCCESS,
        _ => ExitCode::FAILURE,
    }
}

/// The hostile mode's figures, printed after the `soak:` line.
pub(crate) struct Summary<'a> {
    /// The quiet half's samples and the attack's.
    pub(crate) phases: [&'a [super::Sample]; 2],
    pub(crate) hist: [Histogram; 2],
    /// The most threads the soak did not start, quiet and under attack.
    pub(crate) threads: [u64; 2],
    pub(crate) lost: u64,
    /// Fds at the start and at the end.
    pub(crate) fds: (u64, u64),
}

impl Summary<'_> {
    /// Prints the attacker's and the server's counts, memory and latency details, then the
    /// last line, `hostile: p99 quiet X us, attack Y us, retained bytes per received byte Z,
    /// resolver threads max T, N lost`. False when a check failed (each said on stderr).
    pub(crate) fn report(&self, run: &mut Run, echo: &mut Echo) -> bool {
        let mut failures = std::mem::take(&mut run.failures);
        match run.attacker.is_empty() {
            true => failures.push("no counts from the attacker".into()),
            false => println!("{}", run.attacker),
        }
        let (line, z) = server_report(echo, &mut failures);
        println!("{line}");
        let max =
            |s: &[super::Sample], f: fn(&super::Sample) -> u64| s.iter().map(f).max().unwrap_or(0);
        let [quiet, attack] = self.phases;
        let rss = [max(quiet, |s| s.rss_kib), max(attack, |s| s.rss_kib)];
        let sockets = [max(quiet, |s| s.sockets), max(attack, |s| s.sockets)];
        let per_connection = match sockets[1].saturating_sub(sockets[0]) {
            0 => 0,
            n => rss[1].saturating_sub(rss[0]) * 1024 / n,
        };
        let [hq, ha] = &self.hist;
        println!(
            "hostile memory: rss max quiet {} KiB, attack {} KiB; sockets max quiet {}, attack \
             {}: {per_connection} bytes per added connection",
            rss[0], rss[1], sockets[0], sockets[1],
        );
        println!(
            "hostile probe: quiet {} round trips (p50 {} us, p99 {} us, max {} us), attack {} \
             (p50 {} us, p99 {} us, max {} us); threads the soak did not start, max: quiet {}, \
             attack {}; fds {} at the start, {} at the end",
            hq.n,
            hq.quantile(0.5),
            hq.quantile(0.99),
            hq.max_us,
            ha.n,
            ha.quantile(0.5),
            ha.quantile(0.99),
            ha.max_us,
            self.threads[0],
            self.threads[1],
            self.fds.0,
            self.fds.1,
        );
        let (q, a) = (hq.quantile(0.99), ha.quantile(0.99));
        let t = self.threads[0].max(self.threads[1]);
        if hq.n == 0 || ha.n == 0 {
            failures.push("the probe has no round trips in a half".into());
        }
        if a > 10 * q {
            failures.push(format!("attack p99 {a} us is above 10 x quiet p99 {q} us"));
        }
        if z > 2.0 {
            failures.push(format!(
                "{z:.1} bytes retained per byte received (at most 2)"
            ));
        }
        if t > 4 {
            failures.push(format!("{t} resolver threads at once (at most 4)"));
        }
        for f in &failures {
            eprintln!("soak: hostile: {f}");
        }
        println!(
            "hostile: p99 quiet {q} us, attack {a} us, retained bytes per received byte {z:.1}, \
             resolver threads max {t}, {} lost",
            self.lost
        );
        failures.is_empty()
    }
}
