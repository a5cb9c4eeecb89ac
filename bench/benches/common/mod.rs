//! What the benches share: the run configuration (arguments and `CS_BENCH_*` environment),
//! the hard time cap, the median, and a reactor server listening on loopback.
#![allow(dead_code)] // each bench uses a part

use std::cell::Cell;
use std::io;
use std::net::SocketAddr;
use std::rc::Rc;
use std::time::{Duration, Instant};

use chrome_sockets::tcp_server::SocketProperties;
use chrome_sockets::Reactor;

/// Creates a server socket listening on 127.0.0.1 (a free port) and turns `r` until it
/// listens (10 s at most); returns its address.
pub fn listen_on_loopback<S: 'static>(r: &mut Reactor<S>, state: &mut S) -> io::Result<SocketAddr> {
    let port = Rc::new(Cell::new(None));
    let slot = port.clone();
    r.tcp_server()
        .create(SocketProperties::default(), move |r, _, created| {
            let id = created.expect("create").socket_id;
            r.tcp_server()
                .listen(id, "127.0.0.1", 0, None, move |r, _, listened| {
                    listened.expect("listen");
                    r.tcp_server().get_info(id, move |_, _, info| {
                        slot.set(info.expect("get_info").local_port);
                    });
                });
        });
    let deadline = Instant::now() + Duration::from_secs(10);
    while port.get().is_none() {
        if Instant::now() > deadline {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "listen did not complete",
            ));
        }
        r.turn(Some(Duration::from_millis(10)), state)?;
    }
    Ok(SocketAddr::from((
        [127, 0, 0, 1],
        port.get().expect("port"),
    )))
}

/// How long and how often to measure.
pub struct Config {
    /// `--quick`, `CS_BENCH_QUICK=1`, or not run by `cargo bench`.
    pub quick: bool,
    /// Rounds (`CS_BENCH_ROUNDS`, 1..=100).
    pub rounds: usize,
    /// Measured seconds per case and round (`CS_BENCH_SECONDS`).
    pub seconds: f64,
    /// Hard cap for the whole run (`CS_BENCH_CAP`, seconds).
    pub cap: Duration,
}

fn env_num<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.trim().parse().ok())
}

/// Reads the configuration from the command line and the environment. `quick` and `full` are
/// the default (rounds, seconds) of each mode, `caps` the default cap of each (seconds), and
/// `min_seconds` the least `CS_BENCH_SECONDS` honoured.
pub fn config(
    quick: (usize, f64),
    full: (usize, f64),
    caps: (f64, f64),
    min_seconds: f64,
) -> Config {
    let args: Vec<String> = std::env::args().skip(1).collect();
    // `cargo bench` passes `--bench`; without it (e.g. `cargo test --benches`) run quick too.
    let is_quick = args.iter().any(|a| a == "--quick")
        || env_num::<u32>("CS_BENCH_QUICK") == Some(1)
        || !args.iter().any(|a| a == "--bench");
    let ((rounds, seconds), cap) = if is_quick {
        (quick, caps.0)
    } else {
        (full, caps.1)
    };
    let cap: f64 = env_num("CS_BENCH_CAP").unwrap_or(cap);
    Config {
        quick: is_quick,
        rounds: env_num("CS_BENCH_ROUNDS").unwrap_or(rounds).clamp(1, 100),
        seconds: env_num::<f64>("CS_BENCH_SECONDS")
            .unwrap_or(seconds)
            .clamp(min_seconds, 60.0),
        cap: Duration::from_secs_f64(cap.clamp(1.0, 3600.0)),
    }
}

impl Config {
    /// `<rounds> rounds, <seconds> s per case and round`, and ` (quick)` in a quick run: the
    /// middle of each bench's first line.
    pub fn describe(&self) -> String {
        format!(
            "{} rounds, {:.2} s per case and round{}",
            self.rounds,
            self.seconds,
            if self.quick { " (quick)" } else { "" }
        )
    }
}

/// The value of the command-line flag `name` (`name VALUE` or `name=VALUE`), if given.
pub fn flag_value(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let prefix = format!("{name}=");
    args.iter().enumerate().find_map(|(i, a)| {
        if a == name {
            args.get(i + 1).cloned()
        } else {
            a.strip_prefix(&prefix).map(str::to_string)
        }
    })
}

/// A count: digits with an optional `k` (thousand) or `M` (million), `_` ignored; `None` for
/// anything else, 0, or a count beyond `usize`.
pub fn parse_count(s: &str) -> Option<usize> {
    let s = s.trim().replace('_', "");
    let (digits, mult) = match s.as_bytes().last()? {
        b'k' | b'K' => (&s[..s.len() - 1], 1000),
        b'm' | b'M' => (&s[..s.len() - 1], 1_000_000),
        _ => (&s[..], 1),
    };
    digits
        .parse::<usize>()
        .ok()?
        .checked_mul(mult)
        .filter(|&n| n > 0)
}

/// Registers `stream` for reading under the key of the slab entry it then fills (`wrap` makes
/// the entry from it): the hand-written mio servers' bookkeeping of accepted connections.
pub fn register_in_slab<T>(
    registry: &mio::Registry,
    slab: &mut slab::Slab<T>,
    mut stream: mio::net::TcpStream,
    wrap: impl FnOnce(mio::net::TcpStream) -> T,
) -> io::Result<()> {
    let entry = slab.vacant_entry();
    registry.register(
        &mut stream,
        mio::Token(entry.key()),
        mio::Interest::READABLE,
    )?;
    entry.insert(wrap(stream));
    Ok(())
}

/// In a bench's child process: ties its life to the parent's (killed when the parent dies,
/// whatever stops it, the hard cap included) and returns the count the parent put in the
/// environment variable `var` (a missing or malformed one is a bug of the parent: panics).
pub fn child_dying_with_parent(var: &str) -> io::Result<usize> {
    rustix::process::set_parent_process_death_signal(Some(rustix::process::Signal::KILL))?;
    Ok(std::env::var(var)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("{var}: a count from the parent")))
}

/// Ends the process with exit status 3 once `cap` has passed, whatever it is doing.
pub fn enforce_cap(bench: &'static str, cap: Duration) {
    std::thread::spawn(move || {
        std::thread::sleep(cap);
        eprintln!("{bench}: hard time cap of {cap:?} reached; exiting");
        std::process::exit(3);
    });
}

/// The median of `v` (NaN when empty).
pub fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

// ---------------------------------------------------------------------------------------------
// Many connections at once: source addresses across 127.0.0.0/8, open-file limits

/// The ports a held client socket binds explicitly: 1024..=65535 outside the kernel's
/// ephemeral range (`net.ipv4.ip_local_port_range`). A port bound with `bind` is withdrawn
/// from every `connect` of the machine that lets the kernel pick its port, so staying out of
/// the ephemeral range leaves the rest of the machine's connects alone however many
/// connections are held.
pub fn held_ports() -> Vec<u16> {
    let range =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap_or_default();
    let mut it = range
        .split_whitespace()
        .filter_map(|v| v.parse::<u32>().ok());
    let (low, high) = (it.next().unwrap_or(32768), it.next().unwrap_or(60999));
    (1024u32..=65535)
        .filter(|&p| p < low || p > high)
        .map(|p| p as u16)
        .collect()
}

/// `n` connections to `addr`, each from an explicitly bound source address and port:
/// 127.0.0.`first_host` with every port of [`held_ports`], then the next address of
/// 127.0.0.0/8 once that one's ports are used up (a port some other socket holds is skipped).
/// Each socket has `SO_LINGER {on, 0}` (its close sends RST and leaves no TIME_WAIT, so the
/// same ports are free again for the next run) and, when `write`, has sent one byte.
/// `progress` runs after every 65,536 connections. Returns the sockets and the number of
/// source addresses used.
pub fn connect_many(
    addr: SocketAddr,
    n: usize,
    first_host: u32,
    write: bool,
    mut progress: impl FnMut(usize),
) -> io::Result<(Vec<socket2::Socket>, usize)> {
    use socket2::{Domain, Protocol, SockAddr, Socket, Type};
    let ports = held_ports();
    if ports.is_empty() {
        return Err(io::Error::new(
            io::ErrorKind::Other,
            "no port outside net.ipv4.ip_local_port_range: narrow it (sysctl -w \
             net.ipv4.ip_local_port_range=\"32768 60999\")",
        ));
    }
    let mut host = 0x7f00_0000u32 | first_host;
    let mut next_port = 0usize;
    let mut hosts = 1;
    let mut clients = Vec::with_capacity(n);
    while clients.len() < n {
        let s = Socket::new(Domain::IPV4, Type::STREAM, Some(Protocol::TCP))?;
        // No SO_REUSEADDR: a port another socket holds on this address fails the bind and is
        // skipped, rather than binding and then colliding in connect.
        s.set_linger(Some(Duration::ZERO))?;
        loop {
            if next_port == ports.len() {
                next_port = 0;
                host += 1;
                hosts += 1;
                if host > 0x7fff_fffe {
                    return Err(io::Error::new(
                        io::ErrorKind::AddrNotAvailable,
                        "127.0.0.0/8 ran out of source addresses and ports",
                    ));
                }
            }
            let port = ports[next_port];
            next_port += 1;
            let src = SocketAddr::from((std::net::Ipv4Addr::from(host), port));
            match s.bind(&SockAddr::from(src)) {
                Ok(()) => break,
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
                Err(e) => return Err(io::Error::new(e.kind(), format!("bind {src}: {e}"))),
            }
        }
        match s.connect(&SockAddr::from(addr)) {
            Ok(()) => {}
            // The same source and destination are in use (another run's socket): next port.
            Err(e) if e.kind() == io::ErrorKind::AddrNotAvailable => continue,
            Err(e) => return Err(e),
        }
        if write {
            s.send(b"x")?;
        }
        clients.push(s);
        if clients.len() % 65536 == 0 {
            progress(clients.len());
        }
    }
    Ok((clients, hosts))
}

/// Raises this process's open-file limit (soft and hard) to at least `want`; on failure, the
/// exact sysctl or limit to raise, as one sentence.
pub fn raise_nofile(want: u64) -> Result<(), String> {
    use rlimit::Resource;
    let (soft, hard) = Resource::NOFILE
        .get()
        .map_err(|e| format!("getrlimit: {e}"))?;
    if soft >= want {
        return Ok(());
    }
    let nr_open = read_sys_u64("/proc/sys/fs/nr_open");
    if nr_open.is_some_and(|max| max < want) {
        return Err(format!(
            "fs.nr_open is {} < {want} open files per process: raise it as root with \
             `sysctl -w fs.nr_open={}`",
            nr_open.unwrap_or(0),
            want.next_power_of_two().max(want + 1024),
        ));
    }
    let new_hard = hard.max(want);
    Resource::NOFILE.set(want, new_hard).map_err(|e| {
        format!(
            "the hard open-file limit (RLIMIT_NOFILE) is {hard} < {want} and this process \
             cannot raise it ({e}; raising it takes CAP_SYS_RESOURCE, which root in a \
             container may lack): raise it before the run, as a user that can, with \
             `ulimit -Hn {want}` (or LimitNOFILE= / /etc/security/limits.conf / `docker run \
             --ulimit nofile={want}`)"
        )
    })
}

/// Whether the machine can hold `sockets` more open files and their kernel memory right now;
/// otherwise the sysctl to raise (or the memory missing), as one sentence.
pub fn room_for_sockets(sockets: u64, per_process: u64) -> Result<(), String> {
    let nr_open = read_sys_u64("/proc/sys/fs/nr_open").unwrap_or(u64::MAX);
    if nr_open < per_process {
        return Err(format!(
            "fs.nr_open is {nr_open} < {per_process} open files per process: raise it as root \
             with `sysctl -w fs.nr_open={}`",
            per_process.next_power_of_two().max(per_process + 1024)
        ));
    }
    // /proc/sys/fs/file-nr: allocated, unused (0), maximum.
    let file_nr = std::fs::read_to_string("/proc/sys/fs/file-nr").unwrap_or_default();
    let v: Vec<u64> = file_nr
        .split_whitespace()
        .filter_map(|x| x.parse().ok())
        .collect();
    if let [allocated, _, max] = v[..] {
        let want = allocated + sockets + 65536;
        if max < want {
            return Err(format!(
                "fs.file-max is {max} and {allocated} files are open; {sockets} more sockets \
                 need {want}: raise it as root with `sysctl -w fs.file-max={}`",
                want.next_power_of_two()
            ));
        }
    }
    // About 3.9 KB of kernel memory per idle loopback socket (measured: docs/performance.md, "Performance at scale"),
    // so 4 KiB, plus 1 GiB of slack.
    let need = sockets * 4096 + (1 << 30);
    if let Some(avail) = meminfo_kb("MemAvailable") {
        if avail * 1024 < need {
            return Err(format!(
                "MemAvailable is {} MiB; {sockets} sockets need about {} MiB of kernel memory",
                avail / 1024,
                need >> 20
            ));
        }
    }
    Ok(())
}

/// A number in a `/proc/sys` file.
pub fn read_sys_u64(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// A line of `/proc/meminfo` (`Slab`, `MemAvailable`, ...), in KiB.
pub fn meminfo_kb(field: &str) -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    meminfo.lines().find_map(|l| {
        let rest = l.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// `TCP: inuse` of `/proc/net/sockstat`: TCP sockets the kernel holds (all states but
/// TIME_WAIT).
pub fn tcp_inuse() -> Option<u64> {
    let sockstat = std::fs::read_to_string("/proc/net/sockstat").ok()?;
    let line = sockstat.lines().find(|l| l.starts_with("TCP:"))?;
    let mut it = line.split_whitespace();
    while let Some(word) = it.next() {
        if word == "inuse" {
            return it.next()?.parse().ok();
        }
    }
    None
}
