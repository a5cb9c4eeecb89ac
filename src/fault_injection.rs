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
use std::sync::atomic::{AtomicUsize, Ordering};

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
    /// Starting a resolver thread (`clone(2)` through `std::thread::Builder::spawn`), for a
    /// connect to a host name.
    SpawnThread,
}

#[derive(Debug)]
struct Fault {
    call: Syscall,
    errno: i32,
    remaining: usize,
}

/// One thread's armed faults; a thread that exits with faults armed disarms them.
#[derive(Debug)]
struct Plan(Vec<Fault>);

impl Drop for Plan {
    fn drop(&mut self) {
        ARMED.fetch_sub(self.0.len(), Ordering::Relaxed);
    }
}

thread_local! {
    static PLAN: RefCell<Plan> = const { RefCell::new(Plan(Vec::new())) };
}

/// Faults armed on all threads. Benches and examples are built with this feature too (cargo
/// turns dev-dependency features on for them), so the syscall path checks this one atomic
/// and touches the thread-local plan only while some fault is armed somewhere.
static ARMED: AtomicUsize = AtomicUsize::new(0);

/// Makes the next `times` calls of `call` on this thread fail with `errno`.
pub fn inject(call: Syscall, errno: i32, times: usize) {
    if times == 0 {
        return;
    }
    ARMED.fetch_add(1, Ordering::Relaxed);
    PLAN.with(|p| {
        p.borrow_mut().0.push(Fault {
            call,
            errno,
            remaining: times,
        })
    });
}

/// Disarms every fault on this thread.
pub fn clear() {
    let removed = PLAN.with(|p| p.borrow_mut().0.drain(..).count());
    ARMED.fetch_sub(removed, Ordering::Relaxed);
}

/// How many injected failures of `call` are still armed on this thread.
pub fn pending(call: Syscall) -> usize {
    PLAN.with(|p| {
        p.borrow()
            .0
            .iter()
            .filter(|f| f.call == call)
            .map(|f| f.remaining)
            .sum()
    })
}

/// The error to fail `call` with, if a fault is armed for it (and counts it down).
#[inline]
pub(crate) fn take(call: Syscall) -> Option<io::Error> {
    if ARMED.load(Ordering::Relaxed) == 0 {
        return None;
    }
    take_armed(call)
}

/// [`take`] once some fault is armed on some thread.
#[cold]
fn take_armed(call: Syscall) -> Option<io::Error> {
    PLAN.with(|p| {
        let plan = &mut p.borrow_mut().0;
        let i = plan
            .iter()
            .position(|f| f.call == call && f.remaining > 0)?;
        plan[i].remaining -= 1;
        let errno = plan[i].errno;
        if plan[i].remaining == 0 {
            plan.remove(i);
            ARMED.fetch_sub(1, Ordering::Relaxed);
        }
        Some(io::Error::from_raw_os_error(errno))
    })
}
