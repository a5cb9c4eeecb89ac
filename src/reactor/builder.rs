//! [`ReactorBuilder`]: the options of a reactor. (`build` is in the reactor module, which
//! owns the reactor's fields.)

use std::time::Duration;

use crate::permission::SocketsManifest;
use crate::resolver::{DEFAULT_RESOLVER_IDLE, DEFAULT_RESOLVER_THREADS};
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
    pub(super) resolver_threads: usize,
    pub(super) resolver_idle_timeout: Duration,
    /// The first id of both socket counters ([`ids_from`](Self::ids_from)); 1 normally.
    #[cfg(feature = "fault-injection")]
    pub(super) first_id: i32,
    /// The largest id before the counters wrap ([`ids_up_to`](Self::ids_up_to)); `i32::MAX`.
    #[cfg(feature = "fault-injection")]
    pub(super) last_id: i32,
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
    /// (default [`DEFAULT_WRITE_QUOTA`], Chrome's 200 MiB).
    ///
    /// An extension: Chrome's quota is fixed.
    ///
    /// The quota counts the bytes of the data, as Chrome's does, not what a queued send costs
    /// besides: each send waiting to be written also holds a queue slot (48 bytes on x86-64),
    /// its data's allocation and its callback. So the quota bounds memory well for a few
    /// large sends, but not for many tiny ones (10 million 20-byte sends to a peer that does
    /// not read stay under 200 MiB of data while their slots alone take 480 MB), and not at
    /// all for empty ones.
    /// An app that sends many small messages to peers that may not read should bound its
    /// own sends in flight per socket (count the sends whose callback has not run).
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

    /// At most `n` threads resolve host names for `connect` at once (at least 1; default 4,
    /// as libuv's pool). These are the only threads the crate ever starts, and only when a
    /// `connect` names a host instead of an IP literal: the first such connect starts one,
    /// more start while every running one is busy, up to `n`; lookups beyond that wait in
    /// a FIFO queue. A thread with no lookup to do for 5 seconds exits.
    ///
    /// A thread only resolves (`getaddrinfo`): the answer comes back through the reactor's
    /// waker and the connect goes on on the reactor's thread. A connect closed,
    /// disconnected or timed out while its name is looked up is answered at once; its lookup
    /// is skipped if it has not started, and its answer is discarded either way. Dropping
    /// the reactor does not wait for the threads: a thread inside `getaddrinfo` finishes
    /// that lookup (it cannot be interrupted), drops the answer and exits.
    ///
    /// If no resolver thread runs and none can be started, the connect's callback gets -12
    /// `ERR_INSUFFICIENT_RESOURCES`; while some run, the lookup waits for one of them.
    ///
    /// ```
    /// use chrome_sockets::{Reactor, ReactorBuilder};
    /// let r: Reactor = ReactorBuilder::new().resolver_threads(2).build()?;
    /// # drop(r);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn resolver_threads(mut self, n: usize) -> Self {
        self.resolver_threads = n.max(1);
        self
    }

    /// How long a resolver thread waits for a lookup before it exits (default 5 s). Only with
    /// the `fault-injection` feature: for the crate's own tests, which watch threads exit.
    #[cfg(feature = "fault-injection")]
    pub fn resolver_idle_timeout(mut self, idle: Duration) -> Self {
        self.resolver_idle_timeout = idle;
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

#[cfg(feature = "fault-injection")]
impl ReactorBuilder {
    /// Starts both socket id counters (servers and tcp sockets) at `n` instead of 1, so a
    /// test reaches the wrap from `i32::MAX` to 1 (deviation D12) in a few allocations.
    /// Values below 1 are taken as 1. Only with the `fault-injection` feature (tests only).
    ///
    /// ```
    /// use chrome_sockets::{tcp_server::SocketProperties, Reactor, ReactorBuilder};
    /// let mut r: Reactor<Vec<i32>> = ReactorBuilder::new().ids_from(i32::MAX).build()?;
    /// let mut ids = Vec::new();
    /// for _ in 0..2 {
    ///     r.tcp_server().create(SocketProperties::default(), |_, ids: &mut Vec<i32>, c| {
    ///         ids.push(c.unwrap().socket_id.raw())
    ///     });
    /// }
    /// r.turn(Some(std::time::Duration::ZERO), &mut ids)?;
    /// assert_eq!(ids, [i32::MAX, 1]);
    /// assert_eq!(r.id_wraps(), 1);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn ids_from(mut self, n: i32) -> Self {
        self.first_id = n.max(1);
        self
    }

    /// Makes both socket id counters wrap after `last` instead of `i32::MAX` (values below 1
    /// are taken as 1; an [`ids_from`](Self::ids_from) above `last` starts at `last`), so a
    /// test can go round the id space and meet ids still live, or fill it. With this knob an
    /// id comes back after `last` allocations instead of 2^31 - 1 (deviation D12's
    /// guarantee shrinks with the space). Only with the `fault-injection` feature.
    ///
    /// ```
    /// use chrome_sockets::{tcp_server::SocketProperties, Reactor, ReactorBuilder};
    /// let mut r: Reactor<Vec<i32>> = ReactorBuilder::new().ids_up_to(3).build()?;
    /// for _ in 0..4 {
    ///     r.tcp_server().create(SocketProperties::default(), |_, ids: &mut Vec<i32>, c| {
    ///         ids.push(c.map_or(-12, |c| c.socket_id.raw()))
    ///     });
    /// }
    /// let mut ids = Vec::new();
    /// r.turn(Some(std::time::Duration::ZERO), &mut ids)?;
    /// assert_eq!(ids, [1, 2, 3, -12]); // every id live: "net::ERR_INSUFFICIENT_RESOURCES"
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn ids_up_to(mut self, last: i32) -> Self {
        self.last_id = last.max(1);
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
            resolver_threads: DEFAULT_RESOLVER_THREADS,
            resolver_idle_timeout: DEFAULT_RESOLVER_IDLE,
            #[cfg(feature = "fault-injection")]
            first_id: 1,
            #[cfg(feature = "fault-injection")]
            last_id: i32::MAX,
        }
    }
}
