//! Echo server: sends every byte back on every connection.
//!
//! ```text
//! cargo run --release --example echo_server -- [--address 127.0.0.1] [--port 8080] [--seconds S]
//! ```
//!
//! The first stdout line is `listening on <address>:<port>` (the real port when `--port 0`,
//! IPv6 addresses in brackets: `listening on [::]:8080`). Without `--seconds` it runs until
//! SIGINT (Ctrl-C) or SIGTERM; after `S` seconds or a signal it prints
//! `connections <N> bytes <B>` and exits 0. Try it with `nc 127.0.0.1 8080`. `--help` prints
//! the usage; a bad command line exits 2 with a one-line error; a failed listen exits 1.
//!
//! Each connection reads one chunk, echoes it, and reads the next only once that send has
//! completed (the socket is paused meanwhile). So memory stays bounded however slowly a peer
//! reads, and a peer that closes its sending side still gets every byte back: its FIN is read
//! only after everything before it was echoed. A connection is closed when its peer closes or
//! resets it. After an `on_accept_error` (say, out of fds) the server is paused; it resumes
//! when a connection closes, or after a second.
//!
//! Everything is on this page: create, listen and the bound port (`local_addr`), the three
//! listeners, the stop on a signal. Calls on ids the example holds open, whose only possible
//! error would be "Socket not found", take [`ignore`](chrome_sockets::ignore); a failed `send`
//! closes the connection.

mod common;

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::time::Duration;

use chrome_sockets::tcp::SocketProperties as TcpProperties;
use chrome_sockets::tcp_server::SocketProperties as ServerProperties;
use chrome_sockets::{ignore, Reactor, ReactorBuilder, ServerSocketId, TcpSocketId};
use common::Cli;

const USAGE: &str = "\
usage: echo_server [--address IP] [--port PORT] [--seconds S]

Echoes every byte back on every connection.
  --address IP   address to listen on (default 127.0.0.1; :: for every IPv6 address)
  --port PORT    port, 0 to 65535 (default 8080; 0 picks a free one)
  --seconds S    stop after S seconds (default: run until SIGINT/SIGTERM)
  --help         this text
Prints `listening on <address>:<port>` first, and `connections <N> bytes <B>` at the end.
";

/// Bytes one `on_receive` may carry.
const CHUNK: i32 = 64 * 1024;

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
    /// Creating or listening failed: exit 1 with no summary.
    failed: bool,
}

/// Prints why the server could not start and stops the reactor.
fn give_up(r: &mut Reactor<App>, app: &mut App, why: String) {
    eprintln!("echo_server: {why}");
    app.failed = true;
    r.stop();
}

/// Closes a connection and, if accepting stopped after an error, resumes it: an fd is free.
fn close(r: &mut Reactor<App>, app: &mut App, id: TcpSocketId) {
    if app.open.remove(&id) {
        r.tcp().close(id, ignore);
        resume_accepting(r, app);
    }
}

fn resume_accepting(r: &mut Reactor<App>, app: &mut App) {
    if let (true, Some(server)) = (app.accept_paused, app.server) {
        app.accept_paused = false;
        r.tcp_server().set_paused(server, false, ignore);
    }
}

fn main() -> ExitCode {
    let mut cli = Cli::new("echo_server", USAGE);
    let (mut address, mut port, mut seconds) = ("127.0.0.1".to_owned(), 8080, None);
    while let Some(flag) = cli.next_flag() {
        match flag.as_str() {
            "--address" => address = cli.address(&flag),
            "--port" => port = cli.port(&flag),
            "--seconds" => seconds = Some(cli.seconds(&flag)),
            _ => cli.unknown(&flag),
        }
    }
    let mut r: Reactor<App> = match common::reactor("echo_server", ReactorBuilder::new()) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let mut app = App::default();

    r.tcp_server().on_accept().add_listener(|r, app, info| {
        let id = info.client_socket_id;
        app.open.insert(id);
        app.connections += 1;
        let props = TcpProperties::new().buffer_size(CHUNK);
        r.tcp().update(id, props, ignore);
        r.tcp().set_paused(id, false, ignore);
    });
    r.tcp().on_receive().add_listener(|r, app, info| {
        let id = info.socket_id;
        app.bytes += info.data.len() as u64;
        // Read nothing more until this chunk is out.
        r.tcp().set_paused(id, true, ignore);
        r.tcp().send(id, info.data.clone(), move |r, app, result| {
            match result {
                Ok(_) => r.tcp().set_paused(id, false, ignore),
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
    // Ctrl-C or SIGTERM stops `run` (then the summary line is printed).
    common::stop_on_signals(&mut r, "echo_server");
    let target = address.clone();
    r.tcp_server()
        .create(ServerProperties::new(), move |r, app, created| {
            let id = match created {
                Ok(created) => created.socket_id,
                Err(e) => return give_up(r, app, format!("creating the server failed: {e}")),
            };
            r.tcp_server()
                .listen(id, &target, port, None, move |r, app, result| {
                    if let Err(e) = result {
                        let at = common::endpoint(&address, port as u16);
                        return give_up(r, app, format!("listen on {at} failed: {e}"));
                    }
                    app.server = Some(id);
                    // The port really bound (`--port 0` picks one), read at once.
                    match r.tcp_server().local_addr(id) {
                        Ok(at) => println!("listening on {at}"),
                        Err(e) => return give_up(r, app, format!("reading the port failed: {e}")),
                    }
                    if let Some(seconds) = seconds {
                        r.set_timeout(Duration::from_secs_f64(seconds), |r, _| r.stop());
                    }
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
