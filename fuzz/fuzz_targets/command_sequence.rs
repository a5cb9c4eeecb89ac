//! Fuzzes sequences of tcpServer/tcp calls, peers, timers, turns and lifecycle steps against
//! the reference model in `tests/sequence/` (shared with `cargo test --test random_sequences`).
//!
//! `RUSTC_BOOTSTRAP=1 cargo fuzz run command_sequence` (from the repository root); a crash is
//! turned into text with `cargo run --example replay -- --print <artifact>`.
#![no_main]

#[path = "../../tests/sequence/mod.rs"]
mod sequence;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = sequence::Input::from_bytes(data);
    sequence::run(&input, &sequence::Options::default());
});
