//! What each argument choice means: the value passed to the API. Shared by the executor and
//! by anything else that runs a [`crate::Cmd`] (a differential runner against Chrome passes
//! the same values).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use chrome_sockets::fault_injection::Syscall;

use crate::cmd::*;

impl NameChoice {
    /// The `name` property (`None`: not set).
    pub fn value(self) -> Option<String> {
        match self {
            NameChoice::Unset => None,
            NameChoice::Empty => Some(String::new()),
            NameChoice::A => Some("a".into()),
            NameChoice::B => Some("web server".into()),
        }
    }
}

impl FlagChoice {
    /// The `persistent` property (`None`: not set).
    pub fn value(self) -> Option<bool> {
        match self {
            FlagChoice::Unset => None,
            FlagChoice::False => Some(false),
            FlagChoice::True => Some(true),
        }
    }
}

impl BufChoice {
    /// The `bufferSize` property (`None`: not set).
    pub fn value(self) -> Option<i32> {
        match self {
            BufChoice::Unset => None,
            BufChoice::Zero => Some(0),
            BufChoice::Negative => Some(-5),
            BufChoice::One => Some(1),
            BufChoice::Seven => Some(7),
            BufChoice::Default => Some(4096),
        }
    }
}

impl ListenAddr {
    /// The address text passed to `listen`, and what it parses to (None: not an IP literal).
    pub fn value(self) -> (&'static str, Option<IpAddr>) {
        let v4 = |a, b, c, d| Some(IpAddr::V4(Ipv4Addr::new(a, b, c, d)));
        match self {
            ListenAddr::V4Loopback => ("127.0.0.1", v4(127, 0, 0, 1)),
            ListenAddr::V4Short => ("127.1", v4(127, 0, 0, 1)),
            ListenAddr::V4Octal => ("0177.0.0.1", v4(127, 0, 0, 1)),
            ListenAddr::V4Any => ("0.0.0.0", v4(0, 0, 0, 0)),
            ListenAddr::V6Loopback => ("::1", Some(IpAddr::V6(Ipv6Addr::LOCALHOST))),
            ListenAddr::V6Any => ("::", Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED))),
            ListenAddr::NonLocal => ("192.0.2.1", v4(192, 0, 2, 1)),
            ListenAddr::HostName => ("localhost", None),
            ListenAddr::Empty => ("", None),
            ListenAddr::Bracketed => ("[::1]", None),
            ListenAddr::Zoned => ("fe80::1%lo", None),
            ListenAddr::Garbage => ("not an ip", None),
        }
    }
}

impl BacklogChoice {
    /// The `backlog` argument (`None`: not given).
    pub fn value(self) -> Option<i32> {
        match self {
            BacklogChoice::Default => None,
            BacklogChoice::One => Some(1),
            BacklogChoice::Two => Some(2),
            BacklogChoice::B128 => Some(128),
            BacklogChoice::Max => Some(i32::MAX),
            BacklogChoice::Zero => Some(0),
            BacklogChoice::Minus1 => Some(-1),
        }
    }
}

impl ConnectHost {
    /// The address text passed to `connect`.
    pub fn value(self) -> &'static str {
        match self {
            ConnectHost::V4 => "127.0.0.1",
            ConnectHost::V4Short => "127.1",
            ConnectHost::Localhost => "localhost",
            ConnectHost::V6 => "::1",
            ConnectHost::Mapped => "::ffff:127.0.0.1",
            ConnectHost::NulName => "bad\0name",
        }
    }
}

impl KeepAliveDelay {
    /// The `delay` argument of `setKeepAlive`, in seconds.
    pub fn value(self) -> i32 {
        match self {
            KeepAliveDelay::Zero => 0,
            KeepAliveDelay::One => 1,
            KeepAliveDelay::D45 => 45,
            KeepAliveDelay::Minus1 => -1,
            KeepAliveDelay::D40000 => 40000,
        }
    }
}

impl DelayChoice {
    /// A timer's delay.
    pub fn value(self) -> Duration {
        Duration::from_millis(match self {
            DelayChoice::Zero => 0,
            DelayChoice::Ms1 => 1,
            DelayChoice::Ms3 => 3,
        })
    }
}

impl TurnTimeout {
    /// A turn's timeout.
    pub fn value(self) -> Duration {
        Duration::from_millis(match self {
            TurnTimeout::Zero => 0,
            TurnTimeout::Ms1 => 1,
            TurnTimeout::Ms5 => 5,
        })
    }
}

impl SyscallChoice {
    /// The syscall of the fault-injection seam.
    pub fn value(self) -> Syscall {
        match self {
            SyscallChoice::Accept => Syscall::Accept,
            SyscallChoice::Read => Syscall::Read,
            SyscallChoice::Send => Syscall::Send,
            SyscallChoice::Connect => Syscall::Connect,
            SyscallChoice::Socket => Syscall::Socket,
            SyscallChoice::Bind => Syscall::Bind,
            SyscallChoice::Listen => Syscall::Listen,
        }
    }
}

impl ErrnoChoice {
    /// The errno.
    pub fn value(self) -> i32 {
        match self {
            ErrnoChoice::Enobufs => libc::ENOBUFS,
            ErrnoChoice::Enomem => libc::ENOMEM,
            ErrnoChoice::Emfile => libc::EMFILE,
            ErrnoChoice::Econnreset => libc::ECONNRESET,
            ErrnoChoice::Epipe => libc::EPIPE,
            ErrnoChoice::Etimedout => libc::ETIMEDOUT,
            ErrnoChoice::Eaddrinuse => libc::EADDRINUSE,
            ErrnoChoice::Eacces => libc::EACCES,
            ErrnoChoice::Eintr => libc::EINTR,
            ErrnoChoice::Econnaborted => libc::ECONNABORTED,
            ErrnoChoice::Eproto => libc::EPROTO,
        }
    }
}

/// Chrome's per-app write quota: bytes handed to `send` and not yet written.
pub const WRITE_QUOTA: usize = 200 * 1024 * 1024;

impl BigSize {
    /// The bytes sent.
    pub fn value(self) -> usize {
        match self {
            BigSize::K64 => 64 << 10,
            BigSize::K256 => 256 << 10,
            BigSize::M1 => 1 << 20,
            BigSize::M4 => 4 << 20,
            BigSize::OverQuota => WRITE_QUOTA + 1,
        }
    }
}

impl RcvbufChoice {
    /// The `SO_RCVBUF` asked for, in bytes (the kernel doubles it): 16, 64 or 256 KiB.
    pub fn value(self) -> usize {
        16 << (10 + 2 * self as u32)
    }
}
