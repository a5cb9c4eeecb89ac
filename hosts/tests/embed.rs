//! The `embed_<host>` examples (calloop, tokio, an outer mio `Poll`, GLib) do what their docs
//! promise: run as processes, each bounded by its own `--seconds` and by a kill on timeout.
//!
//! `cargo test` builds every example before it runs any test; run the crate's suite
//! (`cargo test -p chrome-sockets-hosts`, not `--test embed` alone) so the binaries exist.

#[path = "../../tests/util/example_runner.rs"]
#[macro_use]
mod runner;
use runner::Running;

/// The examples of this crate: all share the library's `examples/common` command line.
const WITH_CLI: [&str; 4] = ["embed_calloop", "embed_tokio", "embed_mio", "embed_glib"];

command_line_tests!(WITH_CLI);

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
