//! Embedding in a host loop: the poll fd's readiness, zero-timeout turns, `next_timeout`, and
//! the cross-thread waker (`wake` and `stop`).
use crate::util::*;

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsFd, AsRawFd};
use std::sync::mpsc;
use std::time::Duration;

use chrome_sockets::tcp_server::SocketProperties;
use chrome_sockets::{Reactor, ReactorBuilder, TcpSocketId, Waker};
use rustix::event::{poll, PollFd, PollFlags, Timespec};

/// poll(2) on `fds` for readability; returns which are readable.
fn readable(fds: &[&dyn AsFd], timeout: Duration) -> Vec<bool> {
    let timeout = Timespec::try_from(timeout).unwrap();
    let mut pfds: Vec<PollFd<'_>> = fds
        .iter()
        .map(|fd| PollFd::from_borrowed_fd(fd.as_fd(), PollFlags::IN))
        .collect();
    loop {
        match poll(&mut pfds, Some(&timeout)) {
            Ok(_) => break,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => panic!("poll: {e}"),
        }
    }
    pfds.iter()
        .map(|p| p.revents().contains(PollFlags::IN))
        .collect()
}

#[derive(Default)]
struct App {
    accepted: Vec<TcpSocketId>,
}

fn accepting_reactor() -> Reactor<App> {
    accepting_reactor_from(ReactorBuilder::new())
}

/// A reactor built by `builder` that records every accepted socket.
fn accepting_reactor_from(builder: ReactorBuilder) -> Reactor<App> {
    let mut r: Reactor<App> = builder.build().unwrap();
    r.tcp_server().on_accept().add_listener(|_, app, info| {
        app.accepted.push(info.client_socket_id);
    });
    r
}

#[test]
fn waker_is_send_sync_and_clone() {
    fn assert_traits<T: Send + Sync + Clone + 'static>() {}
    assert_traits::<Waker>();
}

#[test]
fn raw_fd_and_as_fd_name_the_same_poll_fd() {
    let r: Reactor = Reactor::new().unwrap();
    assert_eq!(r.as_fd().as_raw_fd(), r.as_raw_fd());
    assert!(r.as_raw_fd() >= 0);
}

#[test]
fn poll_fd_is_quiet_while_idle_and_readable_once_a_client_connects() {
    // Host-loop pattern: poll(2) the reactor's fd, then turn(Some(ZERO)) when it is readable.
    let mut r = accepting_reactor();
    let mut app = App::default();
    let (_server, addr) = listen_on_loopback(&mut r, &mut app);
    assert_eq!(r.next_timeout(), None, "idle: nothing to do until I/O");
    assert_eq!(
        readable(&[&r], Duration::from_millis(50)),
        vec![false],
        "an idle reactor's fd is not readable"
    );

    let _client = connect(addr);
    assert_eq!(
        readable(&[&r], PATIENCE),
        vec![true],
        "a pending connection makes the fd readable"
    );
    let report = r.turn(Some(Duration::ZERO), &mut app).unwrap();
    assert!(report.events >= 1);
    assert_eq!(
        app.accepted.len(),
        1,
        "the zero-timeout turn dispatched on_accept"
    );

    // Served: quiet again.
    assert_eq!(r.next_timeout(), None);
    assert_eq!(readable(&[&r], Duration::from_millis(50)), vec![false]);
}

#[test]
fn host_loop_serves_its_own_pipe_and_the_reactor_side_by_side() {
    let mut r = accepting_reactor();
    let mut app = App::default();
    let (_server, addr) = listen_on_loopback(&mut r, &mut app);
    let (rx, tx) = rustix::pipe::pipe().unwrap();
    let (mut rx, mut tx) = (File::from(rx), File::from(tx));

    // Only the host's own fd is ready: the reactor's is not.
    tx.write_all(b"ping").unwrap();
    assert_eq!(
        readable(&[&r, &rx], Duration::from_millis(50)),
        vec![false, true]
    );
    let mut buf = [0u8; 4];
    rx.read_exact(&mut buf).unwrap();
    assert_eq!(&buf, b"ping");

    // Only the reactor's is ready.
    let _client = connect(addr);
    assert_eq!(readable(&[&r, &rx], PATIENCE), vec![true, false]);
    r.turn(Some(Duration::ZERO), &mut app).unwrap();
    assert_eq!(app.accepted.len(), 1);
}

#[test]
fn zero_timeout_turn_returns_at_once_with_nothing_to_do() {
    // A turn with Some(ZERO) never blocks, even with only a far-away timer pending. Run on a
    // thread of its own so a blocking turn fails the test instead of hanging it.
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut r: Reactor = Reactor::new().unwrap();
        r.set_timeout(Duration::from_secs(3600), |_, _| {});
        let report = r.turn(Some(Duration::ZERO), &mut ()).unwrap();
        done_tx.send(report).unwrap();
    });
    let report = done_rx
        .recv_timeout(PATIENCE)
        .expect("a zero-timeout turn blocked");
    assert!(report.is_empty());
}

#[test]
fn waker_from_another_thread_ends_a_turn_blocked_without_timeout() {
    let (waker_tx, waker_rx) = mpsc::channel::<Waker>();
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut r: Reactor = Reactor::new().unwrap();
        waker_tx.send(r.waker()).unwrap();
        // No sockets, no timers: only the waker can end this turn.
        let report = r.turn(None, &mut ()).unwrap();
        done_tx.send(report).unwrap();
    });
    let waker = waker_rx.recv_timeout(PATIENCE).unwrap();
    // The turn is (very likely) blocked by now; a wake before it blocks works too.
    std::thread::sleep(Duration::from_millis(50));
    assert!(
        done_rx.try_recv().is_err(),
        "the turn returned before the wake"
    );
    let clone = waker.clone();
    std::thread::spawn(move || clone.wake().unwrap())
        .join()
        .unwrap();
    let report = done_rx
        .recv_timeout(PATIENCE)
        .expect("the wake did not end the blocked turn");
    assert_eq!(report.events, 1, "the wake-up is one poll event");
    assert_eq!(report.tasks, 0, "and runs nothing");
}

#[test]
fn waker_stop_from_another_thread_ends_run_blocked_in_its_poll() {
    let (waker_tx, waker_rx) = mpsc::channel::<Waker>();
    let (done_tx, done_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let mut r: Reactor<bool> = Reactor::new().unwrap();
        let mut fired = false;
        // A timer an hour away: `run` would block for that long.
        r.set_timeout(Duration::from_secs(3600), |_, fired: &mut bool| {
            *fired = true
        });
        waker_tx.send(r.waker()).unwrap();
        r.run(&mut fired).unwrap();
        let left = r.next_timeout();
        done_tx.send((fired, left)).unwrap();
    });
    let waker = waker_rx.recv_timeout(PATIENCE).unwrap();
    std::thread::sleep(Duration::from_millis(50));
    assert!(done_rx.try_recv().is_err(), "run returned before the stop");
    waker.stop().unwrap();
    let (fired, left) = done_rx
        .recv_timeout(PATIENCE)
        .expect("the stop did not end run");
    assert!(!fired);
    assert!(
        left.is_some_and(|t| t > Duration::from_secs(3000)),
        "the timer is still pending: {left:?}"
    );
}

#[test]
fn waker_stop_ends_run_after_the_turn_in_progress_and_is_used_up() {
    let mut r: Reactor<Vec<u32>> = Reactor::new().unwrap();
    let mut log = Vec::new();
    let waker = r.waker();
    r.set_timeout(Duration::ZERO, move |r, log: &mut Vec<u32>| {
        waker.stop().unwrap();
        log.push(1);
        // Queued by a callback: runs in this same turn.
        r.tcp_server()
            .get_sockets(|_, log: &mut Vec<u32>, _| log.push(2));
        // Set from a callback: fires on a later turn, after this `run` returned.
        r.set_timeout(Duration::ZERO, |_, log: &mut Vec<u32>| log.push(3));
    });
    r.run(&mut log).unwrap();
    assert_eq!(log, vec![1, 2], "run returned after the turn in progress");
    r.run(&mut log).unwrap();
    assert_eq!(
        log,
        vec![1, 2, 3],
        "the stop was used up: run turned until idle"
    );

    // A stop made before `run` makes it return before its first turn.
    r.waker().stop().unwrap();
    r.set_timeout(Duration::ZERO, |_, log: &mut Vec<u32>| log.push(4));
    r.run(&mut log).unwrap();
    assert_eq!(log, vec![1, 2, 3]);
    r.run(&mut log).unwrap();
    assert_eq!(log, vec![1, 2, 3, 4]);
}

#[test]
fn wake_before_a_turn_makes_that_turn_return() {
    let mut r: Reactor = Reactor::new().unwrap();
    let waker = r.waker();
    std::thread::spawn(move || waker.wake().unwrap())
        .join()
        .unwrap();
    assert_eq!(
        readable(&[&r], PATIENCE),
        vec![true],
        "the fd shows the wake"
    );
    let report = r.turn(None, &mut ()).unwrap();
    assert_eq!(report.events, 1);
}

#[test]
fn next_timeout_is_none_idle_zero_with_work_queued_and_the_delay_with_a_timer() {
    let mut r: Reactor = Reactor::new().unwrap();
    assert_eq!(r.next_timeout(), None, "nothing at all");

    // A queued callback: a host loop must turn at once.
    r.tcp_server()
        .create(SocketProperties::default(), |_, _, _| {});
    assert_eq!(r.next_timeout(), Some(Duration::ZERO));
    r.turn(Some(Duration::ZERO), &mut ()).unwrap();
    assert_eq!(r.next_timeout(), None, "the callback ran");

    let delay = Duration::from_millis(500);
    let t = r.set_timeout(delay, |_, _| {});
    let next = r.next_timeout().expect("a timer is pending");
    assert!(
        next > Duration::ZERO && next <= delay,
        "next_timeout {next:?} for a {delay:?} timer"
    );
    // Queued work wins over the timer.
    r.tcp().get_sockets(|_, _, _| {});
    assert_eq!(r.next_timeout(), Some(Duration::ZERO));
    r.turn(Some(Duration::ZERO), &mut ()).unwrap();
    assert!(r.next_timeout().is_some_and(|d| d > Duration::ZERO));

    assert!(r.clear_timeout(t));
    assert_eq!(r.next_timeout(), None, "a cleared timer is not waited for");
}

#[test]
fn next_timeout_is_zero_while_a_listener_has_undrained_connections() {
    // design §2: a listener with more connections than one accept batch keeps the next turn
    // from waiting; the poll fd alone would not say so (its edge was consumed).
    let mut r = accepting_reactor_from(ReactorBuilder::new().accept_batch(1));
    let mut app = App::default();
    let (_server, addr) = listen_on_loopback(&mut r, &mut app);
    let _clients: Vec<_> = (0..3).map(|_| connect(addr)).collect();
    assert_eq!(readable(&[&r], PATIENCE), vec![true]);
    // Give the kernel a moment to complete all three handshakes, bounded.
    std::thread::sleep(Duration::from_millis(50));
    r.turn(Some(Duration::ZERO), &mut app).unwrap();
    assert_eq!(app.accepted.len(), 1, "one per batch");
    assert_eq!(r.next_timeout(), Some(Duration::ZERO));
    turn_until(&mut r, &mut app, |app| app.accepted.len() == 3);
}

#[test]
fn host_loop_with_next_timeout_fires_a_timer_without_blocking_turns() {
    // The full pattern: poll(fd, next_timeout) then turn(Some(ZERO)); a timer is served.
    let mut r: Reactor<u32> = Reactor::new().unwrap();
    let mut fired = 0u32;
    r.set_timeout(Duration::from_millis(20), |_, n: &mut u32| *n += 1);
    let mut turns = 0;
    while fired == 0 {
        turns += 1;
        assert!(turns < 1000, "the timer never fired");
        let timeout = r.next_timeout().unwrap_or(PATIENCE);
        readable(&[&r], timeout);
        r.turn(Some(Duration::ZERO), &mut fired).unwrap();
    }
    assert_eq!(fired, 1);
    assert_eq!(r.next_timeout(), None);
}

#[test]
fn next_timeout_is_zero_while_the_poll_left_readiness_behind_a_full_events_buffer() {
    // An edge-triggered host (tokio's AsyncFd, an outer mio Poll) is told about the poll fd
    // once; if one poll returns a full events buffer, the readiness it left behind raises no
    // new edge, so next_timeout must ask for the next turn itself.
    let mut r = accepting_reactor_from(ReactorBuilder::new().events_capacity(1));
    let mut app = App::default();
    let (_a, addr_a) = listen_on_loopback(&mut r, &mut app);
    let (_b, addr_b) = listen_on_loopback(&mut r, &mut app);
    let _clients = [connect(addr_a), connect(addr_b)];
    // connect() returned: both handshakes are done and both listeners are ready.
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(readable(&[&r], PATIENCE), vec![true]);

    let report = r.turn(Some(Duration::ZERO), &mut app).unwrap();
    assert_eq!(report.events, 1, "one event per poll");
    assert_eq!(app.accepted.len(), 1);
    assert_eq!(
        r.next_timeout(),
        Some(Duration::ZERO),
        "the other listener's readiness waits in the poll"
    );
    r.turn(Some(Duration::ZERO), &mut app).unwrap();
    assert_eq!(app.accepted.len(), 2, "the follow-up turn found it");
    // That poll filled the buffer too, so one more turn may be asked for; it finds nothing.
    if r.next_timeout() == Some(Duration::ZERO) {
        let report = r.turn(Some(Duration::ZERO), &mut app).unwrap();
        assert!(report.is_empty());
    }
    assert_eq!(r.next_timeout(), None, "nothing left behind");
}
