//! The `embed_<host>` examples (calloop, tokio, an outer mio `Poll`, GLib) do what their docs
//! promise: run as processes, each bounded by its own `--seconds` and by a kill on timeout.
//!
//! `cargo test` builds every example before it runs any test; run the crate's suite
//! (`cargo test -p chrome-sockets-hosts`, not `--test embed` alone) so the binaries exist.

use std::io::{BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const PATIENCE: Duration = Duration::from_secs(20);

/// `target/<profile>/examples/<name>`, next to this test binary's `deps/` folder.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: run the whole suite with `cargo test`, which builds the examples",
        path.display()
    );
    path
}

/// A running example, killed if a test fails before it exits.
struct Running {
    child: Child,
    stdout: BufReader<std::process::ChildStdout>,
}

impl Running {
    fn start(name: &str, args: &[&str]) -> Running {
        let mut child = Command::new(example(name))
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawning the example");
        let stdout = BufReader::new(child.stdout.take().unwrap());
        Running { child, stdout }
    }

    /// Waits (bounded) for the process to exit; returns the rest of stdout.
    fn finish(mut self) -> (bool, String) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            if let Some(status) = self.child.try_wait().expect("try_wait") {
                let mut rest = String::new();
                self.stdout.read_to_string(&mut rest).unwrap();
                return (status.success(), rest);
            }
            assert!(Instant::now() < deadline, "the example did not exit");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs an example to its end (killed after [`PATIENCE`]): (exit code, stdout, stderr).
fn run_to_end(name: &str, args: &[&str]) -> (Option<i32>, String, String) {
    run_within(name, args, PATIENCE)
}

/// Runs an example to its end, killed if it outlives `limit`: (exit code, stdout, stderr).
fn run_within(name: &str, args: &[&str], limit: Duration) -> (Option<i32>, String, String) {
    let mut child = Command::new(example(name))
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning the example");
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{name} {args:?} did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    let out = child.wait_with_output().expect("output");
    let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
    (out.status.code(), text(out.stdout), text(out.stderr))
}

/// The examples of this crate: all share the library's `examples/common` command line.
const WITH_CLI: [&str; 4] = ["embed_calloop", "embed_tokio", "embed_mio", "embed_glib"];

#[test]
fn every_example_answers_help_with_its_usage() {
    for name in WITH_CLI {
        for flag in ["--help", "-h"] {
            let (code, out, err) = run_to_end(name, &[flag]);
            assert_eq!(code, Some(0), "{name} {flag}: {err}");
            assert!(out.starts_with(&format!("usage: {name}")), "{name}: {out}");
            assert!(out.contains("--help"), "{name}: {out}");
        }
    }
}

#[test]
fn a_bad_flag_is_one_line_naming_it_and_exit_2() {
    for name in WITH_CLI {
        let (code, out, err) = run_to_end(name, &["--no-such-flag"]);
        assert_eq!(code, Some(2), "{name}");
        assert_eq!(out, "", "{name}");
        assert_eq!(err.lines().count(), 1, "{name}: {err}");
        assert!(err.starts_with(&format!("{name}: ")), "{name}: {err}");
        assert!(err.contains("--no-such-flag"), "{name}: {err}");
    }
}

// ----- the reactor embedded in other event loops (hosts/examples/embed_<host>.rs) ------------------

/// Runs `embed_<host>` with `args` (bounded by `--seconds 10`); returns its summary line.
fn embed(host: &str, args: &[&str]) -> String {
    let name = format!("embed_{host}");
    let mut all = args.to_vec();
    all.extend(["--seconds", "10"]);
    let (ok, out) = Running::start(&name, &all).finish();
    assert!(ok, "{name} {args:?} failed: {out}");
    out.lines()
        .find(|l| l.starts_with("served in "))
        .unwrap_or_else(|| panic!("no summary from {name}: {out}"))
        .to_owned()
}

/// `--self-test`: 50 echo clients, a timer, the host's own source and a cross-thread wake.
fn embed_self_test(host: &str) {
    let summary = embed(host, &["--self-test"]);
    for part in [
        "accepted 50,",
        "1150 byte(s) echoed",
        "timer fired: true",
        r#"host source: ["echo-done"]"#,
        r#"woken with: ["driver says hello"]"#,
    ] {
        assert!(summary.contains(part), "{host}: no {part:?} in {summary}");
    }
}

/// `--burst 1000`: a thousand connections queued while the listener is paused, one readiness
/// edge when it resumes, and no timer or later connection: with 16 accepts per turn, the other
/// 62 batches are reached only if the host follows `next_timeout() == Some(0)`.
fn embed_burst(host: &str) {
    let summary = embed(host, &["--burst", "1000"]);
    assert!(
        summary.contains("accepted 1000,"),
        "{host}: not every connection was accepted: {summary}"
    );
    assert!(summary.contains("timer fired: false"), "{summary}");
    let follow_ups: u64 = summary
        .rsplit_once(" turn(s), ")
        .and_then(|(_, rest)| rest.strip_suffix(" follow-up(s)"))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no follow-up count in {summary}"));
    assert!(follow_ups >= 62, "{host}: {follow_ups} follow-up turn(s)");
}

#[test]
fn embed_calloop_self_test() {
    embed_self_test("calloop");
}

#[test]
fn embed_calloop_accepts_a_burst_beyond_one_batch_without_a_new_edge() {
    embed_burst("calloop");
}

#[test]
fn embed_tokio_self_test() {
    embed_self_test("tokio");
}

#[test]
fn embed_tokio_accepts_a_burst_beyond_one_batch_without_a_new_edge() {
    embed_burst("tokio");
}

#[test]
fn embed_mio_self_test() {
    embed_self_test("mio");
}

#[test]
fn embed_mio_accepts_a_burst_beyond_one_batch_without_a_new_edge() {
    embed_burst("mio");
}

#[test]
fn embed_glib_self_test() {
    embed_self_test("glib");
}

#[test]
fn embed_glib_accepts_a_burst_beyond_one_batch_without_a_new_edge() {
    embed_burst("glib");
}
