//! Helpers shared by the fault/load suite (`tests/fault_*.rs`): an event recorder, a
//! call-and-wait helper, client tokens, fd flags and "did the reactor do any work" counters.
//!
//! Every loop here is bounded in time ([`super::util::PATIENCE`]).
#![allow(dead_code)]

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use chrome_sockets::{Reactor, TurnReport};

#[allow(unused_imports)] // the fault tests reach them through this kit or through util
pub use super::util::{ask, Done};

/// Everything the reactor told the app, recorded by [`record_events`].
#[derive(Debug, Default)]
pub struct Rec {
    /// `(server id, client id)` of every `on_accept`, in order.
    pub accepted: Vec<(i32, i32)>,
    /// `(server id, code)` of every `on_accept_error`.
    pub accept_errors: Vec<(i32, i32)>,
    /// Bytes received per tcp id, concatenated.
    pub received: BTreeMap<i32, Vec<u8>>,
    /// `(tcp id, code)` of every `on_receive_error`.
    pub receive_errors: Vec<(i32, i32)>,
    /// Unpause every accepted socket from `on_accept`.
    pub unpause_accepted: bool,
    /// Echo every received chunk back on the same socket.
    pub echo: bool,
    /// Close every socket that gets `on_receive_error`.
    pub close_on_error: bool,
}

impl Rec {
    /// A recorder that unpauses accepted sockets (so their data is read).
    pub fn reading() -> Self {
        Rec {
            unpause_accepted: true,
            ..Rec::default()
        }
    }

    /// Client ids accepted so far.
    pub fn clients(&self) -> Vec<i32> {
        self.accepted.iter().map(|&(_, c)| c).collect()
    }

    /// Receive errors of one socket.
    pub fn errors_of(&self, id: i32) -> Vec<i32> {
        self.receive_errors
            .iter()
            .filter(|&&(s, _)| s == id)
            .map(|&(_, c)| c)
            .collect()
    }
}

/// Registers listeners on all four events that fill a [`Rec`].
pub fn record_events(r: &mut Reactor<Rec>) {
    r.tcp_server().on_accept().add_listener(|r, rec, info| {
        rec.accepted
            .push((info.socket_id.raw(), info.client_socket_id.raw()));
        if rec.unpause_accepted {
            r.tcp()
                .set_paused(info.client_socket_id, false, |_, _, res| {
                    res.expect("unpause accepted")
                });
        }
    });
    r.tcp_server()
        .on_accept_error()
        .add_listener(|_, rec, info| {
            rec.accept_errors
                .push((info.socket_id.raw(), info.result_code.code()));
        });
    r.tcp().on_receive().add_listener(|r, rec, info| {
        rec.received
            .entry(info.socket_id.raw())
            .or_default()
            .extend_from_slice(&info.data);
        if rec.echo {
            r.tcp()
                .send(info.socket_id, info.data.clone(), |_, _, _| {});
        }
    });
    r.tcp().on_receive_error().add_listener(|r, rec, info| {
        rec.receive_errors
            .push((info.socket_id.raw(), info.result_code.code()));
        if rec.close_on_error {
            r.tcp()
                .close(info.socket_id, |_, _, res| res.expect("close"));
        }
    });
}

/// The unique token client `i` writes, so every connection can be accounted for.
pub fn token(i: usize) -> Vec<u8> {
    format!("<tok{i:06}>").into_bytes()
}

/// Splits received bytes into the tokens of [`token`].
pub fn tokens_in(bytes: &[u8]) -> Vec<usize> {
    let text = std::str::from_utf8(bytes).expect("tokens are ASCII");
    text.split_terminator('>')
        .map(|t| {
            t.strip_prefix("<tok")
                .unwrap_or_else(|| panic!("not a token: {t:?}"))
                .parse()
                .unwrap()
        })
        .collect()
}

/// Connects and writes `token(i)`.
#[track_caller]
pub fn token_client(addr: SocketAddr, i: usize) -> TcpStream {
    let mut s = super::util::connect(addr);
    s.write_all(&token(i)).expect("write token");
    s
}

/// Reads until EOF or an error; returns what was read and whether it ended in an error.
pub fn read_to_end_or_error(s: &mut TcpStream) -> (Vec<u8>, Option<std::io::ErrorKind>) {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return (out, None),
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) => return (out, Some(e.kind())),
        }
    }
}

/// Sets `SO_LINGER` to zero so dropping the stream sends a reset.
pub fn set_reset_on_close(s: &TcpStream) {
    socket2::SockRef::from(s)
        .set_linger(Some(Duration::ZERO))
        .expect("SO_LINGER 0");
}

/// Runs `n` turns with a 10 ms timeout and adds up what they did. An idle reactor reports
/// zero: any non-zero count means it found work, which is how "no busy loop" is measured
/// (counts, not clocks).
pub fn idle_work<S: 'static>(r: &mut Reactor<S>, state: &mut S, n: usize) -> TurnReport {
    let mut total = TurnReport::default();
    for _ in 0..n {
        let t = r
            .turn(Some(Duration::from_millis(10)), state)
            .expect("turn");
        total.events += t.events;
        total.tasks += t.tasks;
        total.timers += t.timers;
    }
    total
}

/// The calling thread's CPU time, read from an fd opened up front (so it still works when
/// the process is out of fds).
pub struct ThreadCpu(std::fs::File);

impl ThreadCpu {
    /// Opens `/proc/thread-self/stat` of the calling thread.
    pub fn open() -> Self {
        ThreadCpu(std::fs::File::open("/proc/thread-self/stat").expect("stat"))
    }

    /// User + system time so far, in clock ticks (10 ms).
    pub fn ticks(&mut self) -> u64 {
        use std::io::Seek;
        let mut stat = String::new();
        self.0.rewind().unwrap();
        self.0.read_to_string(&mut stat).unwrap();
        // The command name is in parentheses and may contain spaces; utime and stime are
        // fields 14 and 15 of the line, 12 and 13 after "(comm) ".
        let rest = &stat[stat.rfind(')').expect("comm") + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }
}

/// The open fds of this process with what they point at ("socket:[123]", ...), without
/// the directory fd the listing itself uses.
pub fn fd_table() -> BTreeMap<i32, String> {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .flatten()
        .filter_map(|e| {
            let fd: i32 = e.file_name().to_str()?.parse().ok()?;
            let target = std::fs::read_link(e.path()).ok()?;
            let target = target.to_string_lossy().into_owned();
            (!target.starts_with("/proc/")).then_some((fd, target))
        })
        .collect()
}

/// Fds opened between two [`fd_table`] snapshots (still open in `after`).
pub fn new_fds(before: &BTreeMap<i32, String>, after: &BTreeMap<i32, String>) -> BTreeSet<i32> {
    after
        .iter()
        .filter(|(fd, target)| before.get(fd) != Some(target))
        .map(|(fd, _)| *fd)
        .collect()
}

/// The `flags:` field of `/proc/self/fdinfo/<fd>` (octal, as the kernel prints it).
pub fn fd_flags(fd: i32) -> u32 {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).expect("fdinfo");
    let line = info
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .expect("flags line");
    u32::from_str_radix(line.trim(), 8).expect("octal flags")
}

/// `O_NONBLOCK` as `/proc/self/fdinfo` prints it.
pub const O_NONBLOCK: u32 = 0o4000;
/// `O_CLOEXEC` as `/proc/self/fdinfo` prints it.
pub const O_CLOEXEC: u32 = 0o2000000;
