//! [`Waker`]: interrupts a blocking [`Reactor::turn`](crate::Reactor::turn) from any thread.

use std::fmt;
use std::io;
use std::sync::Arc;

/// A `Send + Sync + Clone` handle that wakes the reactor's poll from another thread.
///
/// A turn blocked in the OS poll returns as soon as `wake` is called; the wake-up itself runs
/// nothing. Get one from [`Reactor::waker`](crate::Reactor::waker).
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
}

impl Waker {
    pub(crate) fn new(inner: Arc<mio::Waker>) -> Self {
        Waker { inner }
    }

    /// Makes the reactor's current or next poll return at once.
    pub fn wake(&self) -> io::Result<()> {
        self.inner.wake()
    }
}

impl fmt::Debug for Waker {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Waker")
    }
}
