//! What the examples share: one small command-line parser (`--help`, errors that name the
//! flag and the value, exit status 2 for a bad command line), listening with errors that name
//! the address, and a summary on SIGINT/SIGTERM.
//!
//! Each example uses a part of it.
#![allow(dead_code)]

use std::cell::Cell;
use std::ffi::OsString;
use std::io::Write;
use std::net::{IpAddr, SocketAddr};
use std::process::{exit, ExitCode};
use std::rc::Rc;
use std::str::FromStr;
use std::time::Duration;

use chrome_sockets::tcp_server::SocketProperties;
use chrome_sockets::{Reactor, ReactorBuilder, ServerSocketId};

/// The command line of one example, read flag by flag. Every error prints one line,
/// `<example>: <what>`, on stderr and exits with status 2; `--help` (or `-h`) prints the
/// usage on stdout and exits with status 0.
pub struct Cli {
    name: &'static str,
    usage: String,
    args: std::vec::IntoIter<OsString>,
}

impl Cli {
    /// The process's arguments (after the program name).
    pub fn new(name: &'static str, usage: impl Into<String>) -> Cli {
        let args: Vec<OsString> = std::env::args_os().skip(1).collect();
        Cli {
            name,
            usage: usage.into(),
            args: args.into_iter(),
        }
    }

    /// Prints `<example>: <message>` and exits with status 2.
    pub fn fail(&self, message: impl std::fmt::Display) -> ! {
        eprintln!("{}: {message} (see --help)", self.name);
        exit(2)
    }

    /// The next argument as text (`--help` handled here), or `None` at the end.
    pub fn next_arg(&mut self) -> Option<String> {
        let arg = self.args.next()?;
        let Some(arg) = arg.to_str() else {
            self.fail(format!("argument {arg:?} is not UTF-8"));
        };
        if arg == "--help" || arg == "-h" {
            print!("{}", self.usage);
            let _ = std::io::stdout().flush();
            exit(0);
        }
        Some(arg.to_owned())
    }

    /// The next flag, or `None` at the end; anything not starting with `--` is refused.
    pub fn next_flag(&mut self) -> Option<String> {
        let arg = self.next_arg()?;
        if !arg.starts_with("--") {
            self.fail(format!("unexpected argument {arg:?}"));
        }
        Some(arg)
    }

    /// Refuses a flag the example does not know.
    pub fn unknown(&self, flag: &str) -> ! {
        self.fail(format!("unknown flag {flag}"))
    }

    /// The value after `flag`, as text.
    pub fn text(&mut self, flag: &str) -> String {
        match self.next_arg() {
            Some(value) => value,
            None => self.fail(format!("{flag} needs a value")),
        }
    }

    /// The value after `flag`, parsed; `what` names the kind of value in the error.
    pub fn value<T: FromStr>(&mut self, flag: &str, what: &str) -> T {
        let text = self.text(flag);
        match text.parse() {
            Ok(value) => value,
            Err(_) => self.fail(format!("{flag} {text}: not {what}")),
        }
    }

    /// A port, 0 to 65535 (0: any free port).
    pub fn port(&mut self, flag: &str) -> i32 {
        let text = self.text(flag);
        match text.parse::<u16>() {
            Ok(port) => i32::from(port),
            Err(_) => self.fail(format!("{flag} {text}: not a port (0 to 65535)")),
        }
    }

    /// An IP literal (brackets around an IPv6 address are accepted); host names are refused,
    /// since a server listens on one of its own addresses.
    pub fn address(&mut self, flag: &str) -> String {
        let text = self.text(flag);
        let bare = text
            .strip_prefix('[')
            .and_then(|t| t.strip_suffix(']'))
            .unwrap_or(&text);
        match bare.parse::<IpAddr>() {
            Ok(ip) => ip.to_string(),
            Err(_) if !bare.contains(':') && bare.chars().any(|c| c.is_ascii_alphabetic()) => self
                .fail(format!(
                    "{flag} {text}: a host name; give an IP address such as 127.0.0.1 or ::"
                )),
            Err(_) => self.fail(format!("{flag} {text}: not an IP address")),
        }
    }

    /// A number of seconds: finite and not negative.
    pub fn seconds(&mut self, flag: &str) -> f64 {
        let seconds: f64 = self.value(flag, "a number of seconds");
        if !(seconds.is_finite() && seconds >= 0.0) {
            self.fail(format!(
                "{flag} {seconds}: not a number of seconds (0 or more)"
            ));
        }
        seconds
    }

    /// A count: a whole number, 0 or more.
    pub fn count(&mut self, flag: &str) -> u64 {
        self.value(flag, "a whole number (0 or more)")
    }
}

/// `address:port`, with IPv6 addresses in brackets (`[::]:8080`).
pub fn endpoint(address: &str, port: u16) -> String {
    match address.parse::<IpAddr>() {
        Ok(ip) => SocketAddr::new(ip, port).to_string(),
        Err(_) => format!("{address}:{port}"),
    }
}

/// Creates a server and listens on `address`:`port`. Once listening, prints the first line
/// every example server documents, `listening on <address>:<port>` (the real port when
/// `port` is 0), then calls `ready`. If listening fails, prints `<example>: listen on
/// <address>:<port> failed: <lastError>` on stderr and calls `failed`.
pub fn listen<S: 'static>(
    r: &mut Reactor<S>,
    name: &'static str,
    address: String,
    port: i32,
    ready: impl FnOnce(&mut Reactor<S>, &mut S, ServerSocketId) + 'static,
    failed: impl FnOnce(&mut Reactor<S>, &mut S) + 'static,
) {
    r.tcp_server()
        .create(SocketProperties::default(), move |r, state, created| {
            let id = match created {
                Ok(created) => created.socket_id,
                Err(e) => {
                    eprintln!("{name}: creating the server failed: {e}");
                    return failed(r, state);
                }
            };
            let target = address.clone();
            r.tcp_server()
                .listen(id, &target, port, None, move |r, state, result| {
                    if let Err(e) = result {
                        let at = endpoint(&address, port as u16);
                        eprintln!("{name}: listen on {at} failed: {e}");
                        return failed(r, state);
                    }
                    r.tcp_server().get_info(id, move |r, state, info| {
                        let (address, port) = match info {
                            Ok(info) => (
                                info.local_address.unwrap_or_default(),
                                info.local_port.unwrap_or_default(),
                            ),
                            Err(_) => (address, port as u16),
                        };
                        let mut out = std::io::stdout().lock();
                        let _ = writeln!(out, "listening on {}", endpoint(&address, port));
                        let _ = out.flush();
                        drop(out);
                        ready(r, state, id);
                    });
                });
        });
}

/// Makes SIGINT and SIGTERM stop the reactor (the example then prints its summary as after
/// `--seconds`), with [`Reactor::stop_on_signals`]: no timer and no thread, so an idle
/// server waits in the poll with no timeout. A failure is printed and the example runs on
/// (it then stops only by `--seconds` or its other limits, or dies on the signal).
pub fn stop_on_signals<S: 'static>(r: &mut Reactor<S>, name: &'static str) {
    if let Err(e) = r.stop_on_signals(&[libc::SIGINT, libc::SIGTERM]) {
        eprintln!("{name}: cannot stop on SIGINT/SIGTERM: {e}");
    }
}

/// Builds the reactor; on failure prints `<example>: creating the reactor: <error>`.
pub fn reactor<S: 'static>(name: &str, builder: ReactorBuilder) -> Result<Reactor<S>, ExitCode> {
    builder.build().map_err(|e| {
        eprintln!("{name}: creating the reactor: {e}");
        ExitCode::FAILURE
    })
}

/// Runs an example server: listens (see [`listen`]), calls `ready` once listening, and turns
/// the reactor until something calls `stop`, `seconds` pass (counted from the moment it
/// listens, so even 0 prints the first line), or SIGINT/SIGTERM arrives. `Err` (exit status
/// 1, the error already printed) when listening or the reactor failed; then the example
/// prints no summary.
pub fn serve<S: 'static>(
    r: &mut Reactor<S>,
    state: &mut S,
    name: &'static str,
    (address, port): (String, i32),
    seconds: Option<f64>,
    ready: impl FnOnce(&mut Reactor<S>, &mut S, ServerSocketId) + 'static,
) -> Result<(), ExitCode> {
    stop_on_signals(r, name);
    let failed = Rc::new(Cell::new(false));
    let failure = failed.clone();
    let on_ready = move |r: &mut Reactor<S>, state: &mut S, id| {
        if let Some(seconds) = seconds {
            r.set_timeout(Duration::from_secs_f64(seconds), |r, _| r.stop());
        }
        ready(r, state, id);
    };
    let on_failure = move |r: &mut Reactor<S>, _: &mut S| {
        failure.set(true);
        r.stop();
    };
    listen(r, name, address, port, on_ready, on_failure);
    if let Err(e) = r.run(state) {
        eprintln!("{name}: {e}");
        return Err(ExitCode::FAILURE);
    }
    if failed.get() {
        return Err(ExitCode::FAILURE);
    }
    Ok(())
}
