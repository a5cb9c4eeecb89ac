//! `examples/soak.rs` in quick mode: five seconds of the whole mix end with nothing lost,
//! memory and fds flat, and the promised summary line; bad arguments are refused.
//!
//! `cargo test` builds every example before it runs any test; run the whole suite (not
//! `--test soak` alone) so the binary exists.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// `target/<profile>/examples/soak`, next to this test binary's `deps/` folder.
fn soak() -> PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let path = profile_dir.join("examples").join("soak");
    assert!(
        path.exists(),
        "{} is missing: run the whole suite with `cargo test`, which builds the examples",
        path.display()
    );
    path
}

/// Runs the soak with `args`, killed if it outlives `limit`.
fn run(args: &[&str], limit: Duration) -> Output {
    let mut child = Command::new(soak())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning the soak example");
    let deadline = Instant::now() + limit;
    while child.try_wait().expect("try_wait").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the soak did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().expect("output")
}

#[test]
fn five_seconds_of_the_mix_lose_nothing_and_stay_flat() {
    let out = run(&["--seconds", "5"], Duration::from_secs(120));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "soak failed:\n{stdout}\n{stderr}");
    let last = stdout.lines().last().expect("a summary line");
    // soak: N connections, B bytes, 0 lost, rss first/last third X/Y KiB, fds X/Y
    let words: Vec<&str> = last.split_whitespace().collect();
    assert_eq!(words[0], "soak:", "{last}");
    assert!(words[1].parse::<u64>().unwrap() > 0, "{last}");
    assert_eq!(words[2], "connections,", "{last}");
    assert!(words[3].parse::<u64>().unwrap() > 0, "{last}");
    assert_eq!(
        &words[4..10],
        ["bytes,", "0", "lost,", "rss", "first/last", "third"]
    );
    let pair = |w: &str| -> (u64, u64) {
        let (a, b) = w.split_once('/').expect("X/Y");
        (a.parse().unwrap(), b.parse().unwrap())
    };
    let (rss0, rss1) = pair(words[10]);
    assert!(rss0 > 0 && rss1 > 0, "{last}");
    assert_eq!(words[11], "KiB,", "{last}");
    assert_eq!(words[12], "fds", "{last}");
    let (fds0, fds1) = pair(words[13]);
    assert!(fds0 > 0 && fds1 > 0, "{last}");
    assert_eq!(words.len(), 14, "{last}");
}

#[test]
fn help_and_bad_arguments() {
    let help = run(&["--help"], Duration::from_secs(20));
    assert!(help.status.success());
    assert!(String::from_utf8_lossy(&help.stdout).contains("--minutes N"));
    for bad in [
        &[][..],
        &["--minutes"],
        &["--seconds", "0"],
        &["--hours", "1"],
    ] {
        let out = run(bad, Duration::from_secs(20));
        assert_eq!(out.status.code(), Some(2), "{bad:?}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("soak: "), "{bad:?}: {err}");
        assert_eq!(err.lines().count(), 1, "one line, as every example: {err}");
    }
}
