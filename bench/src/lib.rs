//! The benchmarks of chrome-sockets (`benches/`): accept throughput against a hand-written mio
//! loop, tokio, Node and real Chrome, the cost of each API call, and memory per idle connection.
//! Run them from the repository root, for example `cargo bench --bench accept_throughput`.
//!
//! A member crate of its own so that the library's tests need none of the baselines' crates.
//! This library target is empty; the benches are what the crate is for.
