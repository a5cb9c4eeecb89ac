//! Runs the crate's example binaries as processes, each bounded by a kill on timeout, and
//! checks the command line they share (`examples/common/`).
//!
//! Not part of `util/mod.rs`: `tests/examples.rs` and `hosts/tests/embed.rs` include this file
//! by `#[path]` (as `mod runner`, with `#[macro_use]` for `command_line_tests!`), so that both
//! suites start, wait for and kill an example the same way.

use std::io::{BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long an example may take before the test kills it and fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// `target/<profile>/examples/<name>`, next to this test binary's `deps/` folder.
pub fn example(name: &str) -> PathBuf {
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
pub struct Running {
    pub child: Child,
    pub stdout: BufReader<std::process::ChildStdout>,
}

impl Running {
    /// Spawns `name` with `args`, stdout piped, stderr inherited.
    pub fn start(name: &str, args: &[&str]) -> Running {
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
    pub fn finish(mut self) -> (bool, String) {
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
pub fn run_to_end(name: &str, args: &[&str]) -> (Option<i32>, String, String) {
    run_within(name, args, PATIENCE)
}

/// Runs an example to its end, killed if it outlives `limit`: (exit code, stdout, stderr).
pub fn run_within(name: &str, args: &[&str], limit: Duration) -> (Option<i32>, String, String) {
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

/// The two tests of the shared command line, over a suite's list of example names:
/// `--help`/`-h` print `usage: <name> ...` (naming `--help`) on stdout and exit 0; an unknown
/// flag is one stderr line `<name>: ...` naming it, nothing on stdout, exit 2.
macro_rules! command_line_tests {
    ($names:expr) => {
        #[test]
        fn every_example_answers_help_with_its_usage() {
            for name in $names {
                for flag in ["--help", "-h"] {
                    let (code, out, err) = runner::run_to_end(name, &[flag]);
                    assert_eq!(code, Some(0), "{name} {flag}: {err}");
                    assert!(out.starts_with(&format!("usage: {name}")), "{name}: {out}");
                    assert!(out.contains("--help"), "{name}: {out}");
                }
            }
        }

        #[test]
        fn a_bad_flag_is_one_line_naming_it_and_exit_2() {
            for name in $names {
                let (code, out, err) = runner::run_to_end(name, &["--no-such-flag"]);
                assert_eq!(code, Some(2), "{name}");
                assert_eq!(out, "", "{name}");
                assert_eq!(err.lines().count(), 1, "{name}: {err}");
                assert!(err.starts_with(&format!("{name}: ")), "{name}: {err}");
                assert!(err.contains("--no-such-flag"), "{name}: {err}");
            }
        }
    };
}
