//! Real Chromium as the oracle for `chrome-sockets`.
//!
//! - [`Chrome`] starts a headless Chromium with a Chrome App (`app/`) and drives the app's
//!   background page over the DevTools pipe; the app runs any `chrome.sockets.tcpServer` /
//!   `chrome.sockets.tcp` call by name and logs every callback and event in dispatch order.
//! - [`Call`] and [`Record`] are a vocabulary both backends speak: [`ChromeBackend`] (the
//!   app) and [`LibraryBackend`] (a `chrome_sockets::Reactor`) run the same calls and return
//!   the same records, with socket ids normalised to creation order ([`Sid`]).
//! - [`Peer`] is the loopback client both sides are tested with.
//! - [`ChromeAcceptServer`] (`bench-app/`) and [`accept_close_load`] put Chrome in the
//!   accept benchmark; [`Chrome::cpu_time`] sums CPU over all of Chromium's processes.

#![deny(missing_docs, missing_debug_implementations, rust_2018_idioms)]

mod backend;
mod bench;
mod chrome;
mod peer;
mod process;
pub mod scenario;
mod vocab;

pub use backend::{hex, Backend, ChromeBackend, LibraryBackend, Settle, CHROME_RETRIES};
pub use bench::{accept_close_load, ChromeAcceptServer, LoadResult};
pub use chrome::{bench_app_dir, chromium_path, oracle_app_dir, Chrome, Error};
pub use peer::{keepalive_timer, Peer, PeerListener};
pub use process::group_cpu_time;
pub use vocab::{Call, Failure, Ids, Kind, Payload, Record, Sid};
