//! Errors: which are callback data and which end a turn.
//!
//! Everything that can go wrong with a *call* (unknown id, bad address, port in use, a reset
//! peer) reaches the call's callback as `Err(`[`LastError`]`)`, Chrome's
//! `chrome.runtime.lastError`: the exact message Chrome would set and, where Chrome passes a
//! result code, that [`NetError`]; [`LastError::kind`] tells them apart for a `match`. Errors
//! on the accept or read path arrive as events (`on_accept_error`, `on_receive_error`). Only
//! failures of the machinery itself, the OS poll or calling
//! [`Reactor::turn`](crate::Reactor::turn) from inside a callback ([`ReentrantTurn`]), come
//! back from a turn as `io::Error`.

use std::borrow::Cow;
use std::fmt;

use crate::net_error::NetError;

/// Chrome's `chrome.runtime.lastError` for a failed call.
///
/// `message` is exactly the string Chrome sets; `code` is the net error code Chrome passes to
/// the callback alongside it (for `listen`, `connect`, `send`, `setKeepAlive`, `setNoDelay`),
/// `None` where Chrome calls back with no result (for example "Socket not found").
/// [`kind`](LastError::kind) tells the errors apart for a `match`. `Display` (`{}`) prints
/// the message alone, e.g. `net::ERR_ADDRESS_IN_USE`; `Debug` (`{:?}`) adds the code:
/// `LastError("net::ERR_ADDRESS_IN_USE", -147)`.
///
/// ```
/// # use chrome_sockets::{Reactor, ServerSocketId};
/// # let mut r: Reactor = Reactor::new()?;
/// r.tcp_server().get_info(ServerSocketId::from_raw(99), |_, _, result| {
///     let err = result.unwrap_err();
///     assert_eq!(err.message(), "Socket not found");
///     assert_eq!(err.code(), None);
///     assert_eq!(err.to_string(), "Socket not found"); // what `{}` prints
/// });
/// # r.turn(None, &mut ())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct LastError {
    message: Cow<'static, str>,
    code: Option<NetError>,
}

/// What kind of [`LastError`] a call failed with, for a `match` (from [`LastError::kind`]).
///
/// Each kind is one of Chrome's `lastError` messages; [`LastError::message`] stays Chrome's
/// exact string. The enum is `#[non_exhaustive]`: a later release may add kinds (a new
/// Chrome message, or one of an extension), so a `match` needs a `_` arm.
///
/// ```
/// use chrome_sockets::{LastError, LastErrorKind, NetError};
/// # use chrome_sockets::{tcp_server::SocketProperties, Reactor};
/// fn describe(e: &LastError) -> &'static str {
///     match e.kind() {
///         LastErrorKind::NotFound => "no such socket (closed, or never created)",
///         LastErrorKind::Permission => "the sockets manifest does not allow it",
///         LastErrorKind::WriteQuota => "too much unsent data: wait for send callbacks",
///         LastErrorKind::Net(NetError::ADDRESS_IN_USE) => "port taken",
///         LastErrorKind::Net(NetError::INVALID_ARGUMENT) => "bad address, port or backlog",
///         LastErrorKind::Net(_) => "another network error",
///         _ => "an error kind added after this was written",
///     }
/// }
///
/// let taken = std::net::TcpListener::bind("127.0.0.1:0")?;
/// let port = i32::from(taken.local_addr()?.port());
/// let mut r: Reactor<Vec<&'static str>> = Reactor::new()?;
/// r.tcp_server().create(SocketProperties::new(), move |r, _, created| {
///     let id = created.unwrap().socket_id;
///     r.tcp_server().listen(id, "127.0.0.1", port, None, |_, seen, result| {
///         seen.push(describe(&result.unwrap_err()));
///     });
///     r.tcp_server().listen(id, "127.0.0.1", 70_000, None, |_, seen, result| {
///         seen.push(describe(&result.unwrap_err()));
///     });
///     r.tcp_server().close(id, |_, _, result| result.unwrap());
///     r.tcp_server().close(id, |_, seen, result| seen.push(describe(&result.unwrap_err())));
/// });
/// let mut seen = Vec::new();
/// r.run(&mut seen)?;
/// let no_such = "no such socket (closed, or never created)";
/// assert_eq!(seen, ["port taken", "bad address, port or backlog", no_such]);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum LastErrorKind {
    /// "Socket not found": the id is unknown (closed, or never created). Usually without a
    /// code; tcp `set_keep_alive`/`set_no_delay` pass -2 with it, as Chrome does.
    NotFound,
    /// "Does not have permission": the reactor's
    /// [`SocketsManifest`](crate::SocketsManifest) allows no such listen or connect.
    Permission,
    /// "Exceeded write quota.": the send would take the bytes waiting to be written past the
    /// write quota ([`ReactorBuilder::write_quota`](crate::ReactorBuilder::write_quota), 200 MiB
    /// by default). Nothing was queued; send again once earlier sends have called back.
    WriteQuota,
    /// A net error, message "net::ERR_…" (e.g. -147 `net::ERR_ADDRESS_IN_USE`); the same code
    /// as [`LastError::code`].
    Net(NetError),
}

// Chrome's messages for the errors that are not net errors.
const NOT_FOUND: &str = "Socket not found";
const PERMISSION: &str = "Does not have permission";
const WRITE_QUOTA: &str = "Exceeded write quota.";

/// The result every callback receives.
pub type Result<T> = std::result::Result<T, LastError>;

impl LastError {
    /// The lastError message, e.g. "net::ERR_ADDRESS_IN_USE" or "Socket not found".
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The net error Chrome passes as the callback's result, if it passes one.
    pub fn code(&self) -> Option<NetError> {
        self.code
    }

    /// What kind of error this is, to `match` on instead of comparing
    /// [`message`](LastError::message) strings.
    ///
    /// ```
    /// # use chrome_sockets::{LastErrorKind, Reactor, ServerSocketId};
    /// # let mut r: Reactor = Reactor::new()?;
    /// r.tcp_server().close(ServerSocketId::from_raw(99), |_, _, result| {
    ///     let err = result.unwrap_err();
    ///     assert_eq!(err.kind(), LastErrorKind::NotFound);
    ///     assert_eq!(err.message(), "Socket not found"); // Chrome's text, unchanged
    /// });
    /// # r.turn(None, &mut ())?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn kind(&self) -> LastErrorKind {
        // Derived rather than stored, so a `LastError` stays 32 bytes (a message and a code).
        // Every constructor below is pinned to its kind by a unit test.
        match self.code {
            Some(code) if self.message.starts_with("net::") => LastErrorKind::Net(code),
            _ => match &*self.message {
                PERMISSION => LastErrorKind::Permission,
                WRITE_QUOTA => LastErrorKind::WriteQuota,
                _ => LastErrorKind::NotFound,
            },
        }
    }

    /// A net error with its own message ("net::ERR_…") and code.
    pub(crate) fn net(code: NetError) -> Self {
        LastError {
            message: Cow::Owned(code.message()),
            code: Some(code),
        }
    }

    /// "Socket not found", with no result.
    pub(crate) fn socket_not_found() -> Self {
        LastError {
            message: Cow::Borrowed(NOT_FOUND),
            code: None,
        }
    }

    /// `Ok(())` if the socket was found, else "Socket not found".
    #[inline]
    pub(crate) fn found(found: bool) -> Result<()> {
        if found {
            Ok(())
        } else {
            Err(LastError::socket_not_found())
        }
    }

    /// "Socket not found" with a result code (tcp `setKeepAlive`/`setNoDelay` pass -2).
    pub(crate) fn socket_not_found_with(code: NetError) -> Self {
        LastError {
            message: Cow::Borrowed(NOT_FOUND),
            code: Some(code),
        }
    }

    /// "Does not have permission": the sockets manifest allows no such listen or connect.
    pub(crate) fn no_permission() -> Self {
        LastError {
            message: Cow::Borrowed(PERMISSION),
            code: None,
        }
    }

    /// "Exceeded write quota.": more than 200 MiB would be pending in sends.
    pub(crate) fn write_quota() -> Self {
        LastError {
            message: Cow::Borrowed(WRITE_QUOTA),
            code: None,
        }
    }

    /// Every id of a kind is live (2^31 - 1 sockets at once, or the space a test knob set),
    /// so no id can be issued (D12).
    pub(crate) fn ids_exhausted() -> Self {
        LastError::net(NetError::INSUFFICIENT_RESOURCES)
    }
}

impl fmt::Display for LastError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl fmt::Debug for LastError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(code) => write!(f, "LastError({:?}, {})", self.message, code.code()),
            None => write!(f, "LastError({:?})", self.message),
        }
    }
}

impl std::error::Error for LastError {}

/// The error inside the `io::Error` that [`Reactor::turn`](crate::Reactor::turn) and
/// [`Reactor::run`](crate::Reactor::run) return when called from inside one of the same
/// reactor's callbacks, listeners or timers: a turn is not re-entrant (queue the work, or
/// [`stop`](crate::Reactor::stop) and turn again from the outside).
///
/// The `io::Error`'s kind is `ErrorKind::Other`, never `WouldBlock` or `Interrupted`, which
/// host loops read as "try again": this is a bug in the calling program, and retrying cannot
/// fix it. [`ReentrantTurn::is`] recognises it (a downcast of the `io::Error`'s inner error).
///
/// Why an `io::Error` and not a type that makes the call impossible: a callback receives
/// `&mut Reactor<S>` so that it can make every call, and `turn` keeps returning
/// `io::Result` so that host loops propagate its errors with `?` like any other I/O error.
///
/// ```
/// use chrome_sockets::{Reactor, ReentrantTurn};
/// use std::time::Duration;
///
/// let mut r: Reactor<Option<std::io::Error>> = Reactor::new()?;
/// r.set_timeout(Duration::ZERO, |r, seen| {
///     *seen = r.turn(Some(Duration::ZERO), &mut None).err(); // refused, nothing ran
/// });
/// let mut seen = None;
/// r.turn(None, &mut seen)?;
/// let err = seen.expect("the nested turn failed");
/// assert!(ReentrantTurn::is(&err));
/// assert_eq!(err.kind(), std::io::ErrorKind::Other);
/// # Ok::<(), std::io::Error>(())
/// ```
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReentrantTurn;

impl ReentrantTurn {
    /// Whether `err` is the error a re-entered turn or run returns.
    pub fn is(err: &std::io::Error) -> bool {
        err.get_ref()
            .is_some_and(|inner| inner.is::<ReentrantTurn>())
    }

    /// The `io::Error` a re-entered turn or run returns.
    pub(crate) fn error() -> std::io::Error {
        std::io::Error::new(std::io::ErrorKind::Other, ReentrantTurn)
    }
}

impl fmt::Display for ReentrantTurn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Reactor::turn or run called from inside a callback of the same reactor")
    }
}

impl std::error::Error for ReentrantTurn {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_errors_carry_chrome_text_and_code() {
        let e = LastError::net(NetError::ADDRESS_IN_USE);
        assert_eq!(e.message(), "net::ERR_ADDRESS_IN_USE");
        assert_eq!(e.code().map(NetError::code), Some(-147));
        assert_eq!(e.to_string(), "net::ERR_ADDRESS_IN_USE");
        assert_eq!(e.kind(), LastErrorKind::Net(NetError::ADDRESS_IN_USE));
    }

    #[test]
    fn every_constructor_has_the_kind_of_its_message() {
        let cases = [
            (LastError::socket_not_found(), LastErrorKind::NotFound),
            (
                LastError::socket_not_found_with(NetError::FAILED),
                LastErrorKind::NotFound,
            ),
            (LastError::no_permission(), LastErrorKind::Permission),
            (LastError::write_quota(), LastErrorKind::WriteQuota),
            (
                LastError::ids_exhausted(),
                LastErrorKind::Net(NetError::INSUFFICIENT_RESOURCES),
            ),
            (
                LastError::net(NetError::CONNECTION_RESET),
                LastErrorKind::Net(NetError::CONNECTION_RESET),
            ),
        ];
        for (e, kind) in cases {
            assert_eq!(e.kind(), kind, "{e:?}");
            // A net kind's message is its code's, so kind and message never disagree.
            if let LastErrorKind::Net(code) = kind {
                assert_eq!(e.message(), code.message());
                assert_eq!(e.code(), Some(code));
            }
        }
        assert_eq!(
            LastError::ids_exhausted().message(),
            "net::ERR_INSUFFICIENT_RESOURCES"
        );
        // Every net error's message starts with "net::", which `kind` relies on.
        for code in (-1000..=-1).map(NetError::from_code) {
            assert_eq!(LastError::net(code).kind(), LastErrorKind::Net(code));
        }
        assert_eq!(std::mem::size_of::<LastError>(), 32);
    }

    #[test]
    fn fixed_messages_match_chrome() {
        assert_eq!(LastError::socket_not_found().message(), "Socket not found");
        assert_eq!(
            LastError::no_permission().message(),
            "Does not have permission"
        );
        assert_eq!(LastError::write_quota().message(), "Exceeded write quota.");
        assert_eq!(
            LastError::socket_not_found_with(NetError::FAILED).code(),
            Some(NetError::FAILED)
        );
    }
}
