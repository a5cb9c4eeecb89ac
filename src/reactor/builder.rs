//! [`ReactorBuilder`]: the options of a reactor. (`build` is in the reactor module, which
//! owns the reactor's fields.)

use crate::permission::SocketsManifest;
use crate::tcp::DEFAULT_WRITE_QUOTA;

/// What the reactor does to each accepted connection before announcing it.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum AcceptedSockets {
    /// Chrome's options: `TCP_NODELAY` on (one `setsockopt` per accept). Chrome also turns on
    /// 45 s keep-alive; this crate does not (deviation D11, see [`deviations`](crate::deviations)).
    #[default]
    ChromeDefaults,
    /// Leave the accepted fd exactly as `accept4(2)` returned it: the fewest syscalls.
    Untouched,
}

/// Default number of connections one listener may accept in one turn.
pub const DEFAULT_ACCEPT_BATCH: usize = 64;

/// Default number of queued tasks (callbacks, events, timers, accept and read steps) one
/// turn runs before it polls the OS again.
pub const DEFAULT_TURN_BUDGET: usize = 64;

/// Builds a [`Reactor`](crate::Reactor) with non-default options.
///
/// ```
/// use chrome_sockets::{AcceptedSockets, Reactor, ReactorBuilder, SocketsManifest};
/// let manifest = SocketsManifest::new().allow_listen(["127.0.0.1:*"])?;
/// let r: Reactor = ReactorBuilder::new()
///     .accept_batch(16)
///     .turn_budget(128)
///     .accepted_sockets(AcceptedSockets::Untouched)
///     .manifest(manifest)
///     .build()?;
/// # drop(r);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug)]
pub struct ReactorBuilder {
    pub(super) accept_batch: usize,
    pub(super) turn_budget: usize,
    pub(super) accepted_sockets: AcceptedSockets,
    pub(super) manifest: Option<SocketsManifest>,
    pub(super) events_capacity: usize,
    pub(super) write_quota: usize,
}

impl ReactorBuilder {
    /// A builder with the default options (the same as [`Reactor::builder`](crate::Reactor::builder)).
    pub fn new() -> Self {
        Self::default()
    }

    /// At most `n` accepts per listener per turn (at least 1; default 64). A listener with more
    /// connections waiting is served again on the next turn, after every other ready socket.
    pub fn accept_batch(mut self, n: usize) -> Self {
        self.accept_batch = n.max(1);
        self
    }

    /// At most `n` queued tasks per turn (at least 1; default 64): callbacks, events, due
    /// timers and accept or read steps, in the order queued. Work queued during a turn may run
    /// in the same turn until the budget is spent; what is left runs first on the next turn,
    /// after the OS poll, so no chain of callbacks keeps I/O waiting for more than one budget.
    pub fn turn_budget(mut self, n: usize) -> Self {
        self.turn_budget = n.max(1);
        self
    }

    /// What to do to accepted sockets (default [`AcceptedSockets::ChromeDefaults`]).
    pub fn accepted_sockets(mut self, what: AcceptedSockets) -> Self {
        self.accepted_sockets = what;
        self
    }

    /// Checks every `listen` and `connect` against a sockets manifest, as Chrome does for an
    /// app's `"sockets"` manifest key: a call no pattern allows fails with "Does not have
    /// permission", after the id lookup and before address validation or any syscall.
    /// Without a manifest, everything is allowed (Chrome's pattern `""`).
    ///
    /// An invalid pattern is rejected when the manifest is built, as Chrome rejects the
    /// manifest at load time: [`SocketsManifest::allow_listen`] and
    /// [`SocketsManifest::allow_connect`] return a [`ManifestError`](crate::ManifestError)
    /// ("Invalid host:port pattern '&lt;pattern&gt;'"), so a reactor never holds one.
    ///
    /// ```
    /// use chrome_sockets::{Reactor, ReactorBuilder, SocketsManifest};
    /// // "sockets": {"tcpServer": {"listen": ["127.0.0.1:*"]}, "tcp": {"connect": "*:443"}}
    /// let manifest = SocketsManifest::new()
    ///     .allow_listen(["127.0.0.1:*"])?
    ///     .allow_connect(["*:443"])?;
    /// let r: Reactor = ReactorBuilder::new().manifest(manifest).build()?;
    /// # drop(r);
    /// let err = SocketsManifest::new().allow_listen(["a:b:c"]).unwrap_err();
    /// assert_eq!(err.to_string(), "Invalid host:port pattern 'a:b:c'");
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn manifest(mut self, manifest: SocketsManifest) -> Self {
        self.manifest = Some(manifest);
        self
    }

    /// The write quota: at most `bytes` handed to `send` and not yet written, across every
    /// socket of the reactor; a `send` that would go over fails with "Exceeded write quota."
    /// (default [`DEFAULT_WRITE_QUOTA`](crate::tcp::DEFAULT_WRITE_QUOTA), Chrome's 200 MiB).
    ///
    /// An extension: Chrome's quota is fixed.
    ///
    /// ```
    /// use chrome_sockets::{Reactor, ReactorBuilder};
    /// let r: Reactor = ReactorBuilder::new().write_quota(16 << 20).build()?; // 16 MiB
    /// # drop(r);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn write_quota(mut self, bytes: usize) -> Self {
        self.write_quota = bytes;
        self
    }

    /// How many readiness events one OS poll may return (default 1024). Readiness beyond a
    /// full buffer waits in the OS poll for the next turn, which
    /// [`Reactor::next_timeout`](crate::Reactor::next_timeout) then asks for (zero).
    pub fn events_capacity(mut self, n: usize) -> Self {
        self.events_capacity = n.max(1);
        self
    }
}

impl Default for ReactorBuilder {
    fn default() -> Self {
        ReactorBuilder {
            accept_batch: DEFAULT_ACCEPT_BATCH,
            turn_budget: DEFAULT_TURN_BUDGET,
            accepted_sockets: AcceptedSockets::ChromeDefaults,
            manifest: None,
            events_capacity: 1024,
            write_quota: DEFAULT_WRITE_QUOTA,
        }
    }
}
