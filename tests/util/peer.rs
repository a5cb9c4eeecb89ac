//! The std side of loopback connections: blocking clients and listeners that cannot hang,
//! data patterns and per-client tokens.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::time::{Duration, Instant};

use super::PATIENCE;

/// A blocking client with read/write timeouts so no test can hang on it.
#[track_caller]
pub fn connect(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, PATIENCE).expect("connect");
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.set_write_timeout(Some(PATIENCE)).unwrap();
    s
}

/// A std listener on 127.0.0.1:0.
pub fn std_listener() -> TcpListener {
    TcpListener::bind("127.0.0.1:0").expect("bind")
}

/// A std listener on 127.0.0.1:0 and its port, as the `tcp().connect` argument.
pub fn std_listener_and_port() -> (TcpListener, i32) {
    let listener = std_listener();
    let port = listener.local_addr().expect("local_addr").port() as i32;
    (listener, port)
}

/// Asserts that no connection waits on `l` (`why` says what that proves); leaves `l`
/// non-blocking.
#[track_caller]
pub fn assert_nothing_to_accept(l: &TcpListener, why: &str) {
    l.set_nonblocking(true).unwrap();
    assert!(l.accept().is_err(), "{why}");
}

/// Accepts one connection on `l` with timeouts set, bounded in time.
#[track_caller]
pub fn std_accept(l: &TcpListener) -> TcpStream {
    l.set_nonblocking(true).unwrap();
    let deadline = Instant::now() + PATIENCE;
    loop {
        match l.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                s.set_read_timeout(Some(PATIENCE)).unwrap();
                s.set_write_timeout(Some(PATIENCE)).unwrap();
                return s;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                assert!(Instant::now() < deadline, "no connection to accept");
                std::thread::sleep(Duration::from_millis(5));
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}

/// A port on 127.0.0.1 that nothing listens on (bound, then released).
pub fn closed_port() -> i32 {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port() as i32
}

/// `len` bytes of a pattern that catches reordering and loss (not periodic in 256).
pub fn pattern(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed.wrapping_mul(2_654_435_761).wrapping_add(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
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
    let mut s = connect(addr);
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

/// Reads one byte from a client whose server side went away: EOF or a reset, nothing else.
#[track_caller]
pub fn assert_eof_or_reset(client: &mut TcpStream) {
    let mut buf = [0u8; 1];
    match client.read(&mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => {}
        other => panic!("expected EOF or reset, got {other:?}"),
    }
}

/// Sets `SO_LINGER` to zero so dropping the stream sends a reset.
pub fn set_reset_on_close(s: &TcpStream) {
    socket2::SockRef::from(s)
        .set_linger(Some(Duration::ZERO))
        .expect("SO_LINGER 0");
}
