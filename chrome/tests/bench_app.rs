//! The accept-and-close app works and its CPU can be measured: every connection of a short
//! load is accepted and closed by Chrome, and Chrome's process group used CPU for it.

use chrome_oracle::{accept_close_load, ChromeAcceptServer};

#[test]
fn chrome_accepts_and_closes_every_connection() {
    let mut server = ChromeAcceptServer::launch(0).unwrap_or_else(|e| panic!("{e}"));
    let before = server.cpu_time();
    let run = accept_close_load(server.port(), 100, 4).expect("load");
    assert_eq!((run.completed, run.errors), (100, 0), "{run:?}");
    assert_eq!(server.accepted().expect("acceptedCount"), 100);
    assert!(
        server.cpu_time() > before,
        "Chrome's process group used no CPU for 100 connections"
    );
    assert!(
        server.chrome().process_count() >= 2,
        "browser + network service at least"
    );
}
