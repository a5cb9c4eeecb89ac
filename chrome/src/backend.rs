//! One scenario, two backends: real Chrome ([`ChromeBackend`]) and the library
//! ([`LibraryBackend`]), both speaking [`Call`] and [`Record`].

use std::thread;
use std::time::{Duration, Instant};

use chrome_sockets::{
    tcp, tcp_server, LastError, Reactor, ReactorBuilder, ServerSocketId, TcpSocketId,
};
use serde_json::{json, Value};

use crate::chrome::{Chrome, Error};
use crate::vocab::{Call, Failure, Ids, Kind, Payload, RawRecord, Record, Sid, CALL_NAMES};

/// A backend runs calls and reports what happened, in dispatch order.
pub trait Backend {
    /// `"chrome"` or `"library"`, for messages.
    fn name(&self) -> &'static str;

    /// Issues `calls` back to back without waiting for any callback: in one JavaScript task
    /// on Chrome, with no turn in between on the library. Returns their call numbers.
    fn call(&mut self, calls: Vec<Call>) -> Result<Vec<usize>, Error>;

    /// Lets `duration` pass with the backend working (Chrome works on its own; the library
    /// is turned), without collecting the log.
    fn run_for(&mut self, duration: Duration) -> Result<(), Error>;

    /// Waits until nothing new happens for a while (bounded) and returns every record since
    /// the last `settle`.
    fn settle(&mut self) -> Result<Vec<Record>, Error>;

    /// The session's id mapping.
    fn ids(&self) -> &Ids;

    /// Starts a new session: every socket closed, call numbers and [`Sid`]s from 0 again.
    fn reset(&mut self) -> Result<(), Error>;

    /// Issues `calls` and settles: the common step of a scenario.
    fn run(&mut self, calls: Vec<Call>) -> Result<Vec<Record>, Error> {
        self.call(calls)?;
        self.settle()
    }
}

/// How long a backend must be quiet to count as settled, and the cap on one settle.
#[derive(Clone, Copy, Debug)]
pub struct Settle {
    /// Nothing new for this long = settled.
    pub quiet: Duration,
    /// Give up waiting for quiet after this long (a peer that keeps sending never settles).
    pub max: Duration,
}

fn unknown(kind: Kind, sid: Sid) -> Error {
    Error::Scenario(format!(
        "{kind:?} socket {sid} has not appeared yet in this session"
    ))
}

/// How many times [`ChromeBackend`] retries a launch or a reset that timed out, each time
/// with a fresh Chromium. Only timeouts ([`Error::Timeout`]) are retried: anything Chrome
/// answered, and a Chromium that exited, is reported as it is.
pub const CHROME_RETRIES: u32 = 2;

/// Runs `attempt(0)` and, after each timeout, `attempt(1)`, `attempt(2)`, ... up to
/// [`CHROME_RETRIES`] retries, counted in `retries`. The last timeout's message says how many
/// retries there were.
fn with_retries<T>(
    what: &str,
    retries: &mut u32,
    mut attempt: impl FnMut(u32) -> Result<T, Error>,
) -> Result<T, Error> {
    let mut n = 0;
    loop {
        match attempt(n) {
            Err(Error::Timeout(why)) if n < CHROME_RETRIES => {
                n += 1;
                *retries = retries.saturating_add(1);
                eprintln!(
                    "chrome-oracle: {what} timed out ({why}): retry {n} of {CHROME_RETRIES} \
                     with a fresh Chromium"
                );
            }
            Err(Error::Timeout(why)) => {
                return Err(Error::Timeout(format!(
                    "{why}; {what} gave up after {n} retries with a fresh Chromium"
                )))
            }
            other => return other,
        }
    }
}

/// The oracle app in a real Chromium. Sessions are separated by reloading the app, which
/// closes every socket but (measured) does not restart Chrome's id counters: [`Sid`]s hide that.
///
/// A launch or a [`reset`](Backend::reset) that times out is retried with a fresh Chromium, at
/// most [`CHROME_RETRIES`] times ([`ChromeBackend::retries`] counts them). A reset comes before
/// a session's first call, so a session always runs from its start on one Chromium. After a
/// reset that failed, the next reset starts with a fresh Chromium.
#[derive(Debug)]
pub struct ChromeBackend {
    chrome: Chrome,
    ids: Ids,
    settle: Settle,
    fresh: bool,
    retries: u32,
    inject_timeouts: u32,
    /// The last reset failed: its Chromium was killed, the next reset starts with a fresh one.
    broken: bool,
}

impl ChromeBackend {
    /// Launches Chromium with the oracle app; a launch that times out is retried with a fresh
    /// Chromium (at most [`CHROME_RETRIES`] times).
    pub fn launch() -> Result<ChromeBackend, Error> {
        let mut retries = 0;
        let chrome = with_retries("launch", &mut retries, |_| Chrome::launch())?;
        let mut backend = ChromeBackend::new(chrome);
        backend.retries = retries;
        Ok(backend)
    }

    /// How many times a launch or reset of this backend timed out and was retried with a
    /// fresh Chromium.
    pub fn retries(&self) -> u32 {
        self.retries
    }

    /// A test hook: the next `n` attempts to reset (the reload of the app, or the launch of a
    /// fresh Chromium when retrying) fail at once with [`Error::Timeout`], as a Chromium that
    /// never shows the page would after 30 s. Tests of the retry use it.
    pub fn inject_timeouts(&mut self, n: u32) {
        self.inject_timeouts = n;
    }

    fn injected(&mut self, what: &str) -> Result<(), Error> {
        if self.inject_timeouts == 0 {
            return Ok(());
        }
        self.inject_timeouts -= 1;
        Err(Error::Timeout(format!("{what} (injected)")))
    }

    /// One reset on the Chromium at hand: reload the app (unless nothing ran since the last
    /// reset) and clear its log.
    fn reset_here(&mut self) -> Result<(), Error> {
        self.injected("the reloaded app never answered")?;
        if !self.fresh {
            self.chrome.reload_app()?;
        }
        self.chrome.evaluate("reset()")?;
        self.ids = Ids::default();
        self.fresh = true;
        Ok(())
    }

    /// Replaces the Chromium at hand by a fresh one (the old one is killed first, so the two
    /// never compete for the machine) and clears the new app's log.
    fn relaunch(&mut self) -> Result<(), Error> {
        self.chrome.kill();
        self.injected("the app's background page never appeared")?;
        self.chrome = Chrome::launch()?;
        self.chrome.evaluate("reset()")?;
        self.ids = Ids::default();
        self.fresh = true;
        Ok(())
    }

    /// Wraps a launched [`Chrome`] running the oracle app.
    pub fn new(chrome: Chrome) -> ChromeBackend {
        ChromeBackend {
            chrome,
            ids: Ids::default(),
            settle: Settle {
                quiet: Duration::from_millis(150),
                max: Duration::from_secs(10),
            },
            fresh: true,
            retries: 0,
            inject_timeouts: 0,
            broken: false,
        }
    }

    /// Changes the settle parameters (default: 150 ms quiet, at most 10 s).
    pub fn set_settle(&mut self, settle: Settle) {
        self.settle = settle;
    }

    /// The harness, for what the vocabulary does not cover.
    pub fn chrome(&mut self) -> &mut Chrome {
        &mut self.chrome
    }

    fn encode(&self, call: &Call) -> Result<Value, Error> {
        let kind = call.kind();
        let id = match call.target() {
            Some(sid) => Some(self.ids.raw(kind, sid).ok_or_else(|| unknown(kind, sid))?),
            None => None,
        };
        let props = |name: &Option<String>, persistent: &Option<bool>, buffer: Option<i32>| {
            let mut p = serde_json::Map::new();
            if let Some(n) = name {
                p.insert("name".into(), json!(n));
            }
            if let Some(b) = persistent {
                p.insert("persistent".into(), json!(b));
            }
            if let Some(b) = buffer {
                p.insert("bufferSize".into(), json!(b));
            }
            Value::Object(p)
        };
        let args = match call {
            Call::ServerCreate { name, persistent } => vec![props(name, persistent, None)],
            Call::ServerUpdate {
                name, persistent, ..
            } => vec![json!(id), props(name, persistent, None)],
            Call::TcpCreate {
                name,
                persistent,
                buffer_size,
            } => vec![props(name, persistent, *buffer_size)],
            Call::TcpUpdate {
                name,
                persistent,
                buffer_size,
                ..
            } => vec![json!(id), props(name, persistent, *buffer_size)],
            Call::ServerSetPaused { paused, .. } | Call::TcpSetPaused { paused, .. } => {
                vec![json!(id), json!(paused)]
            }
            Call::Listen {
                address,
                port,
                backlog,
                ..
            } => {
                let mut a = vec![json!(id), json!(address), json!(port)];
                if let Some(b) = backlog {
                    a.push(json!(b));
                }
                a
            }
            Call::SetKeepAlive { enable, delay, .. } => {
                vec![json!(id), json!(enable), json!(delay)]
            }
            Call::SetNoDelay { no_delay, .. } => vec![json!(id), json!(no_delay)],
            Call::Connect { address, port, .. } => vec![json!(id), json!(address), json!(port)],
            Call::Send { data, .. } => {
                let data = match data {
                    Payload::Bytes(b) => json!({ "hex": hex(b) }),
                    Payload::Repeat { byte, len } => {
                        json!({ "repeat": { "byte": byte, "len": len } })
                    }
                };
                vec![json!(id), data]
            }
            Call::ServerDisconnect { .. }
            | Call::ServerClose { .. }
            | Call::ServerGetInfo { .. }
            | Call::TcpDisconnect { .. }
            | Call::TcpClose { .. }
            | Call::TcpGetInfo { .. } => vec![json!(id)],
            Call::ServerGetSockets | Call::TcpGetSockets => vec![],
        };
        let (ns, method) = call.name().split_once('.').unwrap_or(("", ""));
        Ok(json!({ "ns": ns, "method": method, "args": args }))
    }

    fn decode(entry: &Value) -> Result<RawRecord, Error> {
        let bad = || Error::Protocol(format!("unexpected log entry {entry}"));
        let int = |key: &str| {
            entry[key]
                .as_i64()
                .and_then(|v| i32::try_from(v).ok())
                .ok_or_else(bad)
        };
        let name = || static_name(entry["name"].as_str().unwrap_or_default()).ok_or_else(bad);
        let call = || entry["tag"].as_u64().map(|t| t as usize).ok_or_else(bad);
        Ok(match entry["k"].as_str().unwrap_or_default() {
            "issued" => RawRecord::Issued {
                call: call()?,
                name: name()?,
            },
            "reply" => {
                let name = name()?;
                let args = entry["args"].as_array().cloned().unwrap_or_default();
                let first = args.first().cloned().unwrap_or(Value::Null);
                let result = match entry["lastError"].as_str() {
                    Some(message) => Err(Failure {
                        message: message.to_string(),
                        code: first
                            .as_i64()
                            .or_else(|| first["resultCode"].as_i64())
                            .and_then(|c| i32::try_from(c).ok()),
                    }),
                    // Calls that report only success pass `0` (or nothing): that is `null`.
                    None if first.as_i64() == Some(0) => Ok(Value::Null),
                    None => Ok(first),
                };
                RawRecord::Reply {
                    call: call()?,
                    name,
                    result,
                }
            }
            "accept" => RawRecord::Accept {
                server: int("socketId")?,
                client: int("clientSocketId")?,
            },
            "acceptError" => RawRecord::AcceptError {
                server: int("socketId")?,
                code: int("resultCode")?,
            },
            "receive" => RawRecord::Receive {
                socket: int("socketId")?,
                data: unhex(entry["hex"].as_str().unwrap_or_default()).ok_or_else(bad)?,
            },
            "receiveError" => RawRecord::ReceiveError {
                socket: int("socketId")?,
                code: int("resultCode")?,
            },
            "threw" => {
                return Err(Error::Js(format!(
                    "{} threw: {}",
                    entry["name"], entry["message"]
                )))
            }
            _ => return Err(bad()),
        })
    }
}

impl Backend for ChromeBackend {
    fn name(&self) -> &'static str {
        "chrome"
    }

    fn call(&mut self, calls: Vec<Call>) -> Result<Vec<usize>, Error> {
        self.fresh = false;
        let encoded = calls
            .iter()
            .map(|c| self.encode(c))
            .collect::<Result<Vec<_>, _>>()?;
        let tags = self
            .chrome
            .evaluate(&format!("batch({})", Value::Array(encoded)))?;
        tags.as_array()
            .map(|t| {
                t.iter()
                    .filter_map(|v| v.as_u64().map(|v| v as usize))
                    .collect()
            })
            .ok_or_else(|| Error::Protocol(format!("batch returned {tags}")))
    }

    fn run_for(&mut self, duration: Duration) -> Result<(), Error> {
        thread::sleep(duration);
        Ok(())
    }

    fn settle(&mut self) -> Result<Vec<Record>, Error> {
        let entries = self.chrome.wait_quiet(self.settle.quiet, self.settle.max)?;
        let mut out = Vec::with_capacity(entries.len());
        for entry in &entries {
            let raw = ChromeBackend::decode(entry)?;
            out.push(self.ids.normalise(raw));
        }
        Ok(out)
    }

    fn ids(&self) -> &Ids {
        &self.ids
    }

    fn reset(&mut self) -> Result<(), Error> {
        let mut retries = 0;
        let broken = self.broken;
        let result = with_retries("reset", &mut retries, |n| {
            if n == 0 && !broken {
                self.reset_here()
            } else {
                self.relaunch()
            }
        });
        self.retries = self.retries.saturating_add(retries);
        self.broken = result.is_err();
        result
    }
}

fn static_name(name: &str) -> Option<&'static str> {
    CALL_NAMES.iter().copied().find(|n| *n == name)
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(DIGITS[usize::from(b >> 4)] as char);
        s.push(DIGITS[usize::from(b & 15)] as char);
    }
    s
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    let digit = |c: u8| (c as char).to_digit(16).map(|d| d as u8);
    s.as_bytes()
        .chunks(2)
        .map(|pair| match pair {
            [hi, lo] => Some(digit(*hi)? << 4 | digit(*lo)?),
            _ => None,
        })
        .collect()
}

/// What the library backend's reactor lends its callbacks: the raw log.
#[derive(Debug, Default)]
struct Log {
    records: Vec<RawRecord>,
}

/// `chrome_sockets` driven through its public API, recording the same [`Record`]s.
pub struct LibraryBackend {
    reactor: Reactor<Log>,
    /// How every session's reactor is built.
    builder: ReactorBuilder,
    log: Log,
    ids: Ids,
    next_call: usize,
    settle: Settle,
}

impl std::fmt::Debug for LibraryBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LibraryBackend")
            .field("next_call", &self.next_call)
            .field("ids", &self.ids)
            .finish()
    }
}

fn failure(e: LastError) -> Failure {
    Failure {
        message: e.message().to_string(),
        code: e.code().map(|c| c.code()),
    }
}

fn server_info(i: &tcp_server::SocketInfo) -> Value {
    let mut v =
        json!({ "socketId": i.socket_id.raw(), "persistent": i.persistent, "paused": i.paused });
    if let Some(n) = &i.name {
        v["name"] = json!(n);
    }
    if let Some(a) = &i.local_address {
        v["localAddress"] = json!(a);
    }
    if let Some(p) = i.local_port {
        v["localPort"] = json!(p);
    }
    v
}

fn tcp_info(i: &tcp::SocketInfo) -> Value {
    let mut v = json!({
        "socketId": i.socket_id.raw(),
        "persistent": i.persistent,
        "paused": i.paused,
        "connected": i.connected,
    });
    if let Some(n) = &i.name {
        v["name"] = json!(n);
    }
    if let Some(b) = i.buffer_size {
        v["bufferSize"] = json!(b);
    }
    if let Some(a) = &i.local_address {
        v["localAddress"] = json!(a);
    }
    if let Some(p) = i.local_port {
        v["localPort"] = json!(p);
    }
    if let Some(a) = &i.peer_address {
        v["peerAddress"] = json!(a);
    }
    if let Some(p) = i.peer_port {
        v["peerPort"] = json!(p);
    }
    v
}

// `server_props` and `tcp_props` are also in the sequence executor (`sequence/src/exec/server.rs`
// and `tcp.rs`), on purpose: this library cannot call them, since a dependency on
// `chrome-sockets-sequence` would compile `chrome-sockets` with `fault-injection` into every
// build of the oracle, the benches' Chrome row included.

/// `tcp_server::SocketProperties` with each field as given (`#[non_exhaustive]`: fields are set
/// one by one, since the setters take values, not options).
fn server_props(name: Option<String>, persistent: Option<bool>) -> tcp_server::SocketProperties {
    let mut props = tcp_server::SocketProperties::new();
    props.name = name;
    props.persistent = persistent;
    props
}

/// `tcp::SocketProperties` with each field as given.
fn tcp_props(
    name: Option<String>,
    persistent: Option<bool>,
    buffer_size: Option<i32>,
) -> tcp::SocketProperties {
    let mut props = tcp::SocketProperties::new();
    props.name = name;
    props.persistent = persistent;
    props.buffer_size = buffer_size;
    props
}

/// A `create` callback's `CreateInfo`, in Chrome's shape.
fn created(socket_id: i32) -> Value {
    json!({ "socketId": socket_id })
}

fn new_reactor(builder: &ReactorBuilder) -> Result<Reactor<Log>, Error> {
    let mut r: Reactor<Log> = builder.clone().build()?;
    r.tcp_server().on_accept().add_listener(|_, log, info| {
        log.records.push(RawRecord::Accept {
            server: info.socket_id.raw(),
            client: info.client_socket_id.raw(),
        })
    });
    r.tcp_server()
        .on_accept_error()
        .add_listener(|_, log, info| {
            log.records.push(RawRecord::AcceptError {
                server: info.socket_id.raw(),
                code: info.result_code.code(),
            })
        });
    r.tcp().on_receive().add_listener(|_, log, info| {
        log.records.push(RawRecord::Receive {
            socket: info.socket_id.raw(),
            data: info.data.clone(),
        })
    });
    r.tcp().on_receive_error().add_listener(|_, log, info| {
        log.records.push(RawRecord::ReceiveError {
            socket: info.socket_id.raw(),
            code: info.result_code.code(),
        })
    });
    Ok(r)
}

impl LibraryBackend {
    /// A fresh reactor with a listener on every event.
    pub fn new() -> Result<LibraryBackend, Error> {
        LibraryBackend::with_builder(ReactorBuilder::new())
    }

    /// Like [`new`](Self::new), with every session's reactor built from `builder` (the
    /// listeners are added to it), e.g. with ids that start near the wrap. Raw ids must not
    /// repeat within a session: [`Sid`]s map them by first appearance.
    pub fn with_builder(builder: ReactorBuilder) -> Result<LibraryBackend, Error> {
        Ok(LibraryBackend {
            reactor: new_reactor(&builder)?,
            builder,
            log: Log::default(),
            ids: Ids::default(),
            next_call: 0,
            settle: Settle {
                quiet: Duration::from_millis(50),
                max: Duration::from_secs(10),
            },
        })
    }

    /// Changes the settle parameters (default: 50 ms quiet, at most 10 s).
    pub fn set_settle(&mut self, settle: Settle) {
        self.settle = settle;
    }

    /// The raw id `call` is about (0 if none), or the error for a socket not seen yet.
    fn raw_target(&self, call: &Call) -> Result<i32, Error> {
        let kind = call.kind();
        match call.target() {
            Some(sid) => self.ids.raw(kind, sid).ok_or_else(|| unknown(kind, sid)),
            None => Ok(0),
        }
    }

    fn issue(&mut self, call: Call, id: i32) -> usize {
        let n = self.next_call;
        self.next_call += 1;
        let name = call.name();
        self.log.records.push(RawRecord::Issued { call: n, name });
        // Every callback turns its result into Chrome's JSON shape and logs it.
        fn reply<T>(
            n: usize,
            name: &'static str,
            shape: impl Fn(T) -> Value + 'static,
        ) -> impl FnOnce(&mut Reactor<Log>, &mut Log, Result<T, LastError>) + 'static {
            move |_, log, result| {
                log.records.push(RawRecord::Reply {
                    call: n,
                    name,
                    result: result.map(shape).map_err(failure),
                })
            }
        }
        let unit = |()| Value::Null;
        let sid = ServerSocketId::from_raw(id);
        let tid = TcpSocketId::from_raw(id);
        let r = &mut self.reactor;
        match call {
            Call::ServerCreate { name: n2, persistent } => r.tcp_server().create(
                server_props(n2, persistent),
                reply(n, name, |c: tcp_server::CreateInfo| created(c.socket_id.raw())),
            ),
            Call::ServerUpdate {
                name: n2,
                persistent,
                ..
            } => r
                .tcp_server()
                .update(sid, server_props(n2, persistent), reply(n, name, unit)),
            Call::ServerSetPaused { paused, .. } => {
                r.tcp_server()
                    .set_paused(sid, paused, reply(n, name, unit))
            }
            Call::Listen {
                address,
                port,
                backlog,
                ..
            } => r
                .tcp_server()
                .listen(sid, &address, port, backlog, reply(n, name, unit)),
            Call::ServerDisconnect { .. } => {
                r.tcp_server().disconnect(sid, reply(n, name, unit))
            }
            Call::ServerClose { .. } => r.tcp_server().close(sid, reply(n, name, unit)),
            Call::ServerGetInfo { .. } => r
                .tcp_server()
                .get_info(sid, reply(n, name, |i| server_info(&i))),
            Call::ServerGetSockets => r.tcp_server().get_sockets(reply(n, name,
                |v: Vec<tcp_server::SocketInfo>| v.iter().map(server_info).collect(),
            )),
            Call::TcpCreate {
                name: n2,
                persistent,
                buffer_size,
            } => r.tcp().create(
                tcp_props(n2, persistent, buffer_size),
                reply(n, name, |c: tcp::CreateInfo| created(c.socket_id.raw())),
            ),
            Call::TcpUpdate {
                name: n2,
                persistent,
                buffer_size,
                ..
            } => r.tcp().update(
                tid,
                tcp_props(n2, persistent, buffer_size),
                reply(n, name, unit),
            ),
            Call::TcpSetPaused { paused, .. } => {
                r.tcp().set_paused(tid, paused, reply(n, name, unit))
            }
            Call::SetKeepAlive { enable, delay, .. } => {
                r.tcp()
                    .set_keep_alive(tid, enable, delay, reply(n, name, unit))
            }
            Call::SetNoDelay { no_delay, .. } => {
                r.tcp().set_no_delay(tid, no_delay, reply(n, name, unit))
            }
            Call::Connect { address, port, .. } => {
                r.tcp().connect(tid, &address, port, reply(n, name, unit))
            }
            Call::TcpDisconnect { .. } => r.tcp().disconnect(tid, reply(n, name, unit)),
            Call::Send { data, .. } => r.tcp().send(
                tid,
                data.to_bytes(),
                reply(n, name, |s: tcp::SendInfo| {
                    json!({ "resultCode": s.result_code.code(), "bytesSent": s.bytes_sent })
                }),
            ),
            Call::TcpClose { .. } => r.tcp().close(tid, reply(n, name, unit)),
            Call::TcpGetInfo { .. } => r.tcp().get_info(tid, reply(n, name, |i| tcp_info(&i))),
            Call::TcpGetSockets => r.tcp().get_sockets(reply(n, name,
                |v: Vec<tcp::SocketInfo>| v.iter().map(tcp_info).collect(),
            )),
        }
        n
    }
}

impl Backend for LibraryBackend {
    fn name(&self) -> &'static str {
        "library"
    }

    fn call(&mut self, calls: Vec<Call>) -> Result<Vec<usize>, Error> {
        // Like Chrome's batch: a call naming an unknown socket issues none of them.
        let ids = calls
            .iter()
            .map(|c| self.raw_target(c))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(calls
            .into_iter()
            .zip(ids)
            .map(|(c, id)| self.issue(c, id))
            .collect())
    }

    fn run_for(&mut self, duration: Duration) -> Result<(), Error> {
        let end = Instant::now() + duration;
        loop {
            let left = end.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Ok(());
            }
            self.reactor
                .turn(Some(left.min(Duration::from_millis(10))), &mut self.log)?;
        }
    }

    fn settle(&mut self) -> Result<Vec<Record>, Error> {
        let start = Instant::now();
        let mut last_news = Instant::now();
        loop {
            let report = self
                .reactor
                .turn(Some(Duration::from_millis(5)), &mut self.log)?;
            if !report.is_empty() {
                last_news = Instant::now();
            }
            if last_news.elapsed() >= self.settle.quiet || start.elapsed() >= self.settle.max {
                break;
            }
        }
        let raw = std::mem::take(&mut self.log.records);
        Ok(raw.into_iter().map(|r| self.ids.normalise(r)).collect())
    }

    fn ids(&self) -> &Ids {
        &self.ids
    }

    fn reset(&mut self) -> Result<(), Error> {
        self.reactor = new_reactor(&self.builder)?;
        self.log = Log::default();
        self.ids = Ids::default();
        self.next_call = 0;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_round_trips_and_rejects_garbage() {
        let bytes: Vec<u8> = (0..=255).collect();
        assert_eq!(unhex(&hex(&bytes)), Some(bytes));
        assert_eq!(unhex("0"), None);
        assert_eq!(unhex("zz"), None);
    }

    #[test]
    fn chrome_replies_decode_to_records() {
        let entry = json!({
            "k": "reply", "tag": 3, "name": "tcpServer.listen",
            "args": [-147], "lastError": "net::ERR_ADDRESS_IN_USE",
        });
        assert_eq!(
            ChromeBackend::decode(&entry).unwrap(),
            RawRecord::Reply {
                call: 3,
                name: "tcpServer.listen",
                result: Err(Failure {
                    message: "net::ERR_ADDRESS_IN_USE".into(),
                    code: Some(-147),
                }),
            }
        );
        let ok = json!({ "k": "reply", "tag": 1, "name": "tcp.connect", "args": [0], "lastError": null });
        assert!(matches!(
            ChromeBackend::decode(&ok).unwrap(),
            RawRecord::Reply {
                result: Ok(Value::Null),
                ..
            }
        ));
        let bad = json!({ "k": "reply", "tag": 1, "name": "tcp.nonsense", "args": [] });
        assert!(ChromeBackend::decode(&bad).is_err());
    }

    #[test]
    fn library_backend_records_like_chrome_without_chrome() {
        let mut b = LibraryBackend::new().unwrap();
        // A socket can be named only once its creation was seen.
        assert!(matches!(
            b.call(vec![Call::TcpGetInfo {
                socket: Sid::Nth(0)
            }]),
            Err(Error::Scenario(_))
        ));
        b.run(vec![Call::server_create()]).unwrap();
        let records = b
            .run(vec![Call::listen(Sid::Nth(0), "127.0.0.1", 70000)])
            .unwrap();
        assert_eq!(
            records,
            [
                Record::Issued {
                    call: 1,
                    name: "tcpServer.listen"
                },
                Record::Reply {
                    call: 1,
                    name: "tcpServer.listen",
                    result: Err(Failure {
                        message: "net::ERR_INVALID_ARGUMENT".into(),
                        code: Some(-4),
                    }),
                },
            ]
        );
    }
}
