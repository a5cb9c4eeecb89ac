//! Accept-and-close server: accepts every connection and closes it at once.
//!
//! ```text
//! cargo run --release --example accept_close -- [--address 127.0.0.1] [--port 8080]
//!     [--seconds S] [--max-connections N] [--untouched]
//! ```
//!
//! The first stdout line is `listening on <address>:<port>` (the real port when `--port 0`,
//! IPv6 addresses in brackets). It stops after `S` seconds, `N` connections, SIGINT or
//! SIGTERM (whichever comes first; without `S` or `N` it runs until a signal) and then
//! prints `accepted <N>`. `--untouched` leaves accepted sockets as `accept4(2)` returned them
//! instead of setting Chrome's `TCP_NODELAY`. `--max-conns` is an alias of
//! `--max-connections` (the accept-bench yardstick passes that name). `--help` prints the
//! usage; a bad command line exits 2 with a one-line error; a failed listen exits 1 and
//! prints no count.

mod common;

use std::process::ExitCode;
use std::time::Duration;

use chrome_sockets::{AcceptedSockets, Reactor, ReactorBuilder};
use common::Cli;

const USAGE: &str = "\
usage: accept_close [--address IP] [--port PORT] [--seconds S] [--max-connections N]
                    [--untouched]

Accepts every connection and closes it at once.
  --address IP          address to listen on (default 127.0.0.1; :: for every IPv6 address)
  --port PORT           port, 0 to 65535 (default 8080; 0 picks a free one)
  --seconds S           stop after S seconds
  --max-connections N   stop after N connections (alias: --max-conns)
  --untouched           leave accepted sockets as accept4(2) returned them (no TCP_NODELAY)
  --help                this text
Prints `listening on <address>:<port>` first, and `accepted <N>` at the end.
";

/// The state every callback gets.
struct App {
    accepted: u64,
    max_connections: Option<u64>,
}

fn main() -> ExitCode {
    let mut cli = Cli::new("accept_close", USAGE);
    let (mut address, mut port, mut seconds) = ("127.0.0.1".to_owned(), 8080, None);
    let (mut max_connections, mut untouched) = (None, false);
    while let Some(flag) = cli.next_flag() {
        match flag.as_str() {
            "--address" => address = cli.address(&flag),
            "--port" => port = cli.port(&flag),
            "--seconds" => seconds = Some(cli.seconds(&flag)),
            "--max-connections" | "--max-conns" => max_connections = Some(cli.count(&flag)),
            "--untouched" => untouched = true,
            _ => cli.unknown(&flag),
        }
    }
    let accepted_sockets = if untouched {
        AcceptedSockets::Untouched
    } else {
        AcceptedSockets::ChromeDefaults
    };
    let builder = ReactorBuilder::new().accepted_sockets(accepted_sockets);
    let mut r: Reactor<App> = match common::reactor("accept_close", builder) {
        Ok(r) => r,
        Err(code) => return code,
    };
    let mut app = App {
        accepted: 0,
        max_connections,
    };

    r.tcp_server().on_accept().add_listener(|r, app, info| {
        r.tcp().close(info.client_socket_id, |_, _, _| {});
        app.accepted += 1;
        if app.max_connections.is_some_and(|max| app.accepted >= max) {
            r.stop();
        }
    });
    r.tcp_server().on_accept_error().add_listener(|r, _, info| {
        eprintln!("accept error {}: resuming in 100 ms", info.result_code);
        let id = info.socket_id;
        r.set_timeout(Duration::from_millis(100), move |r, _| {
            r.tcp_server().set_paused(id, false, |_, _, _| {});
        });
    });
    let ready = |r: &mut Reactor<App>, app: &mut App, _| {
        if app.max_connections == Some(0) {
            r.stop();
        }
    };
    let listen_on = (address, port);
    if let Err(code) = common::serve(&mut r, &mut app, "accept_close", listen_on, seconds, ready) {
        return code;
    }
    println!("accepted {}", app.accepted);
    ExitCode::SUCCESS
}
