//! Accept-and-close server: accepts every connection and closes it at once.
//!
//! ```text
//! cargo run --release --example accept_close -- [--address 127.0.0.1] [--port 8080]
//!     [--seconds S] [--max-connections N] [--untouched]
//! ```
//!
//! The first stdout line is `listening on <address>:<port>` (the real port when `--port 0`).
//! It stops after `S` seconds or `N` connections (whichever comes first; without either it
//! runs until killed) and then prints `accepted <N>`. `--untouched` leaves accepted sockets as
//! `accept4(2)` returned them instead of setting Chrome's `TCP_NODELAY`. `--max-conns` is an
//! alias of `--max-connections` (the accept-bench yardstick passes that name).

use std::fmt::Display;
use std::io::Write;
use std::process::ExitCode;
use std::str::FromStr;
use std::time::Duration;

use chrome_sockets::tcp_server::SocketProperties;
use chrome_sockets::{AcceptedSockets, Reactor, ReactorBuilder};

struct Args {
    address: String,
    port: i32,
    seconds: Option<f64>,
    max_connections: Option<u64>,
    untouched: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        address: "127.0.0.1".into(),
        port: 8080,
        seconds: None,
        max_connections: None,
        untouched: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--untouched" => args.untouched = true,
            "--address" => args.address = parse(&flag, it.next())?,
            "--port" => args.port = parse(&flag, it.next())?,
            "--seconds" => args.seconds = Some(parse(&flag, it.next())?),
            "--max-connections" | "--max-conns" => {
                args.max_connections = Some(parse(&flag, it.next())?)
            }
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
struct App {
    accepted: u64,
    max_connections: Option<u64>,
    failed: bool,
}

fn main() -> ExitCode {
    let Ok(args) = parse_args().map_err(|e| eprintln!("accept_close: {e}")) else {
        return ExitCode::from(2);
    };
    let accepted_sockets = if args.untouched {
        AcceptedSockets::Untouched
    } else {
        AcceptedSockets::ChromeDefaults
    };
    let mut r: Reactor<App> = ReactorBuilder::new()
        .accepted_sockets(accepted_sockets)
        .build()
        .expect("creating the reactor");
    let mut app = App {
        accepted: 0,
        max_connections: args.max_connections,
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
                        eprintln!("accept_close: listen failed: {e}");
                        app.failed = true;
                        r.stop();
                        return;
                    }
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
        eprintln!("accept_close: {e}");
        return ExitCode::FAILURE;
    }
    println!("accepted {}", app.accepted);
    if app.failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
