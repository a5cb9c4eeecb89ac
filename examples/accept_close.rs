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
    failed: bool,
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
    let mut r: Reactor<App> = match ReactorBuilder::new()
        .accepted_sockets(accepted_sockets)
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("accept_close: creating the reactor: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut app = App {
        accepted: 0,
        max_connections,
        failed: false,
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
    common::stop_on_signals(&mut r, "accept_close");
    // The clock starts once listening, so even `--seconds 0` prints the first line.
    let ready = move |r: &mut Reactor<App>, app: &mut App, _| {
        if app.max_connections == Some(0) {
            r.stop();
        }
        if let Some(seconds) = seconds {
            r.set_timeout(Duration::from_secs_f64(seconds), |r, _| r.stop());
        }
    };
    let failed = |r: &mut Reactor<App>, app: &mut App| {
        app.failed = true;
        r.stop();
    };
    common::listen(&mut r, "accept_close", address, port, ready, failed);

    if let Err(e) = r.run(&mut app) {
        eprintln!("accept_close: {e}");
        return ExitCode::FAILURE;
    }
    if app.failed {
        return ExitCode::FAILURE;
    }
    println!("accepted {}", app.accepted);
    ExitCode::SUCCESS
}
