//! What the harness does when Chromium is slow or dies: a reset that times out is retried with
//! a fresh Chromium (at most twice), a third timeout fails with a message that says so, and a
//! Chromium that exits is reported as such, never retried. Timeouts are injected
//! ([`ChromeBackend::inject_timeouts`]); the crash is a real SIGKILL of Chromium's process group.

use chrome_oracle::scenario::listening_server;
use chrome_oracle::{Backend, ChromeBackend, Error, Sid, CHROME_RETRIES};

fn launch() -> ChromeBackend {
    ChromeBackend::launch().unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn a_reset_that_times_out_is_retried_with_a_fresh_chromium_twice_at_most() {
    let mut b = launch();
    assert_eq!(b.retries(), 0);
    listening_server(&mut b).expect("a server on the first Chromium");
    let first = b.chrome().pgid();

    // One timeout: the reset goes on with a fresh Chromium, whose session starts from 0.
    b.inject_timeouts(1);
    b.reset().expect("one timed-out reset is retried");
    assert_eq!(b.retries(), 1);
    let second = b.chrome().pgid();
    assert_ne!(second, first, "the retry runs on a fresh Chromium");
    let (server, port) = listening_server(&mut b).expect("a server on the fresh Chromium");
    assert_eq!(server, Sid::Nth(0), "the fresh session counts from 0");
    assert_ne!(port, 0);

    // Three in a row: the reload and both fresh launches time out; the run is told.
    b.inject_timeouts(CHROME_RETRIES + 1);
    let err = b.reset().expect_err("three timeouts in a row fail");
    assert!(matches!(err, Error::Timeout(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "chromium: timed out: the app's background page never appeared (injected); \
         reset gave up after 2 retries with a fresh Chromium"
    );
    assert_eq!(b.retries(), 1 + CHROME_RETRIES);

    // The hook is spent: the next reset launches a Chromium that works.
    b.reset().expect("a reset after the injected timeouts");
    assert_eq!(b.retries(), 1 + CHROME_RETRIES);
    listening_server(&mut b).expect("a server after the failed resets");
}

#[test]
fn a_chromium_that_exits_is_reported_not_retried() {
    let mut b = launch();
    listening_server(&mut b).expect("a server");
    b.chrome().kill();
    let err = listening_server(&mut b).expect_err("Chromium is gone");
    assert!(matches!(err, Error::Exited(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "chromium exited (signal: 9 (SIGKILL)) during Runtime.evaluate"
    );
    let err = b.reset().expect_err("a reset of a dead Chromium");
    assert!(matches!(err, Error::Exited(_)), "{err:?}");
    assert_eq!(b.retries(), 0, "an exit is not a timeout: never retried");
}
