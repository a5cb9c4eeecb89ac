//! Chrome net error codes and the POSIX `errno` → net error mapping.
//!
//! Chrome reports socket failures as negative "net error" codes from
//! `net/base/net_error_list.h` (for example -147 `ERR_ADDRESS_IN_USE`), and sets
//! `chrome.runtime.lastError.message` to `net::ErrorToString(code)`, which is
//! `"net::" + name` (for example `"net::ERR_ADDRESS_IN_USE"`). [`NetError`] carries such a
//! code together with its name and message.
//!
//! The `errno` → net error mapping is Chromium's POSIX code, held as data: `GENERIC`
//! (`net::MapSystemError`) and the few entries by which `ACCEPT_OVERRIDES`
//! (`MapAcceptError`) and `CONNECT_OVERRIDES` (`MapConnectError`) differ from it. The
//! table in [`NetError`]'s docs is that data rendered, and a test checks it against them.
//!
//! The crate's accept *retry policy* is separate from the mapping: see
//! `accept_errno_is_retryable` (a deliberate deviation from Chrome, which turns the
//! per-connection network errors of `accept(2)` into `onAcceptError`; see
//! [`deviations`](crate::deviations)).

use std::fmt;
use std::io;

/// A Chrome net error code (`net/base/net_error_list.h`), e.g. -147 `ERR_ADDRESS_IN_USE`.
///
/// `0` is [`NetError::OK`]; every error is negative. Any `i32` can be wrapped with
/// [`NetError::from_code`]; the associated constants name the codes this crate produces,
/// and the [errno mapping](#errno-mapping) below says which errnos give which of them.
/// `Display` prints Chrome's `lastError` text ([`NetError::message`]).
///
/// ```
/// use chrome_sockets::NetError;
///
/// assert_eq!(NetError::ADDRESS_IN_USE.code(), -147);
/// assert_eq!(NetError::ADDRESS_IN_USE.name(), "ERR_ADDRESS_IN_USE");
/// assert_eq!(NetError::ADDRESS_IN_USE.to_string(), "net::ERR_ADDRESS_IN_USE");
/// assert_eq!(NetError::from_errno(libc::EADDRINUSE), NetError::ADDRESS_IN_USE);
/// assert_eq!(NetError::from_code(-147), NetError::ADDRESS_IN_USE);
/// assert_eq!(i32::from(NetError::OK), 0);
/// ```
///
/// # Errno mapping
///
/// [`from_errno`](Self::from_errno) is Chromium's `net::MapSystemError`
/// (`net/base/net_errors_posix.cc`), the "generic" mapping.
/// [`from_accept_errno`](Self::from_accept_errno) (`MapAcceptError`) and
/// [`from_connect_errno`](Self::from_connect_errno) (`MapConnectError`, both in
/// `net/socket/socket_posix.cc`) differ from it in the few cells below; on connect, whatever
/// the generic mapping calls `FAILED` becomes the more specific `CONNECTION_FAILED`. Each
/// cell reads generic / accept / connect, with one value where all three agree and only the
/// number where accept or connect agrees with generic. Chromium's file-system errnos
/// (`ENOENT`, `EEXIST`, ...) are mapped too, so every errno gets the code Chrome would report.
/// A unit test renders this table from the mapping data and compares it with this text.
///
/// | errno | net error |
/// |---|---|
/// | `EAGAIN`, `EWOULDBLOCK` | -1 `IO_PENDING` |
/// | `EACCES` | -10 `ACCESS_DENIED` / -10 / -138 `NETWORK_ACCESS_DENIED` |
/// | `EPERM`, `EISDIR`, `EROFS`, `ETXTBSY` | -10 `ACCESS_DENIED` |
/// | `EADDRINUSE` | -147 `ADDRESS_IN_USE` |
/// | `EADDRNOTAVAIL` | -108 `ADDRESS_INVALID` |
/// | `EMFILE`, `ENFILE`, `EBUSY`, `EDEADLK`, `ENOLCK`, `EUSERS` | -12 `INSUFFICIENT_RESOURCES` |
/// | `ENOBUFS` | -176 `NO_BUFFER_SPACE` |
/// | `ENOMEM` | -13 `OUT_OF_MEMORY` |
/// | `ECONNABORTED` | -103 `CONNECTION_ABORTED` / -1 `IO_PENDING` / -103 |
/// | `ECONNRESET`, `ENETRESET`, `EPIPE` | -101 `CONNECTION_RESET` |
/// | `ETIMEDOUT` | -7 `TIMED_OUT` / -7 / -118 `CONNECTION_TIMED_OUT` |
/// | `ECONNREFUSED` | -102 `CONNECTION_REFUSED` |
/// | `EHOSTUNREACH`, `EHOSTDOWN`, `ENETUNREACH`, `EAFNOSUPPORT` | -109 `ADDRESS_UNREACHABLE` |
/// | `ENETDOWN` | -106 `INTERNET_DISCONNECTED` |
/// | `ENOTCONN` | -15 `SOCKET_NOT_CONNECTED` |
/// | `EISCONN` | -23 `SOCKET_IS_CONNECTED` |
/// | `EMSGSIZE` | -142 `MSG_TOO_BIG` |
/// | `EINVAL`, `EFAULT`, `E2BIG`, `ENODEV` | -4 `INVALID_ARGUMENT` |
/// | `EBADF` | -5 `INVALID_HANDLE` |
/// | `ECANCELED` | -3 `ABORTED` |
/// | `ENOSYS`, `ENOTSUP`, `ENOPROTOOPT` | -11 `NOT_IMPLEMENTED` |
/// | `ENOENT`, `ENOTDIR` | -6 `FILE_NOT_FOUND` |
/// | `EEXIST` | -16 `FILE_EXISTS` |
/// | `EFBIG` | -8 `FILE_TOO_BIG` |
/// | `ENAMETOOLONG` | -17 `FILE_PATH_TOO_LONG` |
/// | `ENOSPC`, `EDQUOT` | -18 `FILE_NO_SPACE` |
/// | `EINPROGRESS` | -2 `FAILED` / -2 / -1 `IO_PENDING` |
/// | anything unlisted (`EINTR`, `EPROTO`, ...) | -2 `FAILED` / -2 / -104 `CONNECTION_FAILED` |
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NetError(i32);

/// Declares the named codes: one associated constant each, plus the code → name table.
macro_rules! net_errors {
    ($($(#[doc = $doc:literal])* $name:ident = $code:literal;)*) => {
        impl NetError {
            $(
                $(#[doc = $doc])*
                pub const $name: NetError = NetError($code);
            )*
        }

        /// Chrome's short name (`ErrorToShortString`) of a code declared above.
        const fn known_name(code: i32) -> Option<&'static str> {
            match code {
                0 => Some("OK"),
                $($code => Some(concat!("ERR_", stringify!($name))),)*
                _ => None,
            }
        }
    };
}

net_errors! {
    /// -1 `ERR_IO_PENDING`: the operation would block; wait for readiness. Internal only, never
    /// reported to the app.
    IO_PENDING = -1;
    /// -2 `ERR_FAILED`: generic failure, and the mapping of any errno the
    /// [table](NetError#errno-mapping) does not list.
    FAILED = -2;
    /// -3 `ERR_ABORTED`: the operation was cancelled.
    ABORTED = -3;
    /// -4 `ERR_INVALID_ARGUMENT`: bad argument (e.g. a bad listen address or backlog).
    INVALID_ARGUMENT = -4;
    /// -5 `ERR_INVALID_HANDLE`: bad file descriptor.
    INVALID_HANDLE = -5;
    /// -6 `ERR_FILE_NOT_FOUND`: a file-system errno, kept as Chromium maps it.
    FILE_NOT_FOUND = -6;
    /// -7 `ERR_TIMED_OUT`: an operation other than connect timed out.
    TIMED_OUT = -7;
    /// -8 `ERR_FILE_TOO_BIG`: a file-system errno, kept as Chromium maps it.
    FILE_TOO_BIG = -8;
    /// -10 `ERR_ACCESS_DENIED`: permission denied (e.g. binding a port below 1024 unprivileged).
    ACCESS_DENIED = -10;
    /// -11 `ERR_NOT_IMPLEMENTED`: the operation or option is not supported.
    NOT_IMPLEMENTED = -11;
    /// -12 `ERR_INSUFFICIENT_RESOURCES`: out of file descriptors or another kernel resource.
    INSUFFICIENT_RESOURCES = -12;
    /// -13 `ERR_OUT_OF_MEMORY`: the kernel is out of memory.
    OUT_OF_MEMORY = -13;
    /// -15 `ERR_SOCKET_NOT_CONNECTED`: send on an unconnected socket.
    SOCKET_NOT_CONNECTED = -15;
    /// -16 `ERR_FILE_EXISTS`: a file-system errno, kept as Chromium maps it.
    FILE_EXISTS = -16;
    /// -17 `ERR_FILE_PATH_TOO_LONG`: a file-system errno, kept as Chromium maps it.
    FILE_PATH_TOO_LONG = -17;
    /// -18 `ERR_FILE_NO_SPACE`: a file-system errno, kept as Chromium maps it.
    FILE_NO_SPACE = -18;
    /// -23 `ERR_SOCKET_IS_CONNECTED`: connect on a connected socket, listen on a listening
    /// one.
    SOCKET_IS_CONNECTED = -23;
    /// -100 `ERR_CONNECTION_CLOSED`: the peer closed the connection (EOF).
    CONNECTION_CLOSED = -100;
    /// -101 `ERR_CONNECTION_RESET`: the peer reset the connection, or a write hit a closed one.
    CONNECTION_RESET = -101;
    /// -102 `ERR_CONNECTION_REFUSED`: nothing listens at the address.
    CONNECTION_REFUSED = -102;
    /// -103 `ERR_CONNECTION_ABORTED`: the connection was aborted (on accept: try again).
    CONNECTION_ABORTED = -103;
    /// -104 `ERR_CONNECTION_FAILED`: connect already in flight, or a connect errno the generic
    /// mapping calls `FAILED`.
    CONNECTION_FAILED = -104;
    /// -105 `ERR_NAME_NOT_RESOLVED`: connect could not resolve the host name.
    NAME_NOT_RESOLVED = -105;
    /// -106 `ERR_INTERNET_DISCONNECTED`: the network is down.
    INTERNET_DISCONNECTED = -106;
    /// -108 `ERR_ADDRESS_INVALID`: the address is not local (e.g. listening on a non-local IP).
    ADDRESS_INVALID = -108;
    /// -109 `ERR_ADDRESS_UNREACHABLE`: no route to the host or network, or an unsupported
    /// address family.
    ADDRESS_UNREACHABLE = -109;
    /// -118 `ERR_CONNECTION_TIMED_OUT`: connect timed out.
    CONNECTION_TIMED_OUT = -118;
    /// -138 `ERR_NETWORK_ACCESS_DENIED`: connect was denied (most likely by a firewall).
    NETWORK_ACCESS_DENIED = -138;
    /// -142 `ERR_MSG_TOO_BIG`: the message is too long.
    MSG_TOO_BIG = -142;
    /// -147 `ERR_ADDRESS_IN_USE`: listen on a taken port.
    ADDRESS_IN_USE = -147;
    /// -176 `ERR_NO_BUFFER_SPACE`: the kernel has no buffer space.
    NO_BUFFER_SPACE = -176;
}

/// Short name Chrome gives a code missing from its `net_error_list.h`: `ErrorToShortString`
/// falls through to `"ERR_" + "<unknown>"`.
const UNKNOWN_NAME: &str = "ERR_<unknown>";

impl NetError {
    /// 0 `OK`: success. Never a `lastError`; its message is `"net::OK"`.
    pub const OK: NetError = NetError(0);

    /// Wraps any raw code (0 or a negative Chrome net error; other values are kept as given).
    #[must_use]
    pub const fn from_code(code: i32) -> NetError {
        NetError(code)
    }

    /// The raw code, e.g. -147 for [`NetError::ADDRESS_IN_USE`].
    #[must_use]
    pub const fn code(self) -> i32 {
        self.0
    }

    /// Chrome's short name (`net::ErrorToShortString`): `"ERR_ADDRESS_IN_USE"`, `"OK"` for 0.
    ///
    /// Only the codes with a constant on this type are named. Any other code gives
    /// `"ERR_<unknown>"`, which is what Chrome gives for a code missing from its
    /// `net_error_list.h` (for codes Chrome does list but this crate never produces, Chrome
    /// would print their real name).
    #[must_use]
    pub fn name(self) -> &'static str {
        known_name(self.0).unwrap_or(UNKNOWN_NAME)
    }

    /// Chrome's `lastError` text (`net::ErrorToString`): `"net::"` + [`name`](Self::name),
    /// e.g. `"net::ERR_ADDRESS_IN_USE"`.
    #[must_use]
    pub fn message(self) -> String {
        format!("net::{}", self.name())
    }

    /// Maps an `errno` as Chromium's `net::MapSystemError` does (the generic mapping): `0` is
    /// `OK`, an errno the [table](Self#errno-mapping) does not list is
    /// [`FAILED`](Self::FAILED).
    ///
    /// ```
    /// use chrome_sockets::NetError;
    ///
    /// assert_eq!(NetError::from_errno(libc::ECONNRESET), NetError::CONNECTION_RESET);
    /// assert_eq!(NetError::from_errno(libc::EINTR), NetError::FAILED);
    /// ```
    #[must_use]
    pub fn from_errno(errno: i32) -> NetError {
        if errno == 0 {
            return NetError::OK;
        }
        lookup(GENERIC, errno).unwrap_or(NetError::FAILED)
    }

    /// Maps an `accept(2)` errno as Chromium's `MapAcceptError` does (the accept mapping):
    /// the generic one, but for the accept cells of the [table](Self#errno-mapping).
    ///
    /// Whether the crate retries an accept is decided by `accept_errno_is_retryable`, not here.
    ///
    /// ```
    /// use chrome_sockets::NetError;
    ///
    /// // The client gave up before the accept: try again.
    /// assert_eq!(NetError::from_accept_errno(libc::ECONNABORTED), NetError::IO_PENDING);
    /// assert_eq!(NetError::from_accept_errno(libc::EMFILE), NetError::INSUFFICIENT_RESOURCES);
    /// ```
    #[must_use]
    pub fn from_accept_errno(errno: i32) -> NetError {
        lookup(ACCEPT_OVERRIDES, errno).unwrap_or_else(|| NetError::from_errno(errno))
    }

    /// Maps a `connect(2)` errno as Chromium's `MapConnectError` does (the connect mapping):
    /// the generic one, but for the connect cells of the [table](Self#errno-mapping), and
    /// with [`FAILED`](Self::FAILED) (an unlisted errno) made the more specific
    /// [`CONNECTION_FAILED`](Self::CONNECTION_FAILED).
    ///
    /// ```
    /// use chrome_sockets::NetError;
    ///
    /// assert_eq!(NetError::from_connect_errno(libc::EINPROGRESS), NetError::IO_PENDING);
    /// assert_eq!(NetError::from_connect_errno(libc::EACCES), NetError::NETWORK_ACCESS_DENIED);
    /// assert_eq!(NetError::from_connect_errno(libc::EINTR), NetError::CONNECTION_FAILED);
    /// ```
    #[must_use]
    pub fn from_connect_errno(errno: i32) -> NetError {
        lookup(CONNECT_OVERRIDES, errno).unwrap_or_else(|| match NetError::from_errno(errno) {
            NetError::FAILED => NetError::CONNECTION_FAILED,
            mapped => mapped,
        })
    }

    /// Generic mapping of an [`io::Error`].
    ///
    /// An error carrying an OS code goes through [`from_errno`](Self::from_errno). One without
    /// (synthesized by std or mio) is mapped by [`io::ErrorKind`] to the code of the matching
    /// errno: `WouldBlock` → `IO_PENDING`, `TimedOut` → `TIMED_OUT`, `ConnectionReset` and
    /// `BrokenPipe` → `CONNECTION_RESET`, `ConnectionRefused` → `CONNECTION_REFUSED`,
    /// `ConnectionAborted` → `CONNECTION_ABORTED`, `NotConnected` → `SOCKET_NOT_CONNECTED`,
    /// `AddrInUse` → `ADDRESS_IN_USE`, `AddrNotAvailable` → `ADDRESS_INVALID`,
    /// `PermissionDenied` → `ACCESS_DENIED`, `InvalidInput` → `INVALID_ARGUMENT`,
    /// `OutOfMemory` → `OUT_OF_MEMORY`, `Unsupported` → `NOT_IMPLEMENTED`, `NotFound` →
    /// `FILE_NOT_FOUND`, `AlreadyExists` → `FILE_EXISTS`; `UnexpectedEof` (the peer closed) →
    /// `CONNECTION_CLOSED`; every other kind (`Interrupted`, `WriteZero`, `InvalidData`,
    /// `Other`, ...) → `FAILED`.
    #[must_use]
    pub fn from_io_error(err: &io::Error) -> NetError {
        if let Some(errno) = err.raw_os_error() {
            return NetError::from_errno(errno);
        }
        match err.kind() {
            io::ErrorKind::WouldBlock => NetError::IO_PENDING,
            io::ErrorKind::TimedOut => NetError::TIMED_OUT,
            io::ErrorKind::ConnectionReset | io::ErrorKind::BrokenPipe => {
                NetError::CONNECTION_RESET
            }
            io::ErrorKind::ConnectionRefused => NetError::CONNECTION_REFUSED,
            io::ErrorKind::ConnectionAborted => NetError::CONNECTION_ABORTED,
            io::ErrorKind::NotConnected => NetError::SOCKET_NOT_CONNECTED,
            io::ErrorKind::AddrInUse => NetError::ADDRESS_IN_USE,
            io::ErrorKind::AddrNotAvailable => NetError::ADDRESS_INVALID,
            io::ErrorKind::PermissionDenied => NetError::ACCESS_DENIED,
            io::ErrorKind::InvalidInput => NetError::INVALID_ARGUMENT,
            io::ErrorKind::OutOfMemory => NetError::OUT_OF_MEMORY,
            io::ErrorKind::Unsupported => NetError::NOT_IMPLEMENTED,
            io::ErrorKind::NotFound => NetError::FILE_NOT_FOUND,
            io::ErrorKind::AlreadyExists => NetError::FILE_EXISTS,
            io::ErrorKind::UnexpectedEof => NetError::CONNECTION_CLOSED,
            _ => NetError::FAILED,
        }
    }
}

impl fmt::Display for NetError {
    /// Prints [`NetError::message`], e.g. `net::ERR_ADDRESS_IN_USE`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "net::{}", self.name())
    }
}

impl fmt::Debug for NetError {
    /// Prints code and name, e.g. `NetError(-147 ERR_ADDRESS_IN_USE)`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NetError({} {})", self.0, self.name())
    }
}

impl std::error::Error for NetError {}

impl From<NetError> for i32 {
    /// The raw code, as [`NetError::code`].
    fn from(err: NetError) -> i32 {
        err.0
    }
}

/// One errno of a mapping: its name (for the rendered table), its value, its code.
type ErrnoRow = (&'static str, i32, NetError);

/// Spells mapping rows the way a `match` reads: `EPIPE | ECONNRESET => CONNECTION_RESET,`
/// gives one [`ErrnoRow`] per errno, `("EPIPE", libc::EPIPE, NetError::CONNECTION_RESET)`.
macro_rules! errno_rows {
    ($($($errno:ident)|+ => $net:ident,)*) => {
        &[$($((stringify!($errno), libc::$errno, NetError::$net),)+)*]
    };
}

/// The generic mapping, Chromium's `net::MapSystemError` (`net/base/net_errors_posix.cc`):
/// every errno it names; any other nonzero errno is `FAILED`. Socket errnos first, then
/// Chromium's file-system ones; `EAGAIN`, the most common, first of all. `ENOTSUP` is
/// `EOPNOTSUPP` on Linux (Chromium lists only `ENOTSUP`), as `EWOULDBLOCK` is `EAGAIN`.
const GENERIC: &[ErrnoRow] = errno_rows! {
    EAGAIN | EWOULDBLOCK => IO_PENDING,
    EACCES | EPERM => ACCESS_DENIED,
    EADDRINUSE => ADDRESS_IN_USE,
    EADDRNOTAVAIL => ADDRESS_INVALID,
    EMFILE | ENFILE | EBUSY | EDEADLK | ENOLCK | EUSERS => INSUFFICIENT_RESOURCES,
    ENOBUFS => NO_BUFFER_SPACE,
    ENOMEM => OUT_OF_MEMORY,
    ECONNABORTED => CONNECTION_ABORTED,
    ECONNRESET | ENETRESET | EPIPE => CONNECTION_RESET,
    ETIMEDOUT => TIMED_OUT,
    ECONNREFUSED => CONNECTION_REFUSED,
    EHOSTUNREACH | EHOSTDOWN | ENETUNREACH | EAFNOSUPPORT => ADDRESS_UNREACHABLE,
    ENETDOWN => INTERNET_DISCONNECTED,
    ENOTCONN => SOCKET_NOT_CONNECTED,
    EISCONN => SOCKET_IS_CONNECTED,
    EMSGSIZE => MSG_TOO_BIG,
    EINVAL | EFAULT | E2BIG | ENODEV => INVALID_ARGUMENT,
    EBADF => INVALID_HANDLE,
    ECANCELED => ABORTED,
    ENOSYS | ENOTSUP | ENOPROTOOPT => NOT_IMPLEMENTED,
    EISDIR | EROFS | ETXTBSY => ACCESS_DENIED,
    ENOENT | ENOTDIR => FILE_NOT_FOUND,
    EEXIST => FILE_EXISTS,
    EFBIG => FILE_TOO_BIG,
    ENAMETOOLONG => FILE_PATH_TOO_LONG,
    ENOSPC | EDQUOT => FILE_NO_SPACE,
};

/// Chromium's `MapAcceptError` (`net/socket/socket_posix.cc`): where accept differs from
/// [`GENERIC`]. `ECONNABORTED` is a client that gave up before the accept: try again.
const ACCEPT_OVERRIDES: &[ErrnoRow] = errno_rows! {
    ECONNABORTED => IO_PENDING,
};

/// Chromium's `MapConnectError` (same file): where connect differs from [`GENERIC`], before
/// its `FAILED` → `CONNECTION_FAILED` rule. `EACCES` on connect is most likely a firewall.
const CONNECT_OVERRIDES: &[ErrnoRow] = errno_rows! {
    EINPROGRESS => IO_PENDING,
    EACCES => NETWORK_ACCESS_DENIED,
    ETIMEDOUT => CONNECTION_TIMED_OUT,
};

/// The code `rows` give `errno`: a linear scan of a few dozen rows, on error paths only.
fn lookup(rows: &[ErrnoRow], errno: i32) -> Option<NetError> {
    rows.iter().find(|row| row.1 == errno).map(|row| row.2)
}

/// `ENONET` exists on Linux and Android only.
#[cfg(any(target_os = "linux", target_os = "android"))]
const ENONET: Option<i32> = Some(libc::ENONET);
#[cfg(not(any(target_os = "linux", target_os = "android")))]
const ENONET: Option<i32> = None;

/// The crate's accept retry policy (deviates from Chrome, which pauses the server on these;
/// see [`deviations`](crate::deviations)).
///
/// True for the errnos after which `accept(2)` tells callers to simply call it again:
/// `EINTR`, `ECONNABORTED`, and the pending network errors of the new connection that Linux
/// hands back from accept (`ENETDOWN`, `EPROTO`, `ENOPROTOOPT`, `EHOSTDOWN`, `ENONET`,
/// `EHOSTUNREACH`, `EOPNOTSUPP`, `ENETUNREACH`). Chrome instead reports those as
/// `onAcceptError` and pauses the server. `EAGAIN`/`EWOULDBLOCK` is false: it means "nothing
/// more to accept, wait for readiness", not "retry".
#[must_use]
pub(crate) fn accept_errno_is_retryable(errno: i32) -> bool {
    matches!(
        errno,
        libc::EINTR
            | libc::ECONNABORTED
            | libc::ENETDOWN
            | libc::EPROTO
            | libc::ENOPROTOOPT
            | libc::EHOSTDOWN
            | libc::EHOSTUNREACH
            | libc::EOPNOTSUPP
            | libc::ENETUNREACH
    ) || ENONET == Some(errno)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;
    use NetError as E;

    /// Every code the crate names: constant, code, short name (`net_error_list.h`); the
    /// `lastError` text is `"net::"` + the short name.
    const TABLE_7_1: &[(NetError, i32, &str)] = &[
        (E::OK, 0, "OK"),
        (E::IO_PENDING, -1, "ERR_IO_PENDING"),
        (E::FAILED, -2, "ERR_FAILED"),
        (E::ABORTED, -3, "ERR_ABORTED"),
        (E::INVALID_ARGUMENT, -4, "ERR_INVALID_ARGUMENT"),
        (E::INVALID_HANDLE, -5, "ERR_INVALID_HANDLE"),
        (E::TIMED_OUT, -7, "ERR_TIMED_OUT"),
        (E::ACCESS_DENIED, -10, "ERR_ACCESS_DENIED"),
        (E::NOT_IMPLEMENTED, -11, "ERR_NOT_IMPLEMENTED"),
        (E::INSUFFICIENT_RESOURCES, -12, "ERR_INSUFFICIENT_RESOURCES"),
        (E::OUT_OF_MEMORY, -13, "ERR_OUT_OF_MEMORY"),
        (E::SOCKET_NOT_CONNECTED, -15, "ERR_SOCKET_NOT_CONNECTED"),
        (E::SOCKET_IS_CONNECTED, -23, "ERR_SOCKET_IS_CONNECTED"),
        (E::CONNECTION_CLOSED, -100, "ERR_CONNECTION_CLOSED"),
        (E::CONNECTION_RESET, -101, "ERR_CONNECTION_RESET"),
        (E::CONNECTION_REFUSED, -102, "ERR_CONNECTION_REFUSED"),
        (E::CONNECTION_ABORTED, -103, "ERR_CONNECTION_ABORTED"),
        (E::CONNECTION_FAILED, -104, "ERR_CONNECTION_FAILED"),
        (E::NAME_NOT_RESOLVED, -105, "ERR_NAME_NOT_RESOLVED"),
        (E::INTERNET_DISCONNECTED, -106, "ERR_INTERNET_DISCONNECTED"),
        (E::ADDRESS_INVALID, -108, "ERR_ADDRESS_INVALID"),
        (E::ADDRESS_UNREACHABLE, -109, "ERR_ADDRESS_UNREACHABLE"),
        (E::CONNECTION_TIMED_OUT, -118, "ERR_CONNECTION_TIMED_OUT"),
        (E::NETWORK_ACCESS_DENIED, -138, "ERR_NETWORK_ACCESS_DENIED"),
        (E::MSG_TOO_BIG, -142, "ERR_MSG_TOO_BIG"),
        (E::ADDRESS_IN_USE, -147, "ERR_ADDRESS_IN_USE"),
        (E::NO_BUFFER_SPACE, -176, "ERR_NO_BUFFER_SPACE"),
        // Chromium's extra file-system mappings.
        (E::FILE_NOT_FOUND, -6, "ERR_FILE_NOT_FOUND"),
        (E::FILE_TOO_BIG, -8, "ERR_FILE_TOO_BIG"),
        (E::FILE_EXISTS, -16, "ERR_FILE_EXISTS"),
        (E::FILE_PATH_TOO_LONG, -17, "ERR_FILE_PATH_TOO_LONG"),
        (E::FILE_NO_SPACE, -18, "ERR_FILE_NO_SPACE"),
    ];

    #[test]
    fn every_named_code_has_chromes_name_and_message() {
        for &(err, code, name) in TABLE_7_1 {
            let message = format!("net::{name}");
            assert_eq!(err.name(), name);
            assert_eq!(err.code(), code);
            assert_eq!(i32::from(err), code);
            assert_eq!(NetError::from_code(code), err);
            assert_eq!(err.message(), message);
            assert_eq!(err.to_string(), message);
            assert_eq!(
                format!("{err:?}"),
                format!("NetError({code} {})", err.name())
            );
        }
        let codes: HashSet<i32> = TABLE_7_1.iter().map(|&(_, c, _)| c).collect();
        assert_eq!(codes.len(), TABLE_7_1.len(), "duplicate code in table");
        let named = (-1000..=0).filter(|&c| known_name(c).is_some());
        assert!(
            named.clone().all(|c| codes.contains(&c)),
            "named code missing"
        );
        assert_eq!(named.count(), codes.len());
    }

    #[test]
    fn ok_and_examples() {
        assert_eq!(NetError::OK.name(), "OK");
        assert_eq!(NetError::OK.to_string(), "net::OK");
        assert_eq!(format!("{:?}", NetError::OK), "NetError(0 OK)");
        assert_eq!(
            format!("{:?}", NetError::ADDRESS_IN_USE),
            "NetError(-147 ERR_ADDRESS_IN_USE)"
        );
        assert!(NetError::ADDRESS_IN_USE < NetError::OK);
        let boxed: Box<dyn std::error::Error> = Box::new(NetError::CONNECTION_RESET);
        assert_eq!(boxed.to_string(), "net::ERR_CONNECTION_RESET");
    }

    #[test]
    fn unknown_code_is_err_unknown_like_chrome() {
        for code in [-9, -999, -100_000, 1, i32::MIN, i32::MAX] {
            let err = NetError::from_code(code);
            assert_eq!(err.code(), code);
            assert_eq!(err.name(), "ERR_<unknown>");
            assert_eq!(err.message(), "net::ERR_<unknown>");
            assert_eq!(err.to_string(), "net::ERR_<unknown>");
            assert_eq!(
                format!("{err:?}"),
                format!("NetError({code} ERR_<unknown>)")
            );
        }
    }

    /// The errno mapping, errno by errno: (name, errno, generic, accept, connect).
    /// Blank accept/connect cells fall back to the generic mapping, as in Chromium
    /// (`MapAcceptError`/`MapConnectError` call `MapSystemError`); "retried"/"never surfaces"
    /// cells (EINTR) hold what the mapping returns, the retry itself is tested below.
    const TABLE_7_2: &[(&str, i32, i32, i32, i32)] = &[
        ("0", 0, 0, 0, 0),
        ("EAGAIN", libc::EAGAIN, -1, -1, -1),
        ("EWOULDBLOCK", libc::EWOULDBLOCK, -1, -1, -1),
        ("EINTR", libc::EINTR, -2, -2, -104),
        ("EINPROGRESS", libc::EINPROGRESS, -2, -2, -1),
        ("EACCES", libc::EACCES, -10, -10, -138),
        ("EPERM", libc::EPERM, -10, -10, -10),
        ("EADDRINUSE", libc::EADDRINUSE, -147, -147, -147),
        ("EADDRNOTAVAIL", libc::EADDRNOTAVAIL, -108, -108, -108),
        ("EAFNOSUPPORT", libc::EAFNOSUPPORT, -109, -109, -109),
        ("EMFILE", libc::EMFILE, -12, -12, -12),
        ("ENFILE", libc::ENFILE, -12, -12, -12),
        ("ENOBUFS", libc::ENOBUFS, -176, -176, -176),
        ("ENOMEM", libc::ENOMEM, -13, -13, -13),
        ("ECONNABORTED", libc::ECONNABORTED, -103, -1, -103),
        ("ECONNRESET", libc::ECONNRESET, -101, -101, -101),
        ("ENETRESET", libc::ENETRESET, -101, -101, -101),
        ("EPIPE", libc::EPIPE, -101, -101, -101),
        ("ETIMEDOUT", libc::ETIMEDOUT, -7, -7, -118),
        ("ECONNREFUSED", libc::ECONNREFUSED, -102, -102, -102),
        ("EHOSTUNREACH", libc::EHOSTUNREACH, -109, -109, -109),
        ("EHOSTDOWN", libc::EHOSTDOWN, -109, -109, -109),
        ("ENETUNREACH", libc::ENETUNREACH, -109, -109, -109),
        ("ENETDOWN", libc::ENETDOWN, -106, -106, -106),
        ("EINVAL", libc::EINVAL, -4, -4, -4),
        ("EFAULT", libc::EFAULT, -4, -4, -4),
        ("E2BIG", libc::E2BIG, -4, -4, -4),
        ("ENODEV", libc::ENODEV, -4, -4, -4),
        ("EBADF", libc::EBADF, -5, -5, -5),
        ("ENOTCONN", libc::ENOTCONN, -15, -15, -15),
        ("EISCONN", libc::EISCONN, -23, -23, -23),
        ("EMSGSIZE", libc::EMSGSIZE, -142, -142, -142),
        ("ENOSYS", libc::ENOSYS, -11, -11, -11),
        ("ENOTSUP", libc::ENOTSUP, -11, -11, -11),
        ("ENOPROTOOPT", libc::ENOPROTOOPT, -11, -11, -11),
        ("EBUSY", libc::EBUSY, -12, -12, -12),
        ("EDEADLK", libc::EDEADLK, -12, -12, -12),
        ("ENOLCK", libc::ENOLCK, -12, -12, -12),
        ("EUSERS", libc::EUSERS, -12, -12, -12),
        ("ECANCELED", libc::ECANCELED, -3, -3, -3),
        // "anything else"
        ("EPROTO", libc::EPROTO, -2, -2, -104),
        ("ENOTSOCK", libc::ENOTSOCK, -2, -2, -104),
        ("EIO", libc::EIO, -2, -2, -104),
        ("EALREADY", libc::EALREADY, -2, -2, -104),
        ("negative", -1, -2, -2, -104),
        ("huge", 100_000, -2, -2, -104),
        // Chromium's MapSystemError file-system rows.
        ("EISDIR", libc::EISDIR, -10, -10, -10),
        ("EROFS", libc::EROFS, -10, -10, -10),
        ("ETXTBSY", libc::ETXTBSY, -10, -10, -10),
        ("ENOENT", libc::ENOENT, -6, -6, -6),
        ("ENOTDIR", libc::ENOTDIR, -6, -6, -6),
        ("EFBIG", libc::EFBIG, -8, -8, -8),
        ("EEXIST", libc::EEXIST, -16, -16, -16),
        ("ENAMETOOLONG", libc::ENAMETOOLONG, -17, -17, -17),
        ("ENOSPC", libc::ENOSPC, -18, -18, -18),
        ("EDQUOT", libc::EDQUOT, -18, -18, -18),
    ];

    #[test]
    fn errno_table_7_2_every_column() {
        for &(name, errno, generic, accept, connect) in TABLE_7_2 {
            assert_eq!(
                NetError::from_errno(errno).code(),
                generic,
                "generic {name}"
            );
            assert_eq!(
                NetError::from_accept_errno(errno).code(),
                accept,
                "accept {name}"
            );
            assert_eq!(
                NetError::from_connect_errno(errno).code(),
                connect,
                "connect {name}"
            );
            let io = io::Error::from_raw_os_error(errno);
            assert_eq!(NetError::from_io_error(&io).code(), generic, "io {name}");
        }
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[test]
    fn linux_only_errnos() {
        // EOPNOTSUPP is ENOTSUP on Linux.
        for (errno, generic, accept, connect) in [
            (libc::EOPNOTSUPP, -11, -11, -11),
            (libc::ENONET, -2, -2, -104),
        ] {
            assert_eq!(NetError::from_errno(errno).code(), generic);
            assert_eq!(NetError::from_accept_errno(errno).code(), accept);
            assert_eq!(NetError::from_connect_errno(errno).code(), connect);
        }
    }

    #[test]
    fn accept_retry_policy() {
        let mut retry = vec![
            libc::EINTR,
            libc::ECONNABORTED,
            libc::ENETDOWN,
            libc::EPROTO,
            libc::ENOPROTOOPT,
            libc::EHOSTDOWN,
            libc::EHOSTUNREACH,
            libc::EOPNOTSUPP,
            libc::ENETUNREACH,
        ];
        #[cfg(any(target_os = "linux", target_os = "android"))]
        retry.push(libc::ENONET);
        for &errno in &retry {
            assert!(accept_errno_is_retryable(errno), "{errno} should retry");
        }
        for &(name, errno, ..) in TABLE_7_2 {
            if !retry.contains(&errno) {
                assert!(!accept_errno_is_retryable(errno), "{name} should not retry");
            }
        }
        assert!(!accept_errno_is_retryable(libc::EAGAIN));
        assert!(!accept_errno_is_retryable(libc::EWOULDBLOCK));
        assert!(!accept_errno_is_retryable(libc::EMFILE));
    }

    #[test]
    fn io_error_without_os_code_maps_by_kind() {
        use io::ErrorKind as K;
        let cases = [
            (K::WouldBlock, NetError::IO_PENDING),
            (K::TimedOut, NetError::TIMED_OUT),
            (K::ConnectionReset, NetError::CONNECTION_RESET),
            (K::BrokenPipe, NetError::CONNECTION_RESET),
            (K::ConnectionRefused, NetError::CONNECTION_REFUSED),
            (K::ConnectionAborted, NetError::CONNECTION_ABORTED),
            (K::NotConnected, NetError::SOCKET_NOT_CONNECTED),
            (K::AddrInUse, NetError::ADDRESS_IN_USE),
            (K::AddrNotAvailable, NetError::ADDRESS_INVALID),
            (K::PermissionDenied, NetError::ACCESS_DENIED),
            (K::InvalidInput, NetError::INVALID_ARGUMENT),
            (K::OutOfMemory, NetError::OUT_OF_MEMORY),
            (K::Unsupported, NetError::NOT_IMPLEMENTED),
            (K::NotFound, NetError::FILE_NOT_FOUND),
            (K::AlreadyExists, NetError::FILE_EXISTS),
            (K::UnexpectedEof, NetError::CONNECTION_CLOSED),
            (K::Interrupted, NetError::FAILED),
            (K::WriteZero, NetError::FAILED),
            (K::InvalidData, NetError::FAILED),
            (K::Other, NetError::FAILED),
        ];
        for (kind, expected) in cases {
            assert_eq!(
                NetError::from_io_error(&io::Error::from(kind)),
                expected,
                "{kind:?}"
            );
            let custom = io::Error::new(kind, "synthetic");
            assert_eq!(NetError::from_io_error(&custom), expected, "{kind:?}");
        }
        // An OS code wins over the kind.
        let os = io::Error::from_raw_os_error(libc::EADDRINUSE);
        assert_eq!(NetError::from_io_error(&os), NetError::ADDRESS_IN_USE);
    }

    /// Every errno 0..=200 on all three mappings, captured from the `match`-based code before
    /// the errno table became data: (errno, generic, accept, connect) for each errno not mapped
    /// to the default (-2, -2, -104). Raw numbers, so the table does not name itself; they are
    /// the asm-generic Linux errno values, hence the `cfg`.
    #[cfg(all(
        target_os = "linux",
        any(target_arch = "x86_64", target_arch = "x86", target_arch = "aarch64")
    ))]
    #[test]
    fn every_errno_to_200_maps_as_before() {
        const BEFORE: &[(i32, i32, i32, i32)] = &[
            (0, 0, 0, 0),
            (1, -10, -10, -10),
            (2, -6, -6, -6),
            (7, -4, -4, -4),
            (9, -5, -5, -5),
            (11, -1, -1, -1),
            (12, -13, -13, -13),
            (13, -10, -10, -138),
            (14, -4, -4, -4),
            (16, -12, -12, -12),
            (17, -16, -16, -16),
            (19, -4, -4, -4),
            (20, -6, -6, -6),
            (21, -10, -10, -10),
            (22, -4, -4, -4),
            (23, -12, -12, -12),
            (24, -12, -12, -12),
            (26, -10, -10, -10),
            (27, -8, -8, -8),
            (28, -18, -18, -18),
            (30, -10, -10, -10),
            (32, -101, -101, -101),
            (35, -12, -12, -12),
            (36, -17, -17, -17),
            (37, -12, -12, -12),
            (38, -11, -11, -11),
            (87, -12, -12, -12),
            (90, -142, -142, -142),
            (92, -11, -11, -11),
            (95, -11, -11, -11),
            (97, -109, -109, -109),
            (98, -147, -147, -147),
            (99, -108, -108, -108),
            (100, -106, -106, -106),
            (101, -109, -109, -109),
            (102, -101, -101, -101),
            (103, -103, -1, -103),
            (104, -101, -101, -101),
            (105, -176, -176, -176),
            (106, -23, -23, -23),
            (107, -15, -15, -15),
            (110, -7, -7, -118),
            (111, -102, -102, -102),
            (112, -109, -109, -109),
            (113, -109, -109, -109),
            (115, -2, -2, -1),
            (122, -18, -18, -18),
            (125, -3, -3, -3),
        ];
        for errno in 0..=200 {
            let expected = BEFORE
                .iter()
                .find(|row| row.0 == errno)
                .map_or((-2, -2, -104), |&(_, g, a, c)| (g, a, c));
            let got = (
                NetError::from_errno(errno).code(),
                NetError::from_accept_errno(errno).code(),
                NetError::from_connect_errno(errno).code(),
            );
            assert_eq!(got, expected, "errno {errno}");
        }
    }

    /// A cell of the errno table: `-10 `ACCESS_DENIED``, or only the number where `same`.
    fn cell(err: NetError, same: bool) -> String {
        if same {
            err.code().to_string()
        } else {
            let name = err.name();
            format!(
                "{} `{}`",
                err.code(),
                name.strip_prefix("ERR_").unwrap_or(name)
            )
        }
    }

    /// The errno table of `NetError`'s docs, rendered from `GENERIC` and the overrides through
    /// the three public mappings: errnos with the same three codes share a row, rows in the
    /// order their first errno appears in the data.
    fn render_errno_table() -> Vec<String> {
        let mut rows: Vec<([NetError; 3], Vec<&str>)> = Vec::new();
        for &(name, errno, _) in GENERIC
            .iter()
            .chain(ACCEPT_OVERRIDES)
            .chain(CONNECT_OVERRIDES)
        {
            let codes = [
                NetError::from_errno(errno),
                NetError::from_accept_errno(errno),
                NetError::from_connect_errno(errno),
            ];
            match rows.iter_mut().find(|row| row.0 == codes) {
                Some(row) if row.1.contains(&name) => {}
                Some(row) => row.1.push(name),
                None => rows.push((codes, vec![name])),
            }
        }
        let cells = |[generic, accept, connect]: [NetError; 3]| {
            if generic == accept && generic == connect {
                cell(generic, false)
            } else {
                let [a, c] = [accept, connect].map(|e| cell(e, e == generic));
                format!("{} / {a} / {c}", cell(generic, false))
            }
        };
        let mut lines = vec!["| errno | net error |".to_string(), "|---|---|".to_string()];
        for (codes, names) in &rows {
            let names: Vec<String> = names.iter().map(|n| format!("`{n}`")).collect();
            lines.push(format!("| {} | {} |", names.join(", "), cells(*codes)));
        }
        let unlisted = [libc::EINTR, libc::EPROTO].map(|errno| {
            let listed = GENERIC
                .iter()
                .chain(ACCEPT_OVERRIDES)
                .chain(CONNECT_OVERRIDES);
            assert!(
                listed.clone().all(|row| row.1 != errno),
                "{errno} is listed"
            );
            [
                NetError::from_errno(errno),
                NetError::from_accept_errno(errno),
                NetError::from_connect_errno(errno),
            ]
        });
        assert_eq!(unlisted[0], unlisted[1]);
        lines.push(format!(
            "| anything unlisted (`EINTR`, `EPROTO`, ...) | {} |",
            cells(unlisted[0])
        ));
        lines
    }

    #[test]
    fn errno_table_in_the_docs_is_the_data() {
        let documented: Vec<&str> = include_str!("net_error.rs")
            .lines()
            .filter_map(|line| line.strip_prefix("/// |"))
            .collect();
        let rendered = render_errno_table();
        let rendered: Vec<&str> = rendered.iter().map(|l| &l[1..]).collect();
        assert_eq!(
            documented,
            rendered,
            "the errno table of `NetError`'s docs differs from the data; it should read:\n{}",
            rendered
                .iter()
                .map(|l| format!("/// |{l}\n"))
                .collect::<String>()
        );
    }

    #[test]
    fn errno_rows_agree_and_overrides_override() {
        for (i, a) in GENERIC.iter().enumerate() {
            for b in &GENERIC[i + 1..] {
                assert!(a.0 != b.0, "{} listed twice", a.0);
                // EWOULDBLOCK == EAGAIN and ENOTSUP == EOPNOTSUPP: same value, same code.
                assert!(a.1 != b.1 || a.2 == b.2, "{} and {} disagree", a.0, b.0);
            }
        }
        for &(name, errno, code) in ACCEPT_OVERRIDES.iter().chain(CONNECT_OVERRIDES) {
            assert_ne!(
                NetError::from_errno(errno),
                code,
                "{name} overrides nothing"
            );
        }
    }
}
