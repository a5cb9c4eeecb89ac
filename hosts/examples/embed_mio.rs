//! The reactor inside an outer, edge-triggered `mio::Poll`, next to the host's own sockets.
//!
//! ```text
//! cargo run --example embed_mio -- [--seconds S] [--self-test | --burst N]
//! ```
//!
//! The host registers the reactor's poll fd (`AsRawFd`) in its own `mio::Poll` through
//! `SourceFd`, next to a TCP listener of its own that answers every line with `ok <line>`.
//! mio registrations are edge-triggered: the outer poll reports the reactor's fd only when new
//! readiness arrives, never again for readiness a turn already took. So the host polls with
//! the timeout [`Reactor::next_timeout`] gives, which is zero while a turn left work queued
//! (a listener with more connections than one accept batch, callbacks queued by callbacks),
//! and turns after every poll.
//!
//! The host prints its listener's address (`host listening on ..`), the reactor its echo
//! server's (`listening on 127.0.0.1:<port>`). `--self-test` and `--burst N` are described in
//! `examples/embed_shared/mod.rs`.

// The command line of every example: the library's examples/common, shared rather than copied.
#[path = "../../examples/common/mod.rs"]
mod common;
mod embed_shared;
use embed_shared as shared;

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::time::Instant;

use chrome_sockets::Reactor;
use mio::net::{TcpListener, TcpStream};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};

use shared::App;

const REACTOR: Token = Token(0);
const HOST_LISTENER: Token = Token(1);

/// A connection to the host's own listener.
struct HostConn {
    stream: TcpStream,
    buf: Vec<u8>,
}

/// The host's own sockets: a listener and the connections it accepted.
struct Host {
    listener: TcpListener,
    conns: HashMap<Token, HostConn>,
    next_token: usize,
}

impl Host {
    /// Serves one readiness event of the host's own sockets (edge-triggered: drains each).
    fn ready(&mut self, poll: &Poll, token: Token, r: &mut Reactor<App>, app: &mut App) {
        if token == HOST_LISTENER {
            loop {
                match self.listener.accept() {
                    Ok((mut stream, _)) => {
                        self.next_token += 1;
                        let token = Token(self.next_token);
                        match poll
                            .registry()
                            .register(&mut stream, token, Interest::READABLE)
                        {
                            Ok(()) => {
                                let buf = Vec::new();
                                self.conns.insert(token, HostConn { stream, buf });
                            }
                            Err(e) => eprintln!("embed_mio: registering a connection: {e}"),
                        }
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                    Err(e) => return eprintln!("embed_mio: accept: {e}"),
                }
            }
        }
        let Some(conn) = self.conns.get_mut(&token) else {
            return;
        };
        let mut chunk = [0u8; 512];
        let open = loop {
            match conn.stream.read(&mut chunk) {
                Ok(0) => break false,
                Ok(n) => conn.buf.extend_from_slice(&chunk[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break true,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break false,
            }
        };
        for line in shared::take_lines(&mut conn.buf) {
            app.host_line(r, &line);
            // A few bytes on a fresh socket: written at once.
            if let Err(e) = conn.stream.write_all(format!("ok {line}\n").as_bytes()) {
                eprintln!("embed_mio: answering: {e}");
            }
        }
        if !open {
            if let Some(mut conn) = self.conns.remove(&token) {
                let _ = poll.registry().deregister(&mut conn.stream);
            }
        }
    }
}

fn main() -> ExitCode {
    shared::main("embed_mio", "an outer edge-triggered mio::Poll", serve)
}

fn serve(args: shared::Args) -> io::Result<ExitCode> {
    let mut poll = Poll::new()?;
    let mut listener = TcpListener::bind("127.0.0.1:0".parse().expect("an address"))?;
    poll.registry()
        .register(&mut listener, HOST_LISTENER, Interest::READABLE)?;
    let host_addr = listener.local_addr()?;
    let mut host = Host {
        listener,
        conns: HashMap::new(),
        next_token: HOST_LISTENER.0,
    };

    let (mut r, mut app) = shared::start(args.mode, shared::tcp_link(host_addr))?;
    // The reactor's epoll fd, in the host's epoll, edge-triggered like every mio registration.
    poll.registry()
        .register(&mut SourceFd(&r.as_raw_fd()), REACTOR, Interest::READABLE)?;
    println!("host listening on {host_addr}");

    let deadline = Instant::now() + args.limit;
    let mut events = Events::with_capacity(256);
    while !app.done() {
        let now = Instant::now();
        if now >= deadline {
            break;
        }
        // The rule: never sleep past next_timeout(), whatever the fds say.
        let left = deadline - now;
        let timeout = r.next_timeout().map_or(left, |t| t.min(left));
        match poll.poll(&mut events, Some(timeout)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for event in events.iter() {
            if event.token() != REACTOR {
                host.ready(&poll, event.token(), &mut r, &mut app);
            }
        }
        // Readable, timed out or follow-up: a turn never blocks, so take one every time.
        app.turn(&mut r)?;
    }
    Ok(app.finish("embed_mio"))
}
