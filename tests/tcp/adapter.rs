//! What an adapter over the public API needs: learning which listeners a panic removed, and
//! taking received data by value without copying it, while other listeners still see it.

use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Duration;

use crate::util::*;

#[test]
fn a_panicking_listener_is_reported_once_by_take_removed_listeners() {
    with_recorder(|mut r, mut rec| {
        let (id, mut client) = accepted_pair(&mut r, &mut rec, "127.0.0.1");
        let flaky = r
            .tcp()
            .on_receive()
            .add_listener(|_, _, _| panic!("adapter bug"));
        let steady = r.tcp().on_receive_error().add_listener(|_, _, _| {});
        r.tcp()
            .set_paused(id, false, |_, _, res| res.expect("unpause"));
        client.write_all(b"boom").unwrap();
        let mut caught = false;
        for _ in 0..1000 {
            let turn = catch_unwind(AssertUnwindSafe(|| {
                r.turn(Some(Duration::from_millis(10)), &mut rec)
            }));
            if turn.is_err() {
                caught = true;
                break;
            }
        }
        assert!(caught, "the listener's panic unwinds out of the turn");
        // The recorder's own listener still got the bytes (the others get the event).
        assert_eq!(rec.bytes(id), b"boom");
        assert_eq!(r.take_removed_listeners(), [flaky]);
        assert!(r.take_removed_listeners().is_empty());
        assert!(!r.tcp().on_receive().has_listener(flaky));
        assert!(r.tcp().on_receive_error().has_listener(steady));
        // The reactor goes on: later data reaches the remaining listeners.
        client.write_all(b"more").unwrap();
        turn_until(&mut r, &mut rec, |rec| rec.bytes(id).len() == 8);
        assert_eq!(rec.bytes(id), b"boommore");
    });
}

#[test]
fn an_owning_listener_gets_the_data_and_the_others_still_see_it() {
    with_recorder(|mut r, mut rec| {
        let owned = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let capacities = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        // Where each event's own `data` lives, and where the owning listener's copy does.
        let original = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let received = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let p = original.clone();
        r.tcp().on_receive().add_listener(move |_, _, info| {
            p.borrow_mut().push(info.data.as_ptr() as usize);
        });
        let (o, c, q) = (owned.clone(), capacities.clone(), received.clone());
        // After the recorder's listener (registered with the reactor): it sees the bytes first.
        r.tcp().on_receive().add_owning_listener(move |_, _, info| {
            c.borrow_mut().push(info.data.capacity());
            q.borrow_mut().push(info.data.as_ptr() as usize);
            o.borrow_mut().extend(info.data);
        });
        // A borrowing listener after an owning one: the owning one gets a clone, this one
        // sees the same bytes.
        let seen = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
        let s = seen.clone();
        let later = r.tcp().on_receive().add_listener(move |_, _, info| {
            s.borrow_mut().extend_from_slice(&info.data);
        });
        let (id, mut client) = accepted_pair(&mut r, &mut rec, "127.0.0.1");
        r.tcp()
            .set_paused(id, false, |_, _, res| res.expect("unpause"));
        client.write_all(b"first").unwrap();
        turn_until(&mut r, &mut rec, |rec| rec.bytes(id).len() == 5);
        assert_eq!(owned.borrow().as_slice(), b"first");
        assert_eq!(seen.borrow().as_slice(), b"first");
        // With the later listener gone, the owning listener is last: the data moves to it.
        assert!(r.tcp().on_receive().remove_listener(later));
        client.write_all(b"second").unwrap();
        turn_until(&mut r, &mut rec, |rec| rec.bytes(id).len() == 11);
        assert_eq!(owned.borrow().as_slice(), b"firstsecond");
        assert_eq!(seen.borrow().as_slice(), b"first");
        // The first chunk was cloned for the owning listener (the event's own `data` was still
        // alive, elsewhere), the second moved to it (the same allocation); either way a
        // chunk's capacity is its length.
        let (original, received) = (original.borrow(), received.borrow());
        assert_ne!(
            received[0], original[0],
            "a clone while a listener comes after"
        );
        assert_eq!(received[1], original[1], "moved to the last listener");
        assert_eq!(capacities.borrow().as_slice(), [5, 6]);
    });
}
