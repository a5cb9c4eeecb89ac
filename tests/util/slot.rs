//! One-shot result slots: hand a callback `put(&slot)`, then `wait(..)` for what it received;
//! [`ask`] does both for one call and also checks the callback ran once and not inside the call.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use chrome_sockets::{LastError, Reactor, TcpSocketId};

use super::PATIENCE;

/// Where a callback leaves its result.
pub type Slot<T> = Rc<RefCell<Option<T>>>;

/// An empty slot.
pub fn slot<T>() -> Slot<T> {
    Rc::new(RefCell::new(None))
}

/// A callback that stores its result in `slot` (and panics if it runs twice).
pub fn put<S, T: 'static>(slot: &Slot<T>) -> impl FnOnce(&mut Reactor<S>, &mut S, T) + 'static {
    let slot = slot.clone();
    move |_, _, result| {
        let previous = slot.borrow_mut().replace(result);
        assert!(previous.is_none(), "callback ran twice");
    }
}

/// Turns `r` until `slot` is filled and takes the value; panics after [`PATIENCE`].
#[track_caller]
pub fn wait<S: 'static, T>(r: &mut Reactor<S>, state: &mut S, slot: &Slot<T>) -> T {
    let deadline = Instant::now() + PATIENCE;
    loop {
        if let Some(v) = slot.borrow_mut().take() {
            return v;
        }
        assert!(Instant::now() < deadline, "callback did not run");
        r.turn(Some(Duration::from_millis(10)), state)
            .expect("turn");
    }
}

/// A boxed callback, so one helper can wait for the callback of any call.
pub type Done<S, T> = Box<dyn FnOnce(&mut Reactor<S>, &mut S, T)>;

/// Makes one call whose callback is `done`, turns until that callback ran (exactly once, and
/// never inside the call) and returns what it got. Panics after [`PATIENCE`].
#[track_caller]
pub fn ask<S: 'static, T: 'static>(
    r: &mut Reactor<S>,
    state: &mut S,
    call: impl FnOnce(&mut Reactor<S>, Done<S, T>),
) -> T {
    let out = slot();
    call(r, Box::new(put(&out)));
    assert!(
        out.borrow().is_none(),
        "a callback ran inside the call that took it"
    );
    wait(r, state, &out)
}

/// Issues one send per buffer back to back (none waits for the one before), turns until
/// every callback ran and returns their results (bytes sent) in call order.
#[track_caller]
pub fn send_all<S: 'static>(
    r: &mut Reactor<S>,
    state: &mut S,
    id: TcpSocketId,
    buffers: Vec<Vec<u8>>,
) -> Vec<Result<usize, LastError>> {
    let slots: Vec<Slot<_>> = buffers.iter().map(|_| slot()).collect();
    for (buffer, out) in buffers.into_iter().zip(&slots) {
        r.tcp().send(id, buffer, put(out));
    }
    slots
        .iter()
        .map(|out| wait(r, state, out).map(|info| info.bytes_sent))
        .collect()
}

/// One send, waited for: the bytes sent or the error.
#[track_caller]
pub fn send<S: 'static>(
    r: &mut Reactor<S>,
    state: &mut S,
    id: TcpSocketId,
    data: &[u8],
) -> Result<usize, LastError> {
    let data = data.to_vec();
    ask(r, state, |r, d| r.tcp().send(id, data, d)).map(|info| info.bytes_sent)
}
