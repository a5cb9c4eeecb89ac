//! Timers: `set_timeout`/`clear_timeout` fire in deadline order, cleared ones never, timers
//! set from callbacks on a later turn, and `run()` lives exactly as long as timers do.
use crate::util::*;

use std::time::{Duration, Instant};

use chrome_sockets::{Reactor, TimerId};

/// Fired timer labels, in firing order.
type Fired = Vec<u32>;

#[test]
fn timers_set_out_of_order_fire_in_deadline_order() {
    let mut r: Reactor<Fired> = Reactor::new().unwrap();
    let mut fired = Fired::new();
    for (label, ms) in [(30, 30), (10, 10), (20, 20)] {
        r.set_timeout(Duration::from_millis(ms), move |_, f: &mut Fired| {
            f.push(label)
        });
    }
    turn_until(&mut r, &mut fired, |f| f.len() == 3);
    assert_eq!(fired, vec![10, 20, 30]);
}

#[test]
fn timers_with_equal_delays_fire_in_the_order_set() {
    // Equal deadlines break ties by the order of set_timeout calls.
    let mut r: Reactor<Fired> = Reactor::new().unwrap();
    let mut fired = Fired::new();
    for label in 0..8 {
        r.set_timeout(Duration::ZERO, move |_, f: &mut Fired| f.push(label));
    }
    let report = r.turn(Some(Duration::ZERO), &mut fired).unwrap();
    assert_eq!(report.timers, 8);
    assert_eq!(fired, (0..8).collect::<Vec<_>>());
}

#[test]
fn cleared_timer_never_fires_and_second_clear_returns_false() {
    let mut r: Reactor<Fired> = Reactor::new().unwrap();
    let mut fired = Fired::new();
    let a = r.set_timeout(Duration::from_millis(1), |_, f: &mut Fired| f.push(1));
    let b = r.set_timeout(Duration::from_millis(2), |_, f: &mut Fired| f.push(2));
    let c = r.set_timeout(Duration::from_millis(3), |_, f: &mut Fired| f.push(3));
    assert_ne!(a, b);
    assert!(r.clear_timeout(b));
    assert!(!r.clear_timeout(b), "a second clear finds nothing");
    r.run(&mut fired).unwrap();
    assert_eq!(fired, vec![1, 3]);
    assert!(!r.clear_timeout(a), "a fired timer cannot be cleared");
    assert!(!r.clear_timeout(c));
}

#[test]
fn timer_cleared_by_an_earlier_callback_of_the_same_turn_never_fires() {
    // "A cleared timer never fires", also when it was already due in the turn that clears it
    // (JavaScript's clearTimeout of a due-but-not-yet-run timer).
    let mut r: Reactor<Fired> = Reactor::new().unwrap();
    let mut fired = Fired::new();
    let victim: std::rc::Rc<std::cell::Cell<Option<TimerId>>> = Default::default();
    let v = victim.clone();
    r.set_timeout(Duration::ZERO, move |r, f: &mut Fired| {
        f.push(1);
        assert!(
            r.clear_timeout(v.get().unwrap()),
            "the due timer was still pending"
        );
    });
    victim.set(Some(
        r.set_timeout(Duration::ZERO, |_, f: &mut Fired| f.push(2)),
    ));
    let report = r.turn(Some(Duration::ZERO), &mut fired).unwrap();
    turn_n(&mut r, &mut fired, 2);
    assert_eq!(fired, vec![1]);
    assert_eq!(report.timers, 1, "only the first timer fired");
    assert_eq!(r.next_timeout(), None);
}

#[test]
fn timer_cleared_by_an_api_callback_in_the_turn_it_falls_due_never_fires() {
    // The clearing callback was queued before the turn; the timer fell due during its poll.
    let mut r: Reactor<Fired> = Reactor::new().unwrap();
    let mut fired = Fired::new();
    let t = r.set_timeout(Duration::ZERO, |_, f: &mut Fired| f.push(2));
    r.tcp().get_sockets(move |r, f: &mut Fired, _| {
        f.push(1);
        assert!(r.clear_timeout(t));
    });
    r.turn(Some(Duration::ZERO), &mut fired).unwrap();
    turn_n(&mut r, &mut fired, 2);
    assert_eq!(fired, vec![1]);
}

#[test]
fn timer_set_from_a_timer_callback_fires_on_a_later_turn() {
    let mut r: Reactor<Fired> = Reactor::new().unwrap();
    let mut fired = Fired::new();
    r.set_timeout(Duration::ZERO, |r, f: &mut Fired| {
        f.push(1);
        r.set_timeout(Duration::ZERO, |_, f: &mut Fired| f.push(2));
    });
    let first = r.turn(Some(Duration::ZERO), &mut fired).unwrap();
    assert_eq!(first.timers, 1);
    assert_eq!(fired, vec![1], "the new timer waits for the next turn");
    assert_eq!(r.next_timeout(), Some(Duration::ZERO), "and is due already");
    let second = r.turn(Some(Duration::ZERO), &mut fired).unwrap();
    assert_eq!(second.timers, 1);
    assert_eq!(fired, vec![1, 2]);
}

#[test]
fn timers_keep_run_alive_and_run_returns_when_nothing_is_left() {
    let mut r: Reactor<Fired> = Reactor::new().unwrap();
    let mut fired = Fired::new();
    // Nothing at all: run returns at once.
    r.run(&mut fired).unwrap();
    assert!(fired.is_empty());
    // A chain of three timers, each set by the previous one: run waits for the whole chain.
    r.set_timeout(Duration::from_millis(5), |r, f: &mut Fired| {
        f.push(1);
        r.set_timeout(Duration::from_millis(5), |r, f: &mut Fired| {
            f.push(2);
            r.set_timeout(Duration::from_millis(5), |_, f: &mut Fired| f.push(3));
        });
    });
    r.run(&mut fired).unwrap();
    assert_eq!(fired, vec![1, 2, 3]);
    // A cleared timer does not keep run alive.
    let t = r.set_timeout(Duration::from_secs(3600), |_, f: &mut Fired| f.push(4));
    assert!(r.clear_timeout(t));
    r.run(&mut fired).unwrap();
    assert_eq!(fired, vec![1, 2, 3]);
}

#[test]
fn timer_ids_are_never_reused() {
    let mut r: Reactor<Fired> = Reactor::new().unwrap();
    let mut fired = Fired::new();
    let a = r.set_timeout(Duration::ZERO, |_, f: &mut Fired| f.push(1));
    r.run(&mut fired).unwrap();
    let b = r.set_timeout(Duration::ZERO, |_, f: &mut Fired| f.push(2));
    assert_ne!(a, b);
    assert!(
        !r.clear_timeout(a),
        "the old id does not cancel the new timer"
    );
    r.run(&mut fired).unwrap();
    assert_eq!(fired, vec![1, 2]);
}

#[test]
fn ten_thousand_timers_with_most_cleared_fire_exactly_the_rest_in_deadline_order() {
    // The timers live in a binary heap keyed by (deadline, sequence); clearing drops the
    // callback at once and the heap is compacted when dead entries pile up. This checks it
    // stays correct at scale (the benches measure its speed).
    const N: u32 = 10_000;
    let mut r: Reactor<Fired> = Reactor::new().unwrap();
    let mut fired = Fired::new();
    // Deadline bounds per label: set_timeout reads the clock between `before` and `after`.
    let mut bounds = Vec::with_capacity(N as usize);
    let mut ids = Vec::with_capacity(N as usize);
    for label in 0..N {
        // Delays 0..40 ms in a scrambled order.
        let delay = Duration::from_micros(u64::from(label.wrapping_mul(7919) % 40_000));
        let before = Instant::now();
        ids.push(r.set_timeout(delay, move |_, f: &mut Fired| f.push(label)));
        bounds.push((before + delay, Instant::now() + delay));
    }
    assert!(r.next_timeout().is_some());
    // Clear all but every 97th.
    let kept: Vec<u32> = (0..N).filter(|l| l % 97 == 0).collect();
    for (label, id) in ids.iter().enumerate() {
        if label % 97 != 0 {
            assert!(r.clear_timeout(*id), "timer {label} was pending");
        }
    }
    for (label, id) in ids.iter().enumerate().take(500) {
        if label % 97 != 0 {
            assert!(!r.clear_timeout(*id), "timer {label} was cleared already");
        }
    }
    let deadline = Instant::now() + PATIENCE;
    while fired.len() < kept.len() {
        assert!(Instant::now() < deadline, "timers did not all fire");
        r.turn(Some(Duration::from_millis(10)), &mut fired).unwrap();
    }
    turn_n(&mut r, &mut fired, 2);
    assert_eq!(r.next_timeout(), None, "nothing pending any more");

    let mut sorted = fired.clone();
    sorted.sort_unstable();
    assert_eq!(
        sorted, kept,
        "exactly the timers not cleared fired, once each"
    );
    // Deadline order: no timer fired before one whose deadline was certainly earlier.
    for pair in fired.windows(2) {
        let (a, b) = (pair[0] as usize, pair[1] as usize);
        assert!(
            bounds[a].0 <= bounds[b].1,
            "timer {a} fired before timer {b}, whose deadline was earlier"
        );
    }
}
