//! The loopback peers a scenario drives from Rust, identically for both backends, and a
//! look at the kernel's TCP table for what no API reports (keep-alive on a socket).

use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use socket2::SockRef;

/// A client (or an accepted server-side connection) on 127.0.0.1.
#[derive(Debug)]
pub struct Peer {
    stream: TcpStream,
}

impl Peer {
    /// Connects to 127.0.0.1:`port` (blocking; on loopback the handshake completes in the
    /// kernel whether or not anyone accepts).
    pub fn connect(port: u16) -> io::Result<Peer> {
        let stream =
            TcpStream::connect_timeout(&([127, 0, 0, 1], port).into(), Duration::from_secs(5))?;
        Ok(Peer { stream })
    }

    /// The peer's own port (the accepted socket's peer port).
    pub fn local_port(&self) -> u16 {
        self.stream.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// A second handle on the same connection (for a writer thread).
    pub fn try_clone(&self) -> io::Result<Peer> {
        Ok(Peer {
            stream: self.stream.try_clone()?,
        })
    }

    /// Writes `chunk` every `every` until `stop` is set, from a new thread; write timeouts
    /// (the other side not reading) are ignored, any other error ends the thread. Returns
    /// the thread, which yields how many bytes it wrote.
    pub fn flood(
        &self,
        chunk: Vec<u8>,
        every: Duration,
        stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    ) -> io::Result<std::thread::JoinHandle<usize>> {
        let mut stream = self.stream.try_clone()?;
        stream.set_write_timeout(Some(Duration::from_millis(50)))?;
        Ok(std::thread::spawn(move || {
            let mut written = 0;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                match stream.write(&chunk) {
                    Ok(n) => written += n,
                    Err(e)
                        if matches!(
                            e.kind(),
                            io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                        ) => {}
                    Err(_) => break,
                }
                std::thread::sleep(every);
            }
            written
        }))
    }

    /// Writes all of `data`.
    pub fn write(&mut self, data: &[u8]) -> io::Result<()> {
        self.stream.write_all(data)
    }

    /// Reads whatever arrives until `window` passes with nothing new or the other side
    /// closes; returns it. Bounded by `4 * window + 5 s` in total.
    pub fn read_for(&mut self, window: Duration) -> io::Result<Vec<u8>> {
        let cap = Instant::now() + window * 4 + Duration::from_secs(5);
        self.stream.set_read_timeout(Some(window))?;
        let mut out = Vec::new();
        let mut buf = [0u8; 65536];
        while Instant::now() < cap {
            match self.stream.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    break
                }
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => break,
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    }

    /// Whether the other side has closed: a read within `window` sees EOF or a reset.
    pub fn closed_within(&mut self, window: Duration) -> io::Result<bool> {
        self.stream.set_read_timeout(Some(window))?;
        let mut buf = [0u8; 4096];
        let end = Instant::now() + window;
        while Instant::now() < end {
            match self.stream.read(&mut buf) {
                Ok(0) => return Ok(true),
                Ok(_) => continue,
                Err(e) if e.kind() == io::ErrorKind::ConnectionReset => return Ok(true),
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                    ) =>
                {
                    return Ok(false)
                }
                Err(e) => return Err(e),
            }
        }
        Ok(false)
    }

    /// Half-closes: the other side reads EOF.
    pub fn shutdown_write(&self) -> io::Result<()> {
        self.stream.shutdown(Shutdown::Write)
    }

    /// Closes with `SO_LINGER` 0: the other side gets a reset (RST), not EOF.
    pub fn reset(self) -> io::Result<()> {
        SockRef::from(&self.stream).set_linger(Some(Duration::ZERO))?;
        drop(self.stream);
        Ok(())
    }
}

/// A plain listener on 127.0.0.1 for `tcp.connect` scenarios. It never reads unless asked.
#[derive(Debug)]
pub struct PeerListener {
    listener: TcpListener,
}

impl PeerListener {
    /// Binds 127.0.0.1 on a free port.
    pub fn bind() -> io::Result<PeerListener> {
        Ok(PeerListener {
            listener: TcpListener::bind("127.0.0.1:0")?,
        })
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.listener.local_addr().map(|a| a.port()).unwrap_or(0)
    }

    /// Accepts one connection within `timeout`, or `None`.
    pub fn accept(&self, timeout: Duration) -> io::Result<Option<Peer>> {
        self.listener.set_nonblocking(true)?;
        let end = Instant::now() + timeout;
        loop {
            match self.listener.accept() {
                Ok((stream, _)) => {
                    stream.set_nonblocking(false)?;
                    return Ok(Some(Peer { stream }));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if Instant::now() >= end {
                        return Ok(None);
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Whether the kernel runs a keep-alive timer on the established TCP socket with local port
/// `local_port` and remote port `remote_port` (any process, IPv4 or IPv6); `None` if no
/// such socket. Read from `/proc/net/tcp{,6}`: field `tr` is 2 when the socket's `sk_timer`
/// (the keep-alive timer, for an established socket) is pending, 0 when no timer is.
pub fn keepalive_timer(local_port: u16, remote_port: u16) -> Option<bool> {
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            if f.len() < 6 {
                continue;
            }
            let port = |addr: &str| {
                addr.rsplit_once(':')
                    .and_then(|(_, p)| u16::from_str_radix(p, 16).ok())
            };
            // st 01 = ESTABLISHED
            if port(f[1]) == Some(local_port) && port(f[2]) == Some(remote_port) && f[3] == "01" {
                let timer = f[5].split(':').next().unwrap_or("00");
                return Some(timer == "02");
            }
        }
    }
    None
}
