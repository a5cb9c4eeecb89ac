//! `Reactor::stop_on_signals`: a signal stops `run` while it blocks in the poll with no
//! timeout (no timer armed, no thread started), from the reactor's own thread or another;
//! only the reactors watching that signal stop; the disposition the handler replaced is put
//! back once no reactor watches the signal any more.
//! A binary of its own because signal dispositions are process-wide (a test here that went
//! wrong kills this binary, never the other tests' harness). The tests share one lock, since
//! each changes dispositions.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use chrome_sockets::tcp_server::SocketProperties;
use chrome_sockets::Reactor;

static SERIAL: Mutex<()> = Mutex::new(());

fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

/// A reactor with one server listening on loopback (so `run` has something to wait for),
/// its callbacks run.
fn listening<S: Default + 'static>() -> Reactor<S> {
    let mut r: Reactor<S> = Reactor::new().unwrap();
    r.tcp_server()
        .create(SocketProperties::default(), |r, _, created| {
            let id = created.unwrap().socket_id;
            r.tcp_server()
                .listen(id, "127.0.0.1", 0, None, |_, _, res| res.unwrap());
        });
    for _ in 0..3 {
        r.turn(Some(Duration::ZERO), &mut S::default()).unwrap();
    }
    r
}

/// Sends `signal` to this process with kill(1): delivered to whichever thread the kernel
/// picks, here the one blocked in the poll.
fn kill_self(signal: &str) {
    let pid = std::process::id().to_string();
    let status = std::process::Command::new("kill")
        .args([signal, &pid])
        .status()
        .expect("run kill");
    assert!(status.success());
}

/// Stops `r` through its waker if nothing else did within 10 s, so a broken signal stop
/// fails the test instead of hanging it. [`Watchdog::called_off`] says whether it had to.
struct Watchdog {
    call_off: std::sync::mpsc::Sender<()>,
    thread: std::thread::JoinHandle<bool>,
}

impl Watchdog {
    fn new<S: 'static>(r: &Reactor<S>) -> Watchdog {
        let (call_off, wait) = std::sync::mpsc::channel::<()>();
        let waker = r.waker();
        let thread = std::thread::spawn(move || {
            let timed_out = matches!(
                wait.recv_timeout(Duration::from_secs(10)),
                Err(std::sync::mpsc::RecvTimeoutError::Timeout)
            );
            if timed_out {
                waker.stop().unwrap();
            }
            timed_out
        });
        Watchdog { call_off, thread }
    }

    /// Calls the watchdog off; true if it had already stopped the reactor.
    fn had_to_stop(self) -> bool {
        let _ = self.call_off.send(());
        self.thread.join().unwrap()
    }
}

#[test]
fn run_blocked_with_no_timeout_returns_on_sigterm_from_another_thread_and_on_sigint() {
    let _serial = serial();
    let mut r: Reactor = listening();
    r.stop_on_signals(&[libc::SIGINT, libc::SIGTERM]).unwrap();
    // Nothing is queued and no timer is pending: `run`'s poll waits with no timeout.
    assert_eq!(r.next_timeout(), None);

    // SIGTERM raised on another thread (the handler runs there).
    let raiser = std::thread::spawn(|| {
        std::thread::sleep(Duration::from_millis(100));
        signal_hook::low_level::raise(libc::SIGTERM).unwrap();
    });
    let watchdog = Watchdog::new(&r);
    let start = Instant::now();
    r.run(&mut ()).unwrap();
    let waited = start.elapsed();
    raiser.join().unwrap();
    assert!(!watchdog.had_to_stop(), "SIGTERM did not stop run");
    assert!(
        waited >= Duration::from_millis(90),
        "run returned before the signal: {waited:?}"
    );

    // SIGINT sent to the process while the reactor's thread blocks in the poll.
    assert_eq!(r.next_timeout(), None);
    let killer = std::thread::spawn(|| {
        std::thread::sleep(Duration::from_millis(100));
        kill_self("-INT");
    });
    let watchdog = Watchdog::new(&r);
    r.run(&mut ()).unwrap();
    killer.join().unwrap();
    assert!(!watchdog.had_to_stop(), "SIGINT did not stop run");
    // The server is untouched (stopping is the app's to act on), and still listening.
    let port = std::rc::Rc::new(std::cell::Cell::new(None));
    let seen = port.clone();
    r.tcp_server().get_sockets(move |_, _, sockets| {
        seen.set(sockets.unwrap().first().and_then(|s| s.local_port));
    });
    r.turn(Some(Duration::ZERO), &mut ()).unwrap();
    let port = port.get().expect("the server still listens");
    std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    r.stop_on_signals(&[]).unwrap();
}

#[test]
fn only_the_reactors_watching_a_signal_stop() {
    let _serial = serial();
    let mut a: Reactor<bool> = listening();
    let mut b: Reactor<bool> = listening();
    a.stop_on_signals(&[libc::SIGUSR1]).unwrap();
    b.stop_on_signals(&[libc::SIGUSR2]).unwrap();
    // Runs `r` until a signal stops it or a timer `after` from now does; true if the timer did.
    fn run_until(r: &mut Reactor<bool>, after: Duration) -> bool {
        let timer = r.set_timeout(after, |r, timed_out| {
            *timed_out = true;
            r.stop();
        });
        let mut timed_out = false;
        r.run(&mut timed_out).unwrap();
        r.clear_timeout(timer);
        timed_out
    }
    signal_hook::low_level::raise(libc::SIGUSR1).unwrap();
    assert!(
        !run_until(&mut a, Duration::from_secs(30)),
        "a watches SIGUSR1"
    );
    assert!(run_until(&mut b, Duration::from_millis(100)), "b does not");
    // One signal is one stop: a's next run waits for its timer.
    assert!(run_until(&mut a, Duration::from_millis(100)));
    signal_hook::low_level::raise(libc::SIGUSR2).unwrap();
    assert!(
        !run_until(&mut b, Duration::from_secs(30)),
        "b watches SIGUSR2"
    );
    assert!(run_until(&mut a, Duration::from_millis(100)), "a does not");
}

#[test]
fn the_previous_disposition_is_back_once_no_reactor_watches_the_signal() {
    let _serial = serial();
    // The disposition before: a handler that sets a flag.
    let before = Arc::new(AtomicBool::new(false));
    signal_hook::flag::register(libc::SIGUSR2, before.clone()).unwrap();

    let mut r: Reactor = listening();
    let mut other: Reactor = listening();
    r.stop_on_signals(&[libc::SIGUSR2]).unwrap();
    other
        .stop_on_signals(&[libc::SIGUSR2, libc::SIGUSR2])
        .unwrap();
    signal_hook::low_level::raise(libc::SIGUSR2).unwrap();
    assert!(!before.load(Ordering::SeqCst), "replaced while watched");
    let report = r.turn(Some(Duration::from_secs(10)), &mut ()).unwrap();
    assert_eq!(report.events, 1, "woken by the signal eventfd");

    // One watcher left: still replaced.
    drop(r);
    signal_hook::low_level::raise(libc::SIGUSR2).unwrap();
    assert!(
        !before.load(Ordering::SeqCst),
        "still watched by the other reactor"
    );

    // The last watcher lets go (an empty set): the old handler is back, and the reactor is
    // no longer woken by the signal.
    other.turn(Some(Duration::ZERO), &mut ()).unwrap();
    other.stop_on_signals(&[]).unwrap();
    signal_hook::low_level::raise(libc::SIGUSR2).unwrap();
    assert!(
        before.swap(false, Ordering::SeqCst),
        "the previous handler is back"
    );
    let report = other
        .turn(Some(Duration::from_millis(50)), &mut ())
        .unwrap();
    assert_eq!(report.events, 0, "no longer registered");

    // A refused set changes nothing.
    other.stop_on_signals(&[libc::SIGUSR2]).unwrap();
    let err = other.stop_on_signals(&[libc::SIGKILL]).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
    signal_hook::low_level::raise(libc::SIGUSR2).unwrap();
    assert!(
        !before.load(Ordering::SeqCst),
        "still watched after a refused set"
    );
    drop(other);
    signal_hook::low_level::raise(libc::SIGUSR2).unwrap();
    assert!(
        before.load(Ordering::SeqCst),
        "dropping the reactor puts it back"
    );
}
