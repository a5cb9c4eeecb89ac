//! A seam that makes chosen syscalls fail, for tests of error paths that loopback cannot
//! provoke (`ENOBUFS`, `ENOMEM` or `EPROTO` from `accept`, a failed registration, ...).
//!
//! Compiled only with the `fault-injection` feature, which the crate's own tests turn on
//! through a dev-dependency on itself; normal builds have no seam and pay nothing. Faults are
//! per thread (the reactor is single-threaded and the test harness runs tests on parallel
//! threads), and each injected fault fires a given number of times, then disarms.
//!
//! ```
//! use chrome_sockets::fault_injection::{self, Syscall};
//! fault_injection::inject(Syscall::Accept, libc::ENOBUFS, 1);
//! // ... the next accept on this thread fails with ENOBUFS ...
//! fault_injection::clear();
//! ```

use std::cell::RefCell;
use std::io;

/// A syscall of the reactor that can be made to fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Syscall {
    /// `socket(2)` for a listener.
    Socket,
    /// `bind(2)` for a listener.
    Bind,
    /// `listen(2)`.
    Listen,
    /// `accept4(2)`.
    Accept,
    /// Registering a listener or a tcp socket with the poll (`epoll_ctl(ADD)`).
    Register,
    /// `read(2)` on a tcp socket.
    Read,
    /// `send(2)` on a tcp socket.
    Send,
    /// `connect(2)`.
    Connect,
}

#[derive(Debug)]
struct Fault {
    call: Syscall,
    errno: i32,
    remaining: usize,
}

thread_local! {
    static PLAN: RefCell<Vec<Fault>> = const { RefCell::new(Vec::new()) };
}

/// Makes the next `times` calls of `call` on this thread fail with `errno`.
pub fn inject(call: Syscall, errno: i32, times: usize) {
    PLAN.with(|p| {
        p.borrow_mut().push(Fault {
            call,
            errno,
            remaining: times,
        })
    });
}

/// Disarms every fault on this thread.
pub fn clear() {
    PLAN.with(|p| p.borrow_mut().clear());
}

/// How many injected failures of `call` are still armed on this thread.
pub fn pending(call: Syscall) -> usize {
    PLAN.with(|p| {
        p.borrow()
            .iter()
            .filter(|f| f.call == call)
            .map(|f| f.remaining)
            .sum()
    })
}

/// The error to fail `call` with, if a fault is armed for it (and counts it down).
pub(crate) fn take(call: Syscall) -> Option<io::Error> {
    PLAN.with(|p| {
        let mut plan = p.borrow_mut();
        let i = plan
            .iter()
            .position(|f| f.call == call && f.remaining > 0)?;
        plan[i].remaining -= 1;
        let errno = plan[i].errno;
        if plan[i].remaining == 0 {
            plan.remove(i);
        }
        Some(io::Error::from_raw_os_error(errno))
    })
}
