//! Echo server: sends every byte back on every connection.
//!
//! ```text
//! cargo run --release --example echo_server -- [--address 127.0.0.1] [--port 8080] [--seconds S]
//! ```
//!
//! The first stdout line is `listening on <address>:<port>` (the real port when `--port 0`).
//! Without `--seconds` it runs until killed; with it, it stops after `S` seconds and prints
//! `connections <N> bytes <B>`. Try it with `nc 127.0.0.1 8080`.
//!
//! Each connection reads one chunk, echoes it, and reads the next only once that send has
//! completed (the socket is paused meanwhile). So memory stays bounded however slowly a peer
//! reads, and a peer that closes its sending side still gets every byte back: its FIN is read
//! only after everything before it was echoed. A connection is closed when its peer closes or
//! resets it. After an `on_accept_error` (say, out of fds) the server is paused; it resumes
//! when a connection closes, or after a second.

use std::collections::BTreeSet;
use std::fmt::Display;
use std::io::Write;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use chrome_sockets::tcp::SocketProperties as TcpProperties;
use chrome_sockets::tcp_server::SocketProperties;
use chrome_sockets::{Reactor, ServerSocketId, TcpSocketId};

/// Bytes one `on_receive` may carry.
const CHUNK: i32 = 64 * 1024;

struct Args {
    address: String,
    port: i32,
    seconds: Option<f64>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        address: "127.0.0.1".into(),
        port: 8080,
        seconds: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--address" => args.address = parse(&flag, it.next())?,
            "--port" => args.port = parse(&flag, it.next())?,
            "--seconds" => args.seconds = Some(parse(&flag, it.next())?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

/// The value after `flag`, parsed.
fn parse<T: FromStr<Err = E>, E: Display>(flag: &str, value: Option<String>) -> Result<T, String> {
    let value = value.ok_or(format!("{flag} needs a value"))?;
    value.parse().map_err(|e| format!("{flag}: {e}"))
}

/// The state every callback gets.
#[derive(Default)]
struct App {
    server: Option<ServerSocketId>,
    /// Open connections.
    open: BTreeSet<TcpSocketId>,
    /// The server was paused by an accept error and not resumed yet.
    accept_paused: bool,
    connections: u64,
    bytes: u64,
    failed: bool,
}

/// Closes a connection and, if accepting stopped after an error, resumes it: an fd is free.
fn close(r: &mut Reactor<App>, app: &mut App, id: TcpSocketId) {
    if app.open.remove(&id) {
        r.tcp().close(id, |_, _, _| {});
        resume_accepting(r, app);
    }
}

fn resume_accepting(r: &mut Reactor<App>, app: &mut App) {
    if let (true, Some(server)) = (app.accept_paused, app.server) {
        app.accept_paused = false;
        r.tcp_server().set_paused(server, false, |_, _, _| {});
    }
}

fn main() -> ExitCode {
    let Ok(args) = parse_args().map_err(|e| eprintln!("echo_server: {e}")) else {
        return ExitCode::from(2);
    };
    let mut r: Reactor<App> = Reactor::new().expect("creating the reactor");
    let mut app = App::default();

    r.tcp_server().on_accept().add_listener(|r, app, info| {
        let id = info.client_socket_id;
        app.open.insert(id);
        app.connections += 1;
        let props = TcpProperties::new().buffer_size(CHUNK);
        r.tcp().update(id, props, |_, _, _| {});
        r.tcp().set_paused(id, false, |_, _, _| {});
    });
    r.tcp().on_receive().add_listener(|r, app, info| {
        let id = info.socket_id;
        app.bytes += info.data.len() as u64;
        // Read nothing more until this chunk is out.
        r.tcp().set_paused(id, true, |_, _, _| {});
        r.tcp().send(id, info.data.clone(), move |r, app, result| {
            match result {
                Ok(_) => r.tcp().set_paused(id, false, |_, _, _| {}),
                // The peer reset (or went away) mid-stream: drop the connection.
                Err(_) => close(r, app, id),
            }
        });
    });
    r.tcp().on_receive_error().add_listener(|r, app, info| {
        // -100: the peer closed; anything else: a reset or another error. Either way, done.
        close(r, app, info.socket_id);
    });
    r.tcp_server()
        .on_accept_error()
        .add_listener(|r, app, info| {
            eprintln!(
                "echo_server: accept error {}: paused until a connection closes",
                info.result_code
            );
            app.accept_paused = true;
            r.set_timeout(Duration::from_secs(1), resume_accepting);
        });
    if let Some(seconds) = args.seconds {
        r.set_timeout(Duration::from_secs_f64(seconds.max(0.0)), |r, _| r.stop());
    }

    let (address, port) = (args.address.clone(), args.port);
    r.tcp_server()
        .create(SocketProperties::default(), move |r, _, created| {
            let id = created.expect("create cannot fail").socket_id;
            r.tcp_server()
                .listen(id, &address, port, None, move |r, app, result| {
                    if let Err(e) = result {
                        eprintln!("echo_server: listen failed: {e}");
                        app.failed = true;
                        r.stop();
                        return;
                    }
                    app.server = Some(id);
                    r.tcp_server().get_info(id, |_, _, info| {
                        let info = info.expect("the server exists");
                        let address = info.local_address.unwrap_or_default();
                        let port = info.local_port.unwrap_or_default();
                        let mut out = std::io::stdout().lock();
                        let _ = writeln!(out, "listening on {address}:{port}");
                        let _ = out.flush();
                    });
                });
        });

    if let Err(e) = r.run(&mut app) {
        eprintln!("echo_server: {e}");
        return ExitCode::FAILURE;
    }
    if app.failed {
        return ExitCode::FAILURE;
    }
    println!("connections {} bytes {}", app.connections, app.bytes);
    ExitCode::SUCCESS
}
