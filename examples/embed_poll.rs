//! The reactor inside a host's own `poll(2)` loop, next to a pipe the host serves itself.
//!
//! ```text
//! cargo run --example embed_poll -- [--seconds S] [--port P] [--self-test]
//! ```
//!
//! The host loop polls two fds: the reactor's (`AsFd`) and the read end of its own pipe, with
//! the timeout [`Reactor::next_timeout`] gives (capped by the time left). When `poll` returns
//! it reads its pipe if that is readable and then runs one non-blocking turn,
//! `turn(Some(Duration::ZERO))`, which serves whatever the reactor has: accepts, reads, timers.
//!
//! The reactor runs an echo server on 127.0.0.1 (`--port`, default 0 = any free port; the
//! first line printed is `listening on 127.0.0.1:<port>`) and a heartbeat timer every 250 ms;
//! a ticker thread writes `tick` to the host's pipe every 500 ms. After `--seconds` (default 3)
//! it prints what was served and exits.
//!
//! `--self-test`: instead of the ticker, a thread connects a client to the echo server, sends a
//! line, reads the echo and then writes to the host's pipe; the loop exits as soon as both sides
//! were served (exit status 0), or fails after `--seconds` (default 10 in this mode).

use std::fs::File;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use chrome_sockets::tcp_server::SocketProperties;
use chrome_sockets::Reactor;
use rustix::event::{poll, PollFd, PollFlags, Timespec};

mod common;
use common::Cli;

const SELF_TEST_LINE: &[u8] = b"hello, reactor\n";

/// The state every reactor callback gets.
#[derive(Default)]
struct App {
    port: Option<u16>,
    connections: u32,
    echoed: usize,
    heartbeats: u32,
}

struct Args {
    seconds: Option<f64>,
    port: i32,
    self_test: bool,
}

const USAGE: &str = "usage: embed_poll [--seconds S] [--port P] [--self-test]

The reactor inside a host's own poll(2) loop, next to a pipe the host serves itself.

  --seconds S   serve for S seconds (default 3; the limit of --self-test, default 10)
  --port P      the echo server's port on 127.0.0.1 (default 0: any free port)
  --self-test   echo one line and serve the host's pipe once, then exit 0
  --help        this text
";

fn parse_args() -> Args {
    let mut args = Args {
        seconds: None,
        port: 0,
        self_test: false,
    };
    let mut cli = Cli::new("embed_poll", USAGE);
    while let Some(flag) = cli.next_flag() {
        match flag.as_str() {
            "--seconds" => args.seconds = Some(cli.seconds(&flag)),
            "--port" => args.port = cli.port(&flag),
            "--self-test" => args.self_test = true,
            _ => cli.unknown(&flag),
        }
    }
    args
}

/// Sets up the echo server, its listeners and the heartbeat timer.
fn start_echo_server(r: &mut Reactor<App>, port: i32) {
    r.tcp_server().on_accept().add_listener(|r, app, info| {
        app.connections += 1;
        // Accepted sockets start paused: unpause to receive.
        r.tcp()
            .set_paused(info.client_socket_id, false, |_, _, _| {});
    });
    r.tcp().on_receive().add_listener(|r, app, info| {
        app.echoed += info.data.len();
        let id = info.socket_id;
        // Read no more until this echo is written: the peer's FIN (-100, which would fail a
        // send still queued) is read only once every echo is out, so nothing is lost.
        r.tcp().set_paused(id, true, |_, _, _| {});
        r.tcp()
            .send(id, info.data.clone(), move |r, _, sent| match sent {
                Ok(_) => r.tcp().set_paused(id, false, |_, _, _| {}),
                Err(e) => {
                    eprintln!("echo to socket {id} failed: {e}; closing it");
                    r.tcp().close(id, |_, _, _| {});
                }
            });
    });
    r.tcp().on_receive_error().add_listener(|r, _, info| {
        // -100: the peer half-closed and every echo was written; otherwise a reset.
        r.tcp().close(info.socket_id, |_, _, _| {});
    });
    r.tcp_server()
        .create(SocketProperties::default(), move |r, _, created| {
            let id = created.expect("create cannot fail").socket_id;
            r.tcp_server()
                .listen(id, "127.0.0.1", port, None, move |r, _, result| {
                    if let Err(e) = result {
                        eprintln!("embed_poll: listen failed: {e}");
                        std::process::exit(1);
                    }
                    r.tcp_server().get_info(id, |_, app, info| {
                        let port = info.expect("the server exists").local_port;
                        app.port = port;
                        println!("listening on 127.0.0.1:{}", port.unwrap_or(0));
                    });
                });
        });
    fn heartbeat(r: &mut Reactor<App>, app: &mut App) {
        app.heartbeats += 1;
        r.set_timeout(Duration::from_millis(250), heartbeat);
    }
    r.set_timeout(Duration::from_millis(250), heartbeat);
}

/// The self-test's client: echo round trip through the reactor, then a line on the pipe.
fn self_test_client(port: u16, mut pipe: File) -> std::io::Result<()> {
    let mut client = TcpStream::connect(("127.0.0.1", port))?;
    client.set_read_timeout(Some(Duration::from_secs(5)))?;
    client.write_all(SELF_TEST_LINE)?;
    let mut echo = vec![0u8; SELF_TEST_LINE.len()];
    client.read_exact(&mut echo)?;
    assert_eq!(echo, SELF_TEST_LINE, "the echo server echoes");
    pipe.write_all(b"client got its echo\n")
}

fn main() -> ExitCode {
    let args = parse_args();
    let limit =
        Duration::from_secs_f64(
            args.seconds
                .unwrap_or(if args.self_test { 10.0 } else { 3.0 }),
        );
    let mut r: Reactor<App> = Reactor::new().expect("creating the reactor");
    let mut app = App::default();
    start_echo_server(&mut r, args.port);

    // The host's own fd: a pipe whose write end another thread holds.
    let (pipe_rx, pipe_tx) = rustix::pipe::pipe().expect("pipe");
    let mut pipe_rx = File::from(pipe_rx);
    let mut pipe_tx = Some(File::from(pipe_tx));
    if !args.self_test {
        let mut tx = pipe_tx.take().unwrap();
        // Ends when the host closes its read end (the write fails) at exit.
        std::thread::spawn(move || loop {
            std::thread::sleep(Duration::from_millis(500));
            if tx.write_all(b"tick\n").is_err() {
                break;
            }
        });
    }

    let mut pipe_bytes = Vec::new();
    let mut pipe_open = true;
    let mut client = None;
    let start = Instant::now();
    let deadline = start + limit;
    let mut failed = false;
    loop {
        let now = Instant::now();
        if now >= deadline {
            failed = args.self_test;
            break;
        }
        if args.self_test {
            if let Some(port) = app.port.filter(|_| pipe_tx.is_some()) {
                let tx = pipe_tx.take().unwrap();
                client = Some(std::thread::spawn(move || self_test_client(port, tx)));
            }
            let done = app.echoed >= SELF_TEST_LINE.len() && !pipe_bytes.is_empty();
            if done && pipe_bytes.ends_with(b"\n") {
                break;
            }
        }

        // Sleep until the reactor's fd or the pipe is readable, or the reactor's next timer.
        let left = deadline - now;
        let timeout = r.next_timeout().map_or(left, |t| t.min(left));
        let timeout = Timespec::try_from(timeout).expect("timeout fits");
        let mut fds = vec![PollFd::new(&r, PollFlags::IN)];
        if pipe_open {
            fds.push(PollFd::new(&pipe_rx, PollFlags::IN));
        }
        match poll(&mut fds, Some(&timeout)) {
            Ok(_) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => {
                eprintln!("embed_poll: poll: {e}");
                return ExitCode::FAILURE;
            }
        }
        let pipe_ready = fds
            .get(1)
            .is_some_and(|fd| fd.revents().intersects(PollFlags::IN | PollFlags::HUP));
        drop(fds);

        // The host serves its own fd...
        if pipe_ready {
            let mut buf = [0u8; 512];
            match pipe_rx.read(&mut buf) {
                Ok(0) => pipe_open = false, // every writer is gone: stop watching it
                Ok(n) => pipe_bytes.extend_from_slice(&buf[..n]),
                Err(e) => eprintln!("embed_poll: reading the pipe: {e}"),
            }
        }
        // ...and the reactor, without ever blocking in it.
        if let Err(e) = r.turn(Some(Duration::ZERO), &mut app) {
            eprintln!("embed_poll: turn: {e}");
            return ExitCode::FAILURE;
        }
    }

    if let Some(client) = client {
        match client.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                eprintln!("embed_poll: self-test client: {e}");
                failed = true;
            }
            Err(_) => failed = true,
        }
    }
    let pipe_lines: Vec<_> = String::from_utf8_lossy(&pipe_bytes)
        .lines()
        .map(str::to_owned)
        .collect();
    println!(
        "served in {:.2?}: reactor: {} connection(s), {} byte(s) echoed, {} heartbeat(s); \
         pipe: {} line(s) {:?}",
        start.elapsed(),
        app.connections,
        app.echoed,
        app.heartbeats,
        pipe_lines.len(),
        pipe_lines
    );
    if failed {
        eprintln!("embed_poll: self-test did not finish within {limit:?}");
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
