//! Accept-and-close server: accepts every connection and closes it at once, or, with
//! `--reply http`, answers each with a minimal HTTP/1.0 response first (for load generators
//! such as `ab`, `wrk` and `hey`).
//!
//! ```text
//! cargo run --release --example accept_close -- [--address 127.0.0.1] [--port 8080]
//!     [--seconds S] [--max-connections N] [--untouched] [--reply http]
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
//!
//! `--reply http` reads each connection's request up to its blank line (`\r\n\r\n`, at most
//! 16 KiB: a longer head gets 431), sends `HTTP/1.0 200 OK` with a two-byte body and
//! `Connection: close`, half-closes (FIN after the response), then reads and discards until the
//! client's own FIN and closes: a lingering close, so no client sees a reset for bytes it sent
//! after the request. A client that has not closed 2 seconds after its response is closed
//! then. `--max-connections N` then counts connections closed, and the summary line is
//! `accepted <N> served <R> unanswered <U> errors <E>` (U: connections closed before a whole
//! request arrived, as load generators leave a few at exit; E: connections that ended in a
//! read or send error, which a well-behaved load generator never causes).

mod common;

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::Duration;

use chrome_sockets::{AcceptedSockets, NetError, Reactor, ReactorBuilder, TcpSocketId, TimerId};
use common::Cli;

const USAGE: &str = "\
usage: accept_close [--address IP] [--port PORT] [--seconds S] [--max-connections N]
                    [--untouched] [--reply http]

Accepts every connection and closes it at once (or answers it first: --reply http).
  --address IP          address to listen on (default 127.0.0.1; :: for every IPv6 address)
  --port PORT           port, 0 to 65535 (default 8080; 0 picks a free one)
  --seconds S           stop after S seconds
  --max-connections N   stop after N connections (alias: --max-conns)
  --untouched           leave accepted sockets as accept4(2) returned them (no TCP_NODELAY)
  --reply http          read each request, answer `HTTP/1.0 200 OK`, close after the client's FIN
  --help                this text
Prints `listening on <address>:<port>` first, and `accepted <N>` at the end
(`accepted <N> served <R> unanswered <U> errors <E>` with --reply http).
";

/// The state every callback gets.
struct App {
    accepted: u64,
    max_connections: Option<u64>,
    /// `--reply http`: what happens to each open connection.
    http: Option<Http>,
}

/// The `--reply http` mode's state.
#[derive(Default)]
struct Http {
    /// Open connections: the request head read so far (`Reading`), or the timer that closes a
    /// connection whose client has not closed after its response (`Lingering`).
    conns: HashMap<TcpSocketId, Conn>,
    served: u64,
    /// Connections closed before a whole request head arrived.
    unanswered: u64,
    closed: u64,
    errors: u64,
}

enum Conn {
    Reading(Vec<u8>),
    Lingering(TimerId),
}

/// The whole response: a two-byte body, then the server half-closes.
const RESPONSE: &[u8] =
    b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
/// The answer to a request head over `MAX_HEAD` bytes.
const TOO_LARGE: &[u8] =
    b"HTTP/1.0 431 Request Header Fields Too Large\r\nContent-Length: 0\r\nConnection: close\r\n\r\n";
/// The longest request head read.
const MAX_HEAD: usize = 16 * 1024;
/// How long a connection lingers after its response for the client's FIN.
const LINGER: Duration = Duration::from_secs(2);

fn main() -> ExitCode {
    let mut cli = Cli::new("accept_close", USAGE);
    let (mut address, mut port, mut seconds) = ("127.0.0.1".to_owned(), 8080, None);
    let (mut max_connections, mut untouched, mut http) = (None, false, false);
    while let Some(flag) = cli.next_flag() {
        match flag.as_str() {
            "--address" => address = cli.address(&flag),
            "--port" => port = cli.port(&flag),
            "--seconds" => seconds = Some(cli.seconds(&flag)),
            "--max-connections" | "--max-conns" => max_connections = Some(cli.count(&flag)),
            "--untouched" => untouched = true,
            "--reply" => match cli.text(&flag).as_str() {
                "http" => http = true,
                other => cli.fail(format!("--reply {other}: the only reply is http")),
            },
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
        http: http.then(Http::default),
    };

    if http {
        serve_http(&mut r);
    } else {
        r.tcp_server().on_accept().add_listener(|r, app, info| {
            r.tcp().close(info.client_socket_id, |_, _, _| {});
            app.accepted += 1;
            if app.max_connections.is_some_and(|max| app.accepted >= max) {
                r.stop();
            }
        });
    }
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
    match &app.http {
        None => println!("accepted {}", app.accepted),
        Some(h) => println!(
            "accepted {} served {} unanswered {} errors {}",
            app.accepted, h.served, h.unanswered, h.errors
        ),
    }
    ExitCode::SUCCESS
}

/// `--reply http`: every accepted connection is read up to its request's blank line, answered,
/// half-closed, and closed once the client's FIN comes (or `LINGER` after the response).
fn serve_http(r: &mut Reactor<App>) {
    r.tcp_server().on_accept().add_listener(|r, app, info| {
        let id = info.client_socket_id;
        app.accepted += 1;
        let http = app.http.as_mut().expect("http mode");
        http.conns.insert(id, Conn::Reading(Vec::new()));
        r.tcp().set_paused(id, false, move |r, app, result| {
            if result.is_err() {
                finish(r, app, id, true); // the socket is gone already: count it, drop it
            }
        });
    });
    r.tcp().on_receive().add_listener(|r, app, info| {
        let id = info.socket_id;
        let http = app.http.as_mut().expect("http mode");
        let Some(Conn::Reading(head)) = http.conns.get_mut(&id) else {
            return; // lingering: what a client sends after its request is read and dropped
        };
        head.extend_from_slice(&info.data);
        let reply = if head.windows(4).any(|w| w == b"\r\n\r\n") {
            RESPONSE
        } else if head.len() > MAX_HEAD {
            TOO_LARGE
        } else {
            return; // the head is not complete yet
        };
        let linger = r.set_timeout(LINGER, move |r, app| finish(r, app, id, false));
        http.conns.insert(id, Conn::Lingering(linger));
        r.tcp().send(id, reply, move |r, app, sent| match sent {
            Ok(_) => {
                app.http.as_mut().expect("http mode").served += 1;
                r.tcp().shutdown_send(id, move |r, app, result| {
                    if result.is_err() {
                        finish(r, app, id, true);
                    }
                });
            }
            Err(_) => finish(r, app, id, true),
        });
    });
    // The client's FIN (-100) is the normal end (before a request: a client that asked for
    // nothing); any other code is an error.
    r.tcp().on_receive_error().add_listener(|r, app, info| {
        let failed = info.result_code != NetError::CONNECTION_CLOSED;
        finish(r, app, info.socket_id, failed);
    });
}

/// Closes connection `id` once (later calls for the same id do nothing), counting an error if
/// `failed`, and stops the server after `--max-connections` connections are closed.
fn finish(r: &mut Reactor<App>, app: &mut App, id: TcpSocketId, failed: bool) {
    let http = app.http.as_mut().expect("http mode");
    let Some(conn) = http.conns.remove(&id) else {
        return;
    };
    match conn {
        Conn::Lingering(timer) => _ = r.clear_timeout(timer),
        Conn::Reading(_) => http.unanswered += 1,
    }
    http.closed += 1;
    http.errors += u64::from(failed);
    // The id is open (it was in `conns`), so close cannot fail.
    r.tcp().close(id, |_, _, _| {});
    if app.max_connections.is_some_and(|max| http.closed >= max) {
        r.stop();
    }
}
