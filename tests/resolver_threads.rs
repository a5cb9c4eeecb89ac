//! The resolver pool's thread bound, alone in its binary so that no other test's threads
//! blur the process's thread count: 2,000 host-name connects issued in one turn all get
//! their callback while the process never has more than its baseline plus 4 threads, the
//! threads exit once idle, and dropping a reactor with lookups queued lets them go at once.
mod util;

use std::time::{Duration, Instant};

use chrome_sockets::tcp::SocketProperties;
use chrome_sockets::{Reactor, ReactorBuilder, TcpSocketId};
use util::*;

/// Threads of this process now (`Threads:` of `/proc/self/status`).
fn threads() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("Threads: line")
}

/// The app state: connect callbacks answered, and the most threads seen.
#[derive(Default)]
struct App {
    ids: Vec<TcpSocketId>,
    answered: usize,
    refused: usize,
    max_threads: usize,
}

/// Turns until `threads()` is `n` again (each idle thread exits after the idle timeout).
fn wait_for_threads(r: &mut Reactor<App>, app: &mut App, n: usize) {
    let deadline = Instant::now() + PATIENCE;
    while threads() != n {
        assert!(
            Instant::now() < deadline,
            "{} threads, expected {n}",
            threads()
        );
        r.turn(Some(Duration::from_millis(10)), app).expect("turn");
    }
}

/// 2,000 sockets created through `r`.
fn create_sockets(r: &mut Reactor<App>, app: &mut App, n: usize) {
    for _ in 0..n {
        r.tcp()
            .create(SocketProperties::new(), |_, app: &mut App, created| {
                app.ids.push(created.expect("create").socket_id);
            });
    }
    turn_until(r, app, |a| a.ids.len() == n);
}

#[test]
fn two_thousand_host_name_connects_in_one_turn_use_at_most_four_resolver_threads() {
    init();
    rlimit::increase_nofile_limit(8192).expect("RLIMIT_NOFILE");
    let baseline = threads();
    let refused = closed_port();
    let mut r: Reactor<App> = ReactorBuilder::new()
        .resolver_idle_timeout(Duration::from_millis(200))
        .build()
        .expect("reactor");
    let mut app = App::default();
    create_sockets(&mut r, &mut app, 2000);
    assert_eq!(threads(), baseline, "no thread before a host name is used");

    // All 2,000 from one callback, so they are issued within one turn.
    r.set_timeout(Duration::ZERO, move |r, app: &mut App| {
        for id in app.ids.clone() {
            r.tcp()
                .connect(id, "localhost", refused, |_, app: &mut App, res| {
                    app.answered += 1;
                    if res.is_err_and(|e| e.code().map(|c| c.code()) == Some(-102)) {
                        app.refused += 1;
                    }
                    app.max_threads = app.max_threads.max(threads());
                });
        }
        app.max_threads = app.max_threads.max(threads());
    });
    let deadline = Instant::now() + Duration::from_secs(60);
    while app.answered < 2000 {
        assert!(
            Instant::now() < deadline,
            "{} of 2,000 answered",
            app.answered
        );
        r.turn(Some(Duration::from_millis(10)), &mut app)
            .expect("turn");
        app.max_threads = app.max_threads.max(threads());
    }
    assert_eq!(app.answered, 2000, "every connect answered once");
    assert_eq!(
        app.refused, 2000,
        "every connect refused (-102) by the closed port"
    );
    assert!(
        app.max_threads > baseline,
        "the lookups ran on resolver threads (max {} = baseline)",
        app.max_threads
    );
    assert!(
        app.max_threads <= baseline + 4,
        "at most 4 resolver threads: baseline {baseline}, max {}",
        app.max_threads
    );
    eprintln!(
        "threads: baseline {baseline}, most seen {} while 2,000 host-name connects were answered",
        app.max_threads
    );

    // Idle threads exit (after 200 ms here, 5 s by default).
    wait_for_threads(&mut r, &mut app, baseline);

    // A reactor dropped with lookups still queued: the drop does not wait, and its threads
    // exit once the lookup in hand (if any) is done.
    let mut r2: Reactor<App> = ReactorBuilder::new().build().expect("reactor");
    let mut app2 = App::default();
    create_sockets(&mut r2, &mut app2, 2000);
    for id in app2.ids.clone() {
        r2.tcp().connect(id, "localhost", refused, |_, _, _| {});
    }
    assert!(threads() <= baseline + 4);
    drop_within(r2, Duration::from_secs(1));
    wait_for_threads(&mut r, &mut app, baseline);
}
