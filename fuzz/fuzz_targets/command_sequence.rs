//! Fuzzes sequences of tcpServer/tcp calls, peers, timers, turns and lifecycle steps against
//! the reference model in `sequence/`, the `chrome-sockets-sequence` crate (shared with
//! `cargo test --test random_sequences` and `examples/replay.rs`).
//!
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run command_sequence` (from the repository root); a crash is
//! turned into text with `cargo run --example replay -- --print <artifact>`.
#![no_main]

use chrome_sockets_sequence::{run, Input, Options};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    run(&Input::from_bytes(data), &Options::default());
});
