//! The crate's only `unsafe`: the few socket syscalls that std and mio do not offer the way
//! Chrome needs them, and the hot path's calls made directly (std's and mio's wrappers cost
//! more user-space instructions than the syscall's own libc wrapper).
//!
//! - [`bind_listener`]: `socket` + `SO_REUSEADDR` + `bind` + `listen` with the caller's backlog
//!   (mio's and std's `bind` fix their own backlog);
//! - [`send`]: `send(2)` with `MSG_NOSIGNAL`, so no write path can raise `SIGPIPE`;
//! - [`accept`]: `accept4(2)` reading the peer's `sockaddr` directly, with would-block as a
//!   plain value (it ends every accept batch);
//! - [`set_nodelay`]: `TCP_NODELAY`, Chrome's default on accepted sockets;
//! - [`set_keep_alive`]: `SO_KEEPALIVE`, `TCP_KEEPIDLE`, `TCP_KEEPINTVL` as Chrome sets them;
//! - [`monotonic_nanos`]: the timers' clock, one `clock_gettime` (a vDSO call);
//! - [`bind_listener`]'s `SO_REUSEPORT` for servers sharded across reactors;
//! - the signal stop ([`set_stop_handler`], [`restore_disposition`], [`signal_eventfd`]): a
//!   `sigaction` handler that only bumps a counter and writes to an eventfd, both
//!   async-signal-safe.
//!
//! Every fd is created with `SOCK_NONBLOCK | SOCK_CLOEXEC` and owned by an `OwnedFd` from the
//! moment it exists, so every early return closes it. Functions that act on an fd they do
//! not own take a `BorrowedFd<'_>`, std's I/O-safety convention: the caller's borrow keeps
//! the fd open for the length of the call.
//!
//! Linux only: `SOCK_NONBLOCK`, `MSG_NOSIGNAL`, `TCP_KEEPIDLE` and the `sockaddr` layout
//! used here are Linux's. The crate root compiles this module only on Linux and stops the
//! build with one `compile_error!` elsewhere.

use std::io;
use std::mem;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, AtomicUsize, Ordering};

/// Runs a libc call and turns `-1` into the thread's `errno` as an `io::Error`.
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        // SAFETY: each call site passes valid fds and pointers to live, correctly sized
        // buffers; see the SAFETY line at the call site.
        let res = unsafe { libc::$fn($($arg),*) };
        if res == -1 {
            Err(io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}

/// Fails the enclosing function with an injected error when the `fault-injection` feature is
/// on and a fault for `$call` is armed; expands to nothing otherwise.
macro_rules! seam {
    ($call:ident) => {
        #[cfg(feature = "fault-injection")]
        if let Some(e) = crate::fault_injection::take(crate::fault_injection::Syscall::$call) {
            return Err(e);
        }
    };
}

/// Opens a non-blocking, close-on-exec listening socket on `addr` with `SO_REUSEADDR` and the
/// given `listen(2)` backlog; with `reuse_port`, also `SO_REUSEPORT` (set before `bind`, so
/// several sockets of this user may listen on the same address and port, the kernel hashing
/// each new connection to one of them).
pub(crate) fn bind_listener(
    addr: SocketAddr,
    backlog: i32,
    reuse_port: bool,
) -> io::Result<TcpListener> {
    seam!(Socket);
    let family = match addr {
        SocketAddr::V4(_) => libc::AF_INET,
        SocketAddr::V6(_) => libc::AF_INET6,
    };
    // SAFETY: socket(2) takes no pointers.
    let raw = syscall!(socket(
        family,
        libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        0
    ))?;
    // SAFETY: `raw` was just returned by socket(2) and is owned by nothing else.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    set_int_option(fd.as_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    if reuse_port {
        set_int_option(fd.as_fd(), libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
    }
    seam!(Bind);
    let (storage, len) = sockaddr(addr);
    // SAFETY: `storage` is a sockaddr_storage holding a sockaddr_in/in6 of length `len`.
    syscall!(bind(
        fd.as_raw_fd(),
        &storage as *const libc::sockaddr_storage as *const libc::sockaddr,
        len
    ))?;
    seam!(Listen);
    // SAFETY: listen(2) takes no pointers.
    syscall!(listen(fd.as_raw_fd(), backlog))?;
    Ok(TcpListener::from(fd))
}

/// Why [`accept`] returned no connection.
#[derive(Debug)]
pub(crate) enum AcceptError {
    /// `EAGAIN`: nothing waiting (the common end of every accept batch, so it carries no
    /// `io::Error` to build and drop).
    WouldBlock,
    /// Any other failure.
    Os(io::Error),
}

impl From<io::Error> for AcceptError {
    fn from(e: io::Error) -> Self {
        match e.raw_os_error() {
            Some(libc::EAGAIN) => AcceptError::WouldBlock,
            _ => AcceptError::Os(e),
        }
    }
}

/// Accepts one connection: `accept4(2)` with `SOCK_NONBLOCK | SOCK_CLOEXEC`, the peer's
/// address read straight out of the `sockaddr` (what mio's `accept` does, minus the
/// `io::Error` on the would-block that ends every batch).
#[inline]
pub(crate) fn accept(
    listener: &mio::net::TcpListener,
) -> Result<(mio::net::TcpStream, SocketAddr), AcceptError> {
    #[cfg(feature = "fault-injection")]
    if let Some(e) = crate::fault_injection::take(crate::fault_injection::Syscall::Accept) {
        return Err(AcceptError::from(e));
    }
    // Large enough for either family (the kernel truncates anything longer, and a TCP/IP
    // peer never is), and a quarter of a `sockaddr_storage` to zero.
    // SAFETY: sockaddr_in6 is plain old data; all-zero is a valid value.
    let mut storage: libc::sockaddr_in6 = unsafe { mem::zeroed() };
    let mut len = mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t;
    // SAFETY: `storage` is a live sockaddr_in6 and `len` holds its exact size.
    let raw = unsafe {
        libc::accept4(
            listener.as_raw_fd(),
            &mut storage as *mut libc::sockaddr_in6 as *mut libc::sockaddr,
            &mut len,
            libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
        )
    };
    if raw == -1 {
        // SAFETY: `__errno_location` returns this thread's errno, always a valid pointer.
        let errno = unsafe { *libc::__errno_location() };
        return Err(match errno {
            libc::EAGAIN => AcceptError::WouldBlock,
            _ => AcceptError::Os(io::Error::from_raw_os_error(errno)),
        });
    }
    // SAFETY: `raw` was just returned by accept4(2) and is owned by nothing else.
    let fd = unsafe { OwnedFd::from_raw_fd(raw) };
    let peer = socket_addr(&storage).ok_or_else(|| {
        AcceptError::Os(io::Error::new(
            io::ErrorKind::InvalidInput,
            "accept4 returned an address that is neither IPv4 nor IPv6",
        ))
    })?;
    Ok((
        mio::net::TcpStream::from_std(std::net::TcpStream::from(fd)),
        peer,
    ))
}

/// The IPv4 or IPv6 address the kernel wrote into `storage`.
#[inline]
fn socket_addr(storage: &libc::sockaddr_in6) -> Option<SocketAddr> {
    match storage.sin6_family as libc::c_int {
        libc::AF_INET => {
            // SAFETY: the family says the kernel wrote a sockaddr_in, which is smaller than
            // and aligned like sockaddr_in6.
            let sin =
                unsafe { &*(storage as *const libc::sockaddr_in6 as *const libc::sockaddr_in) };
            let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
            Some(SocketAddr::from((ip, u16::from_be(sin.sin_port))))
        }
        libc::AF_INET6 => Some(SocketAddr::V6(std::net::SocketAddrV6::new(
            storage.sin6_addr.s6_addr.into(),
            u16::from_be(storage.sin6_port),
            storage.sin6_flowinfo,
            storage.sin6_scope_id,
        ))),
        _ => None,
    }
}

/// `CLOCK_MONOTONIC` (the clock behind std's `Instant`) in nanoseconds, read directly: std's
/// `Instant::now` and its `Duration` arithmetic cost several times the vDSO call itself.
#[inline]
pub(crate) fn monotonic_nanos() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a live timespec for the call to fill in.
    let res = unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    // CLOCK_MONOTONIC cannot fail on Linux (std's `Instant::now` panics if it ever did).
    debug_assert_eq!(res, 0);
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

/// `TCP_NODELAY = 1`, Chrome's default on every connected socket.
#[inline]
pub(crate) fn set_nodelay(fd: BorrowedFd<'_>) -> io::Result<()> {
    set_int_option(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1)
}

/// Registers `source` with the poll (through the seam, so a failed registration is testable).
pub(crate) fn register(
    registry: &mio::Registry,
    source: &mut impl mio::event::Source,
    token: mio::Token,
    interest: mio::Interest,
) -> io::Result<()> {
    seam!(Register);
    registry.register(source, token, interest)
}

/// Reads from a connected tcp stream.
pub(crate) fn read(stream: &mut mio::net::TcpStream, buf: &mut [u8]) -> io::Result<usize> {
    seam!(Read);
    io::Read::read(stream, buf)
}

/// Starts a non-blocking connect (through mio: `socket` + `connect`, `EINPROGRESS` is success).
pub(crate) fn connect(addr: SocketAddr) -> io::Result<mio::net::TcpStream> {
    seam!(Connect);
    mio::net::TcpStream::connect(addr)
}

/// `send(2)` with `MSG_NOSIGNAL`: a write to a reset peer fails with `EPIPE` instead of
/// killing the process.
pub(crate) fn send(fd: BorrowedFd<'_>, buf: &[u8]) -> io::Result<usize> {
    seam!(Send);
    // SAFETY: `buf` is a live slice of `buf.len()` readable bytes.
    let n = syscall!(send(
        fd.as_raw_fd(),
        buf.as_ptr() as *const libc::c_void,
        buf.len(),
        libc::MSG_NOSIGNAL
    ))?;
    Ok(n as usize)
}

/// `SO_KEEPALIVE = enable`; when enabling with a non-zero `delay` (seconds), also
/// `TCP_KEEPIDLE = TCP_KEEPINTVL = delay` (Chrome's `SetTCPKeepAlive`).
pub(crate) fn set_keep_alive(fd: BorrowedFd<'_>, enable: bool, delay: i32) -> io::Result<()> {
    set_int_option(fd, libc::SOL_SOCKET, libc::SO_KEEPALIVE, enable as i32)?;
    if enable && delay != 0 {
        set_int_option(fd, libc::IPPROTO_TCP, libc::TCP_KEEPIDLE, delay)?;
        set_int_option(fd, libc::IPPROTO_TCP, libc::TCP_KEEPINTVL, delay)?;
    }
    Ok(())
}

// ----- the signal stop ----------------------------------------------------------------------

/// The highest signal number the stop handler counts (`SIGRTMAX` on Linux is 64).
pub(crate) const MAX_SIGNAL: i32 = 64;

// A `const` item is how an array of atomics is built on the crate's minimum Rust (inline
// `const` blocks are newer); each element is a fresh atomic.
#[allow(clippy::declare_interior_mutable_const)]
const ZERO: AtomicUsize = AtomicUsize::new(0);

/// How many times each signal (index = signal number) reached [`on_signal`] in this process.
/// Only ever incremented; readers compare against the count they saw last.
pub(crate) static SIGNAL_COUNTS: [AtomicUsize; MAX_SIGNAL as usize + 1] =
    [ZERO; MAX_SIGNAL as usize + 1];

/// The process's signal eventfd ([`signal_eventfd`]), or -1 before the first one is made.
/// Once set it is never closed, so the handler can never write to a closed or reused fd.
static SIGNAL_FD: AtomicI32 = AtomicI32::new(-1);

/// The signal handler: counts the signal and writes 1 to the signal eventfd, which every
/// reactor stopping on signals watches. Both are async-signal-safe (a lock-free atomic add
/// and `write(2)`); `errno` is saved and restored, since the handler may run between a
/// syscall and the read of its `errno` on the interrupted thread. Nothing is allocated,
/// locked or logged.
extern "C" fn on_signal(signal: libc::c_int) {
    // SAFETY: `__errno_location` returns this thread's errno, always a valid pointer.
    let errno = unsafe { *libc::__errno_location() };
    if let Some(count) = SIGNAL_COUNTS.get(signal as usize) {
        count.fetch_add(1, Ordering::SeqCst);
    }
    let fd = SIGNAL_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        let one: u64 = 1;
        // SAFETY: `fd` is the signal eventfd, never closed once published; `one` is a live
        // 8-byte value. A failure (EAGAIN only after 2^64 - 2 unread writes) is ignored: the
        // eventfd is then readable anyway.
        unsafe { libc::write(fd, &one as *const u64 as *const libc::c_void, 8) };
    }
    // SAFETY: as above.
    unsafe { *libc::__errno_location() = errno };
}

/// The process's signal eventfd: made on the first call (non-blocking, close-on-exec) and
/// never closed; later calls return the same fd. Callers serialise calls (the signal
/// module's lock).
pub(crate) fn signal_eventfd() -> io::Result<RawFd> {
    let fd = SIGNAL_FD.load(Ordering::SeqCst);
    if fd >= 0 {
        return Ok(fd);
    }
    // SAFETY: eventfd(2) takes no pointers.
    let fd = syscall!(eventfd(0, libc::EFD_NONBLOCK | libc::EFD_CLOEXEC))?;
    SIGNAL_FD.store(fd, Ordering::SeqCst);
    Ok(fd)
}

/// A signal's disposition as `sigaction(2)` reports it, kept to be put back.
pub(crate) struct Disposition(libc::sigaction);

/// Installs [`on_signal`] as `signal`'s handler (`SA_RESTART`, so other threads' slow
/// syscalls are restarted; `epoll_wait` never is, it returns `EINTR`). Returns the
/// disposition it replaced.
pub(crate) fn set_stop_handler(signal: i32) -> io::Result<Disposition> {
    // SAFETY: sigaction is plain old data; all-zero is a valid value (empty mask, no flags).
    let mut action: libc::sigaction = unsafe { mem::zeroed() };
    action.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    action.sa_flags = libc::SA_RESTART;
    // SAFETY: as above.
    let mut old: libc::sigaction = unsafe { mem::zeroed() };
    // SAFETY: `action` and `old` are live sigactions; `on_signal` is async-signal-safe.
    syscall!(sigaction(signal, &action, &mut old))?;
    Ok(Disposition(old))
}

/// Puts back a disposition [`set_stop_handler`] replaced.
pub(crate) fn restore_disposition(signal: i32, old: &Disposition) -> io::Result<()> {
    // SAFETY: `old.0` is a sigaction the kernel filled in; a null old-action pointer is allowed.
    syscall!(sigaction(signal, &old.0, std::ptr::null_mut()))?;
    Ok(())
}

#[inline]
fn set_int_option(fd: BorrowedFd<'_>, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: the option value is a live i32 and its exact size is passed.
    syscall!(setsockopt(
        fd.as_raw_fd(),
        level,
        name,
        &value as *const i32 as *const libc::c_void,
        mem::size_of::<i32>() as libc::socklen_t
    ))?;
    Ok(())
}

/// `addr` as a `sockaddr_storage` and the length of the part that is filled in.
fn sockaddr(addr: SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain old data; all-zero is a valid value.
    let mut storage: libc::sockaddr_storage = unsafe { mem::zeroed() };
    let len = match addr {
        SocketAddr::V4(a) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: a.port().to_be(),
                sin_addr: libc::in_addr {
                    s_addr: u32::from_ne_bytes(a.ip().octets()),
                },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in.
            unsafe {
                (&mut storage as *mut libc::sockaddr_storage as *mut libc::sockaddr_in).write(sin)
            };
            mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(a) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: a.port().to_be(),
                sin6_flowinfo: a.flowinfo(),
                sin6_addr: libc::in6_addr {
                    s6_addr: a.ip().octets(),
                },
                sin6_scope_id: a.scope_id(),
            };
            // SAFETY: sockaddr_storage is larger than and aligned for sockaddr_in6.
            unsafe {
                (&mut storage as *mut libc::sockaddr_storage as *mut libc::sockaddr_in6).write(sin6)
            };
            mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (storage, len as libc::socklen_t)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::TcpStream;

    #[test]
    fn listener_honours_backlog_and_reuseaddr() {
        let l = bind_listener("127.0.0.1:0".parse().unwrap(), 7, false).unwrap();
        let addr = l.local_addr().unwrap();
        assert_ne!(addr.port(), 0);
        let _client = TcpStream::connect(addr).unwrap();
        let flags = unsafe_free_fcntl(l.as_raw_fd());
        assert!(flags & libc::O_NONBLOCK != 0);
    }

    #[test]
    fn bind_to_a_port_in_use_fails_with_eaddrinuse() {
        let l = bind_listener("127.0.0.1:0".parse().unwrap(), 1, false).unwrap();
        let err = bind_listener(l.local_addr().unwrap(), 1, false).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EADDRINUSE));
    }

    #[test]
    fn accept_says_would_block_then_returns_the_peer_as_the_client_sees_itself() {
        for ip in ["127.0.0.1:0", "[::1]:0"] {
            let l = mio::net::TcpListener::from_std(
                bind_listener(ip.parse().unwrap(), 8, false).unwrap(),
            );
            assert!(matches!(accept(&l), Err(AcceptError::WouldBlock)));
            let client = TcpStream::connect(l.local_addr().unwrap()).unwrap();
            let (stream, peer) = loop {
                match accept(&l) {
                    Ok(accepted) => break accepted,
                    Err(AcceptError::WouldBlock) => std::thread::yield_now(),
                    Err(AcceptError::Os(e)) => panic!("accept on {ip}: {e}"),
                }
            };
            assert_eq!(peer, client.local_addr().unwrap(), "{ip}");
            assert_eq!(stream.peer_addr().unwrap(), peer, "{ip}");
            let flags = unsafe_free_fcntl(stream.as_raw_fd());
            assert!(flags & libc::O_NONBLOCK != 0, "{ip}: accepted non-blocking");
        }
    }

    fn unsafe_free_fcntl(fd: std::os::fd::RawFd) -> i32 {
        syscall!(fcntl(fd, libc::F_GETFL)).unwrap()
    }
}
