//! Errors: which are callback data and which end a turn.
//!
//! Everything that can go wrong with a *call* (unknown id, bad address, port in use, a reset
//! peer) reaches the call's callback as `Err(`[`LastError`]`)`, Chrome's
//! `chrome.runtime.lastError`: the exact message Chrome would set and, where Chrome passes a
//! result code, that [`NetError`]. Errors on the accept or read path arrive as events
//! (`on_accept_error`, `on_receive_error`). Only failures of the machinery itself, the OS poll
//! or calling [`Reactor::turn`](crate::Reactor::turn) from inside a callback, come back from a
//! turn as `io::Error`.

use std::borrow::Cow;
use std::fmt;

use crate::net_error::NetError;

/// Chrome's `chrome.runtime.lastError` for a failed call.
///
/// `message` is exactly the string Chrome sets; `code` is the net error code Chrome passes to
/// the callback alongside it (for `listen`, `connect`, `send`, `setKeepAlive`, `setNoDelay`),
/// `None` where Chrome calls back with no result (for example "Socket not found").
///
/// ```
/// # use chrome_sockets::{Reactor, ServerSocketId};
/// # let mut r: Reactor = Reactor::new()?;
/// r.tcp_server().get_info(ServerSocketId::from_raw(99), |_, _, result| {
///     let err = result.unwrap_err();
///     assert_eq!(err.message(), "Socket not found");
///     assert_eq!(err.code(), None);
/// });
/// # r.turn(None, &mut ())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct LastError {
    message: Cow<'static, str>,
    code: Option<NetError>,
}

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
            message: Cow::Borrowed("Socket not found"),
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
            message: Cow::Borrowed("Socket not found"),
            code: Some(code),
        }
    }

    /// "Does not have permission": the sockets manifest allows no such listen or connect.
    pub(crate) fn no_permission() -> Self {
        LastError {
            message: Cow::Borrowed("Does not have permission"),
            code: None,
        }
    }

    /// "Exceeded write quota.": more than 200 MiB would be pending in sends.
    pub(crate) fn write_quota() -> Self {
        LastError {
            message: Cow::Borrowed("Exceeded write quota."),
            code: None,
        }
    }

    /// Every id of a kind is live (2^31 - 1 sockets at once, or the space a test knob set),
    /// so no id can be issued (D12).
    pub(crate) fn ids_exhausted() -> Self {
        LastError {
            message: Cow::Borrowed("net::ERR_INSUFFICIENT_RESOURCES"),
            code: Some(NetError::INSUFFICIENT_RESOURCES),
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_errors_carry_chrome_text_and_code() {
        let e = LastError::net(NetError::ADDRESS_IN_USE);
        assert_eq!(e.message(), "net::ERR_ADDRESS_IN_USE");
        assert_eq!(e.code().map(NetError::code), Some(-147));
        assert_eq!(e.to_string(), "net::ERR_ADDRESS_IN_USE");
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
