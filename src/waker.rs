//! [`Waker`]: interrupts a blocking [`Reactor::turn`](crate::Reactor::turn), or stops
//! [`Reactor::run`](crate::Reactor::run), from any thread.

use std::fmt;
use std::io;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A `Send + Sync + Clone` handle that wakes the reactor's poll from another thread.
///
/// A turn blocked in the OS poll returns as soon as `wake` is called; the wake-up itself runs
/// nothing. [`stop`](Waker::stop) also makes [`Reactor::run`](crate::Reactor::run) return.
/// Get one from [`Reactor::waker`](crate::Reactor::waker).
///
/// ```
/// # use chrome_sockets::Reactor;
/// # use std::time::Duration;
/// let mut r: Reactor = Reactor::new()?;
/// let waker = r.waker();
/// std::thread::spawn(move || waker.wake().unwrap());
/// // Returns once the other thread wakes it, not after an hour.
/// r.turn(Some(Duration::from_secs(3600)), &mut ())?;
/// # Ok::<(), std::io::Error>(())
/// ```
#[derive(Clone)]
pub struct Waker {
    inner: Arc<mio::Waker>,
    /// The reactor's stop request, shared with it.
    stop: Arc<AtomicBool>,
}

impl Waker {
    pub(crate) fn new(inner: Arc<mio::Waker>, stop: Arc<AtomicBool>) -> Self {
        Waker { inner, stop }
    }

    /// Makes the reactor's current or next poll return at once.
    pub fn wake(&self) -> io::Result<()> {
        self.inner.wake()
    }

    /// Makes [`Reactor::run`](crate::Reactor::run) return after the turn in progress (or
    /// before its next one), like [`Reactor::stop`](crate::Reactor::stop) from the reactor's
    /// own thread, and wakes the poll so a `run` blocked in it returns at once. A turn called
    /// directly (a host loop) is only woken.
    ///
    /// The request is made even when the wake-up fails (the error is the wake-up's); `run`
    /// then sees it once its poll returns for another reason.
    ///
    /// ```
    /// # use chrome_sockets::Reactor;
    /// # use std::time::Duration;
    /// let mut r: Reactor = Reactor::new()?;
    /// // A timer an hour away keeps `run` turning.
    /// r.set_timeout(Duration::from_secs(3600), |_, _| unreachable!());
    /// let waker = r.waker();
    /// let stopper = std::thread::spawn(move || {
    ///     std::thread::sleep(Duration::from_millis(10));
    ///     waker.stop()
    /// });
    /// r.run(&mut ())?; // returns once the other thread calls stop, not after an hour
    /// stopper.join().unwrap()?;
    /// assert_eq!(r.next_timeout().map(|t| t > Duration::from_secs(60)), Some(true));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn stop(&self) -> io::Result<()> {
        // Release: `run` (acquire) sees the request once the wake-up it causes is seen.
        self.stop.store(true, Ordering::Release);
        self.inner.wake()
    }
}

impl fmt::Debug for Waker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Waker")
    }
}
