//! The `embed_<host>` examples of chrome-sockets: its reactor driven from inside calloop, tokio,
//! an outer `mio::Poll` and GLib (`cargo run --example embed_tokio -- --self-test`), and the
//! tests that run them (`tests/embed.rs`).
//!
//! A member crate of its own so that the library's tests need none of these hosts (GLib needs
//! its C development files, tokio and calloop a newer rustc than the library's 1.71). This
//! library target is empty; the examples are what the crate is for.
