//! What the four `embed_<host>` examples share: their flags, the application the reactor runs
//! (an echo server, a timer, an inbox filled by another thread), and the driver thread of
//! `--self-test` and `--burst`. Each example adds only its host loop, which must follow the
//! one rule of embedding (README, "Embedding"):
//!
//! > After anything that calls into the reactor (a turn, or a call made from a host callback),
//! > read [`Reactor::next_timeout`] again and wake up by then even if the poll fd stays quiet:
//! > `Some(0)` means turn again at once.
//!
//! `--burst N` is the sharp test of that rule: the listener is paused while a thread queues N
//! connections in the kernel, then a line on the host's own source unpauses it. The reactor's fd
//! reports that once; with [`ACCEPT_BATCH`] accepts per turn, every later batch is reached only
//! through `next_timeout() == Some(0)`. No timer is pending and no further connection arrives.

// Each example uses a part of this module.
#![allow(dead_code)]

use std::io::{self, BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::common::Cli;

use chrome_sockets::tcp_server::SocketProperties;
use chrome_sockets::{Reactor, ReactorBuilder, ServerSocketId, Waker};

/// Accepts per listener per turn: small, so that a burst needs many follow-up turns.
pub const ACCEPT_BATCH: usize = 16;
/// Echo clients of `--self-test`.
pub const CLIENTS: usize = 50;
/// The line the host's own source gets once every echo came back.
pub const ECHO_DONE: &str = "echo-done";
/// The line the host's own source gets once a burst is queued in the kernel.
pub const BURST_READY: &str = "burst-ready";
/// The echo server's listen backlog: the most connections a burst can queue (the kernel's
/// `net.core.somaxconn` may lower it).
const BACKLOG: usize = 4096;
/// How long `--self-test` and `--burst` may take before they fail.
const PATIENCE: Duration = Duration::from_secs(20);

/// What the example does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Serve the echo server (and the host's own source) for a while.
    Serve,
    /// Echo with [`CLIENTS`] clients, a timer, a line on the host's source and a cross-thread
    /// wake; exit 0 once all four were served.
    SelfTest,
    /// Accept this many connections that arrive at once; exit 0 once all were accepted.
    Burst(usize),
}

/// The parsed command line.
pub struct Args {
    pub mode: Mode,
    /// How long the example may run: the serving time, or the limit of a test mode.
    pub limit: Duration,
}

/// Parses `--self-test`, `--burst N`, `--seconds S` and `--help` with the examples' shared
/// parser (`--help` exits 0 with the usage, a bad flag exits 2 with one line naming it).
pub fn parse_args(name: &'static str, host: &str) -> Result<Args, ExitCode> {
    let usage = format!(
        "usage: {name} [--seconds S] [--self-test | --burst N]\n\n\
         The reactor embedded in {host}.\n\n  \
         --seconds S   serve for S seconds (default 10; the limit of a test mode, default 20)\n  \
         --self-test   echo with {CLIENTS} clients, a timer, the host's own source and a\n                \
         cross-thread wake, then exit 0\n  \
         --burst N     accept N connections (at most {BACKLOG}) that arrive at once,\n                \
         {ACCEPT_BATCH} per turn, then exit 0\n  \
         --help        this text"
    );
    let mut mode = Mode::Serve;
    let mut seconds = None;
    let mut cli = Cli::new(name, usage + "\n");
    while let Some(flag) = cli.next_flag() {
        match flag.as_str() {
            "--self-test" => mode = Mode::SelfTest,
            "--burst" => match cli.count(&flag) as usize {
                n if (1..=BACKLOG).contains(&n) => mode = Mode::Burst(n),
                n => cli.fail(format!("--burst {n}: not a count from 1 to {BACKLOG}")),
            },
            "--seconds" => seconds = Some(cli.seconds(&flag)),
            _ => cli.unknown(&flag),
        }
    }
    let limit = match (seconds, mode) {
        (Some(s), _) => Duration::from_secs_f64(s.min(1e6)),
        (None, Mode::Serve) => Duration::from_secs(10),
        (None, _) => PATIENCE,
    };
    Ok(Args { mode, limit })
}

/// The examples' `main`: parses the flags, runs `serve` and reports its error.
pub fn main<E: std::fmt::Display>(
    name: &'static str,
    host: &str,
    serve: impl FnOnce(Args) -> Result<ExitCode, E>,
) -> ExitCode {
    let args = match parse_args(name, host) {
        Ok(args) => args,
        Err(code) => return code,
    };
    serve(args).unwrap_or_else(|e| {
        eprintln!("{name}: {e}");
        ExitCode::FAILURE
    })
}

/// How a thread reaches the host's own event source: sends it one line.
pub type Link = Box<dyn FnMut(&str) -> io::Result<()> + Send>;

/// A [`Link`] to a host that serves lines on a TCP listener of its own and answers each with
/// `ok <line>`.
pub fn tcp_link(addr: SocketAddr) -> Link {
    let mut conn: Option<BufReader<TcpStream>> = None;
    Box::new(move |line| {
        if conn.is_none() {
            let s = TcpStream::connect(addr)?;
            s.set_read_timeout(Some(PATIENCE))?;
            conn = Some(BufReader::new(s));
        }
        let conn = conn.as_mut().expect("connected above");
        conn.get_mut().write_all(format!("{line}\n").as_bytes())?;
        let mut answer = String::new();
        conn.read_line(&mut answer)?;
        if answer.trim_end() == format!("ok {line}") {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::Other,
                format!("the host answered {answer:?}"),
            ))
        }
    })
}

/// A [`Link`] that writes each line to a stream the host watches.
pub fn write_link(mut w: impl Write + Send + 'static) -> Link {
    Box::new(move |line| w.write_all(format!("{line}\n").as_bytes()))
}

/// Splits complete lines off the front of `buf`.
pub fn take_lines(buf: &mut Vec<u8>) -> Vec<String> {
    let mut lines = Vec::new();
    while let Some(end) = buf.iter().position(|&b| b == b'\n') {
        let line: Vec<u8> = buf.drain(..=end).collect();
        lines.push(String::from_utf8_lossy(&line).trim_end().to_owned());
    }
    lines
}

/// The state every reactor callback gets.
pub struct App {
    mode: Mode,
    link: Option<Link>,
    driver: Option<JoinHandle<Result<Vec<TcpStream>, String>>>,
    inbox: mpsc::Receiver<String>,
    inbox_tx: mpsc::Sender<String>,
    server: Option<ServerSocketId>,
    port: Option<u16>,
    accepted: usize,
    echoed: usize,
    timer_fired: bool,
    host_lines: Vec<String>,
    /// Lines other threads sent through the inbox, each followed by a wake of the reactor.
    woken_with: Vec<String>,
    turns: u64,
    /// Turns taken because `next_timeout()` was zero before them.
    follow_ups: u64,
    started: Instant,
}

/// Builds the reactor and sets up the application: listeners, the echo server's `create` and
/// `listen`, and (outside `--burst`) a timer. `link` is how the driver thread reaches the
/// host's own source.
pub fn start(mode: Mode, link: Link) -> io::Result<(Reactor<App>, App)> {
    if let Mode::Burst(n) = mode {
        // The driver holds n client sockets at once.
        rlimit::increase_nofile_limit(n as u64 + 256)?;
    }
    let mut r: Reactor<App> = ReactorBuilder::new().accept_batch(ACCEPT_BATCH).build()?;
    let (inbox_tx, inbox) = mpsc::channel();
    let app = App {
        mode,
        link: Some(link),
        driver: None,
        inbox,
        inbox_tx,
        server: None,
        port: None,
        accepted: 0,
        echoed: 0,
        timer_fired: false,
        host_lines: Vec::new(),
        woken_with: Vec::new(),
        turns: 0,
        follow_ups: 0,
        started: Instant::now(),
    };
    let burst = matches!(mode, Mode::Burst(_));
    r.tcp_server()
        .on_accept()
        .add_listener(move |r, app, info| {
            app.accepted += 1;
            if burst {
                // Closing registers nothing, so it makes no readiness edge of its own.
                r.tcp().close(info.client_socket_id, |_, _, _| {});
            } else {
                // Accepted sockets start paused: unpause to receive.
                r.tcp()
                    .set_paused(info.client_socket_id, false, |_, _, _| {});
            }
        });
    r.tcp().on_receive().add_listener(|r, app, info| {
        app.echoed += info.data.len();
        r.tcp()
            .send(info.socket_id, info.data.clone(), |_, _, _| {});
    });
    r.tcp().on_receive_error().add_listener(|r, _, info| {
        r.tcp().close(info.socket_id, |_, _, _| {});
    });
    r.tcp_server()
        .create(SocketProperties::default(), move |r, _, created| {
            let id = created.expect("create cannot fail").socket_id;
            r.tcp_server().listen(
                id,
                "127.0.0.1",
                0,
                Some(BACKLOG as i32),
                move |r, app, result| {
                    if let Err(e) = result {
                        eprintln!("listen failed: {e}");
                        std::process::exit(1);
                    }
                    app.server = Some(id);
                    if burst {
                        // Takes effect at once: connections queue in the kernel unseen.
                        r.tcp_server().set_paused(id, true, |_, _, _| {});
                    }
                    r.tcp_server().get_info(id, |r, app, info| {
                        let port = info.expect("the server exists").local_port.unwrap_or(0);
                        println!("listening on 127.0.0.1:{port}");
                        app.port = Some(port);
                        app.start_driver(r.waker());
                    });
                },
            );
        });
    if !burst {
        r.set_timeout(Duration::from_millis(20), |_, app: &mut App| {
            app.timer_fired = true;
        });
    }
    Ok((r, app))
}

impl App {
    /// Runs one non-blocking turn, then reads the inbox. Every host calls this when the poll
    /// fd is readable or the time [`Reactor::next_timeout`] gave is up.
    pub fn turn(&mut self, r: &mut Reactor<App>) -> io::Result<()> {
        if r.next_timeout() == Some(Duration::ZERO) {
            self.follow_ups += 1;
        }
        self.turns += 1;
        r.turn(Some(Duration::ZERO), self)?;
        // Another thread's message, announced by a wake of the reactor.
        while let Ok(line) = self.inbox.try_recv() {
            self.woken_with.push(line);
        }
        Ok(())
    }

    /// A line from the host's own source.
    pub fn host_line(&mut self, r: &mut Reactor<App>, line: &str) {
        if line == BURST_READY {
            if let Some(id) = self.server {
                r.tcp_server().set_paused(id, false, |_, _, _| {});
            }
        }
        self.host_lines.push(line.to_owned());
    }

    /// Whether the test mode is complete (never, when serving).
    pub fn done(&self) -> bool {
        match self.mode {
            Mode::Serve => false,
            Mode::SelfTest => {
                self.timer_fired
                    && self.echoed >= CLIENTS * echo_line(0).len()
                    && self.host_lines.iter().any(|l| l == ECHO_DONE)
                    && !self.woken_with.is_empty()
            }
            Mode::Burst(n) => self.accepted >= n,
        }
    }

    fn start_driver(&mut self, waker: Waker) {
        let (Some(port), Some(link)) = (self.port, self.link.take()) else {
            return;
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let inbox = self.inbox_tx.clone();
        let driver = match self.mode {
            Mode::Serve => return,
            Mode::SelfTest => std::thread::spawn(move || self_test(addr, link, inbox, waker)),
            Mode::Burst(n) => std::thread::spawn(move || burst(addr, n, link)),
        };
        self.driver = Some(driver);
    }

    /// Prints what was served; success if the test mode completed (or when serving).
    pub fn finish(self, host: &str) -> ExitCode {
        let mut ok = self.mode == Mode::Serve || self.done();
        if let Some(driver) = self.driver {
            match driver.join() {
                Ok(Ok(_clients)) => {}
                Ok(Err(e)) => {
                    eprintln!("{host}: driver thread: {e}");
                    ok = false;
                }
                Err(_) => ok = false,
            }
        }
        println!(
            "served in {:.2?}: accepted {}, {} byte(s) echoed, timer fired: {}, \
             host source: {:?}, woken with: {:?}, {} turn(s), {} follow-up(s)",
            self.started.elapsed(),
            self.accepted,
            self.echoed,
            self.timer_fired,
            self.host_lines,
            self.woken_with,
            self.turns,
            self.follow_ups,
        );
        if ok {
            ExitCode::SUCCESS
        } else {
            eprintln!("{host}: {:?} did not complete", self.mode);
            ExitCode::FAILURE
        }
    }
}

fn echo_line(i: usize) -> String {
    format!("hello from client {i:04}\n")
}

/// `--self-test`'s driver: [`CLIENTS`] echo exchanges at once, then a line on the host's own
/// source, then a message through the inbox and a wake of the reactor.
fn self_test(
    addr: SocketAddr,
    mut link: Link,
    inbox: mpsc::Sender<String>,
    waker: Waker,
) -> Result<Vec<TcpStream>, String> {
    let err = |what: &str, e: io::Error| format!("{what}: {e}");
    let mut clients = Vec::new();
    for i in 0..CLIENTS {
        let mut c = TcpStream::connect(addr).map_err(|e| err("connect", e))?;
        c.set_read_timeout(Some(PATIENCE))
            .map_err(|e| err("timeout", e))?;
        c.write_all(echo_line(i).as_bytes())
            .map_err(|e| err("send", e))?;
        clients.push(BufReader::new(c));
    }
    for (i, c) in clients.iter_mut().enumerate() {
        let mut echo = String::new();
        c.read_line(&mut echo).map_err(|e| err("echo", e))?;
        if echo != echo_line(i) {
            return Err(format!("client {i} got {echo:?}"));
        }
    }
    link(ECHO_DONE).map_err(|e| err("host source", e))?;
    inbox
        .send("driver says hello".into())
        .map_err(|e| e.to_string())?;
    waker.wake().map_err(|e| err("wake", e))?;
    Ok(clients.into_iter().map(BufReader::into_inner).collect())
}

/// `--burst`'s driver: `n` connections queued in the kernel while the listener is paused, then
/// [`BURST_READY`] on the host's own source. The clients stay open (and silent) until joined.
fn burst(addr: SocketAddr, n: usize, mut link: Link) -> Result<Vec<TcpStream>, String> {
    let clients = (0..n)
        .map(|_| TcpStream::connect(addr))
        .collect::<io::Result<Vec<_>>>()
        .map_err(|e| format!("connect: {e}"))?;
    link(BURST_READY).map_err(|e| format!("host source: {e}"))?;
    Ok(clients)
}
