//! Starting Chromium with an app and talking DevTools to the app's background page over
//! `--remote-debugging-pipe`.

use std::collections::VecDeque;
use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::Child;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::thread;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::process;

/// How long one DevTools command may take before the harness gives up.
const COMMAND_TIMEOUT: Duration = Duration::from_secs(30);
/// How long Chromium may take to show the app's background page.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Chrome counts a `chrome.runtime.reload()` that comes within this long of the app's previous
/// one as "fast" (`kUnpackedFastReloadTime` in `chrome_runtime_api_delegate.cc`: apps loaded
/// with `--load-and-launch-app` are an unpacked location).
const FAST_RELOAD: Duration = Duration::from_millis(1000);
/// Chrome terminates an unpacked app at its 30th fast reload in a row
/// (`kUnpackedFastReloadCount`): the reload is refused, the app unloaded, and its background
/// page never comes back. Measured on Chromium 156: 30 reloads back to back (0.16-0.51 s each)
/// come back, the 31st never does. [`Chrome::reload_app`] keeps its own count well below.
const FAST_RELOADS_ALLOWED: u32 = 20;

/// What went wrong driving Chrome. `Display` is one line.
#[derive(Debug)]
pub enum Error {
    /// No Chromium binary: the tests that need it fail with this message.
    ChromiumMissing,
    /// An OS error starting or talking to Chromium.
    Io(io::Error),
    /// Chromium did not answer in time, or the page never came up.
    Timeout(String),
    /// DevTools answered with an error, or something unexpected.
    Protocol(String),
    /// The evaluated JavaScript threw.
    Js(String),
    /// A scenario used a socket that has not appeared yet, or the like.
    Scenario(String),
    /// Chromium's browser process went away (crashed or was killed) while the harness was
    /// talking to it: what the harness was doing and how the process ended.
    Exited(String),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::ChromiumMissing => {
                f.write_str("chromium not found: apt-get install -y chromium")
            }
            Error::Io(e) => write!(f, "chromium: {e}"),
            Error::Timeout(what) => write!(f, "chromium: timed out: {what}"),
            Error::Protocol(what) => write!(f, "chromium devtools: {what}"),
            Error::Js(what) => write!(f, "chromium page threw: {what}"),
            Error::Scenario(what) => write!(f, "scenario: {what}"),
            Error::Exited(what) => write!(f, "chromium exited {what}"),
        }
    }
}

impl std::error::Error for Error {}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

/// The Chromium binary: `$CS_CHROMIUM` if set, else the first `chromium` on `PATH`.
pub fn chromium_path() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("CS_CHROMIUM") {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("chromium"))
        .find(|p| p.is_file())
}

/// The oracle app shipped in this crate (`chrome/app`).
pub fn oracle_app_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("app")
}

/// The accept-and-close app shipped in this crate (`chrome/bench-app`).
pub fn bench_app_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("bench-app")
}

/// A running headless Chromium with one Chrome App loaded, attached to the app's background
/// page. Dropping it kills Chromium's whole process group and removes its profile directory.
pub struct Chrome {
    child: Child,
    to_chrome: File,
    from_chrome: Receiver<Value>,
    /// Messages read while waiting for another one (events, late replies).
    unclaimed: VecDeque<Value>,
    next_id: u64,
    session: String,
    target: String,
    profile: PathBuf,
    launch_time: Duration,
    /// When the last reload was known to be done (the reloaded page answered), and how many
    /// reloads in a row may have been "fast" for Chrome (see [`FAST_RELOAD`]).
    last_reload: Option<Instant>,
    fast_reloads: u32,
}

impl fmt::Debug for Chrome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chrome")
            .field("pid", &self.child.id())
            .field("target", &self.target)
            .field("launch_time", &self.launch_time)
            .finish()
    }
}

static PROFILES: AtomicU64 = AtomicU64::new(0);

impl Chrome {
    /// Starts Chromium with the oracle app (`chrome/app`) and waits until its background page
    /// answers. Chromium missing: [`Error::ChromiumMissing`].
    pub fn launch() -> Result<Chrome, Error> {
        Chrome::launch_app(&oracle_app_dir())
    }

    /// Starts Chromium with the Chrome App in `app_dir` (headless, fresh profile, its own
    /// process group) and attaches to the app's background page.
    pub fn launch_app(app_dir: &Path) -> Result<Chrome, Error> {
        let binary = chromium_path().ok_or(Error::ChromiumMissing)?;
        let started = Instant::now();
        let profile = std::env::temp_dir().join(format!(
            "chrome-oracle-{}-{}",
            std::process::id(),
            PROFILES.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&profile);
        std::fs::create_dir_all(&profile)?;
        let log = File::create(profile.join("chrome.log"))?;
        let mut args: Vec<String> = [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--remote-debugging-pipe",
        ]
        .map(String::from)
        .to_vec();
        args.push(format!("--user-data-dir={}", profile.display()));
        args.push(format!("--load-and-launch-app={}", app_dir.display()));
        args.push("about:blank".into());
        let piped = match process::spawn_with_pipe(&binary, &args, log) {
            Ok(p) => p,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&profile);
                return Err(e.into());
            }
        };
        let (tx, rx) = mpsc::channel();
        let from_child = piped.from_child;
        thread::Builder::new()
            .name("chrome-devtools-reader".into())
            .spawn(move || {
                let mut reader = BufReader::new(from_child);
                let mut buf = Vec::new();
                loop {
                    buf.clear();
                    match reader.read_until(0, &mut buf) {
                        Ok(0) | Err(_) => return,
                        Ok(_) => {}
                    }
                    if buf.last() == Some(&0) {
                        buf.pop();
                    }
                    let Ok(msg) = serde_json::from_slice::<Value>(&buf) else {
                        continue;
                    };
                    if tx.send(msg).is_err() {
                        return;
                    }
                }
            })?;
        let mut chrome = Chrome {
            child: piped.child,
            to_chrome: piped.to_child,
            from_chrome: rx,
            unclaimed: VecDeque::new(),
            next_id: 1,
            session: String::new(),
            target: String::new(),
            profile,
            launch_time: Duration::ZERO,
            last_reload: None,
            fast_reloads: 0,
        };
        chrome.attach_to_app(None, started + READY_TIMEOUT)?;
        chrome.launch_time = started.elapsed();
        Ok(chrome)
    }

    /// From spawning Chromium to the background page answering.
    pub fn launch_time(&self) -> Duration {
        self.launch_time
    }

    /// The browser's pid, which is also the id of Chromium's process group.
    pub fn pgid(&self) -> u32 {
        self.child.id()
    }

    /// User + system CPU time of every live Chromium process (the whole process group).
    pub fn cpu_time(&self) -> Duration {
        process::group_cpu_time(self.pgid()).0
    }

    /// How many processes Chromium's process group has right now.
    pub fn process_count(&self) -> usize {
        process::group_cpu_time(self.pgid()).1
    }

    /// The profile directory; `chrome.log` in it has Chromium's stderr.
    pub fn profile_dir(&self) -> &Path {
        &self.profile
    }

    /// Sends one DevTools command (to the attached page if `session` is set) and waits for its
    /// reply's `result`.
    pub fn command(&mut self, method: &str, params: Value, to_page: bool) -> Result<Value, Error> {
        let id = self.send(method, params, to_page)?;
        self.reply(id, method, Instant::now() + COMMAND_TIMEOUT)
    }

    fn send(&mut self, method: &str, params: Value, to_page: bool) -> Result<u64, Error> {
        let id = self.next_id;
        self.next_id += 1;
        let mut msg = json!({ "id": id, "method": method, "params": params });
        if to_page {
            msg["sessionId"] = Value::String(self.session.clone());
        }
        let mut bytes = serde_json::to_vec(&msg).map_err(|e| Error::Protocol(e.to_string()))?;
        bytes.push(0);
        if let Err(e) = self.to_chrome.write_all(&bytes) {
            return Err(self.exited(method).unwrap_or(Error::Io(e)));
        }
        Ok(id)
    }

    fn reply(&mut self, id: u64, method: &str, deadline: Instant) -> Result<Value, Error> {
        if let Some(i) = self.unclaimed.iter().position(|m| m["id"] == id) {
            let msg = self.unclaimed.remove(i).unwrap_or_default();
            return into_result(msg, method);
        }
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.from_chrome.recv_timeout(left) {
                Ok(msg) if msg["id"] == id => return into_result(msg, method),
                Ok(msg) => {
                    if msg.get("id").is_none() {
                        // Events: keep only a bounded tail, nobody needs more.
                        if self.unclaimed.len() > 1000 {
                            self.unclaimed.pop_front();
                        }
                    }
                    self.unclaimed.push_back(msg);
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(Error::Timeout(format!("no reply to {method}")))
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(self.exited(method).unwrap_or_else(|| {
                        Error::Protocol(format!("closed its DevTools pipe during {method}"))
                    }))
                }
            }
        }
    }

    /// [`Error::Exited`] if the browser process has ended (waiting up to a second for it to be
    /// reaped: the pipe closes a moment before the process is gone), with its exit status.
    fn exited(&mut self, during: &str) -> Option<Error> {
        let deadline = Instant::now() + Duration::from_secs(1);
        loop {
            match self.child.try_wait() {
                Ok(Some(status)) => {
                    return Some(Error::Exited(format!("({status}) during {during}")));
                }
                Ok(None) if Instant::now() < deadline => thread::sleep(Duration::from_millis(10)),
                Ok(None) | Err(_) => return None,
            }
        }
    }

    /// Kills Chromium's whole process group now, as a crash would end it: what the harness
    /// reports next is [`Error::Exited`]. For tests of that report.
    pub fn kill(&mut self) {
        process::kill_group(self.child.id());
        let _ = self.child.kill();
    }

    /// Evaluates `expression` in the app's background page (`awaitPromise`, `returnByValue`)
    /// and returns its JSON value.
    pub fn evaluate(&mut self, expression: &str) -> Result<Value, Error> {
        let params = json!({
            "expression": expression,
            "awaitPromise": true,
            "returnByValue": true,
        });
        let result = self.command("Runtime.evaluate", params, true)?;
        if let Some(details) = result.get("exceptionDetails") {
            let text = details["exception"]["description"]
                .as_str()
                .or_else(|| details["text"].as_str())
                .unwrap_or("exception")
                .lines()
                .next()
                .unwrap_or_default()
                .to_string();
            return Err(Error::Js(text));
        }
        Ok(result["result"]["value"].clone())
    }

    /// Returns the page's log (see `app/background.js`) and clears it.
    pub fn drain(&mut self) -> Result<Vec<Value>, Error> {
        match self.evaluate("drain()")? {
            Value::Array(entries) => Ok(entries),
            other => Err(Error::Protocol(format!("drain() returned {other}"))),
        }
    }

    /// Drains the log until nothing new arrived for `quiet`, or `max` has passed; returns
    /// everything drained. Chrome dispatches as things happen (it has no turns), so this is
    /// how a scenario waits for Chrome to settle.
    pub fn wait_quiet(&mut self, quiet: Duration, max: Duration) -> Result<Vec<Value>, Error> {
        let start = Instant::now();
        let mut last_news = Instant::now();
        let mut all = Vec::new();
        loop {
            let got = self.drain()?;
            if !got.is_empty() {
                last_news = Instant::now();
                all.extend(got);
            }
            if last_news.elapsed() >= quiet || start.elapsed() >= max {
                return Ok(all);
            }
            thread::sleep(Duration::from_millis(5).min(quiet));
        }
    }

    /// Reloads the app (`chrome.runtime.reload()`, Chrome's `unload_app`): every socket of the
    /// app is closed and the background page starts again with a fresh script. Chrome keeps
    /// the page's DevTools target across a reload (measured: same target id), so this waits for
    /// the new script to answer on the same session, and re-attaches if the target changed.
    ///
    /// Chrome terminates an app that reloads itself too often (30 reloads in a row each within
    /// 1 s of the previous: its background page then never comes back): this waits, when needed, until more than 1 s has
    /// passed since the previous reload was done, so Chrome's count starts again. That costs at
    /// most one second every 20 reloads.
    pub fn reload_app(&mut self) -> Result<(), Error> {
        self.pace_reload();
        let result = self.reload_and_wait();
        self.last_reload = Some(Instant::now());
        result
    }

    /// Keeps Chrome's count of fast reloads below its limit. Chrome stamps a reload when its
    /// browser process handles `chrome.runtime.reload()`: the previous stamp came before the
    /// previous reload was done (`last_reload`), the next comes after now. So a gap of more
    /// than [`FAST_RELOAD`] between the two here is one for Chrome too, and resets its count;
    /// any other reload is counted as fast (this count is never below Chrome's).
    fn pace_reload(&mut self) {
        let Some(done) = self.last_reload else {
            return; // Chrome's first reload of the app is never fast.
        };
        if self.fast_reloads + 1 >= FAST_RELOADS_ALLOWED {
            let slow = done + FAST_RELOAD + Duration::from_millis(20);
            thread::sleep(slow.saturating_duration_since(Instant::now()));
        }
        if done.elapsed() > FAST_RELOAD {
            self.fast_reloads = 0;
        } else {
            self.fast_reloads += 1;
        }
    }

    fn reload_and_wait(&mut self) -> Result<(), Error> {
        // The old script marks its window; the reloaded one does not have the mark.
        self.evaluate(
            "window.__oracleOld = true; setTimeout(() => chrome.runtime.reload(), 0); true",
        )?;
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            match self.background_page()? {
                Some(target) if target != self.target => {
                    return self.attach_to_app(None, deadline);
                }
                Some(_) => {
                    let probe = "!window.__oracleOld && typeof ready === 'function' && ready()";
                    match self.evaluate(probe) {
                        Ok(Value::String(_)) => return Ok(()),
                        Ok(_) | Err(Error::Js(_)) | Err(Error::Protocol(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
                None => return self.attach_to_app(None, deadline),
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout("the reloaded app never answered".into()));
            }
            thread::sleep(Duration::from_millis(10));
        }
    }

    /// Closes the background page (Chrome's `suspend_app`: the app's non-persistent sockets
    /// are closed) and waits until the target is gone. Before closing, the page sets a
    /// one-shot alarm `wake` (`wake_after` from now) that starts the page again; call
    /// [`Chrome::wait_for_page`] to attach to it.
    pub fn suspend_app(&mut self, wake_after: Duration) -> Result<(), Error> {
        let target = self.target.clone();
        let ms = wake_after.as_millis();
        self.evaluate(&format!(
            "chrome.alarms.create('wake', {{ when: Date.now() + {ms} }}); true"
        ))?;
        self.command("Target.closeTarget", json!({ "targetId": target }), false)?;
        let deadline = Instant::now() + READY_TIMEOUT;
        while Instant::now() < deadline {
            if self.background_page()?.as_deref() != Some(target.as_str()) {
                self.session.clear();
                return Ok(());
            }
            thread::sleep(Duration::from_millis(10));
        }
        Err(Error::Timeout(
            "background page still open after closeTarget".into(),
        ))
    }

    /// Waits for the app's background page to run again after [`Chrome::suspend_app`] and
    /// attaches to it.
    pub fn wait_for_page(&mut self) -> Result<(), Error> {
        let old = self.target.clone();
        self.attach_to_app(Some(&old), Instant::now() + READY_TIMEOUT)
    }

    /// The target id of the app's background page, if one is open.
    fn background_page(&mut self) -> Result<Option<String>, Error> {
        let targets = self.command("Target.getTargets", json!({}), false)?;
        let found = targets["targetInfos"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| {
                t["type"] == "background_page"
                    && t["url"]
                        .as_str()
                        .is_some_and(|u| u.starts_with("chrome-extension://"))
            })
            .and_then(|t| t["targetId"].as_str().map(str::to_string));
        Ok(found)
    }

    /// Waits for a background page other than `not`, attaches to it and waits until the app's
    /// script has run (its `ready()` answers).
    fn attach_to_app(&mut self, not: Option<&str>, deadline: Instant) -> Result<(), Error> {
        loop {
            if let Some(target) = self.background_page()? {
                if Some(target.as_str()) != not {
                    let attached = self.command(
                        "Target.attachToTarget",
                        json!({ "targetId": target, "flatten": true }),
                        false,
                    )?;
                    let session = attached["sessionId"]
                        .as_str()
                        .ok_or_else(|| Error::Protocol(format!("attach answered {attached}")))?;
                    self.session = session.to_string();
                    self.target = target;
                    break;
                }
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout(
                    "the app's background page never appeared".into(),
                ));
            }
            thread::sleep(Duration::from_millis(10));
        }
        loop {
            match self.evaluate("typeof ready === 'function' && ready()") {
                Ok(Value::String(_)) => return Ok(()),
                Ok(_) | Err(Error::Js(_)) => {}
                Err(e) => return Err(e),
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout("the app's script never ran".into()));
            }
            thread::sleep(Duration::from_millis(10));
        }
    }
}

fn into_result(msg: Value, method: &str) -> Result<Value, Error> {
    if let Some(err) = msg.get("error") {
        return Err(Error::Protocol(format!("{method}: {err}")));
    }
    Ok(msg.get("result").cloned().unwrap_or(Value::Null))
}

impl Drop for Chrome {
    fn drop(&mut self) {
        process::kill_group(self.child.id());
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
