//! Load generators people already use (`ab`, `wrk`, `hey`) against three minimal HTTP/1.0
//! servers, in one run:
//!
//! - `lib`: the library, as `examples/accept_close.rs --reply http` (built by this bench);
//! - `mio`: a hand-written mio loop doing the same (the floor);
//! - `tokio`: tokio's current-thread runtime, a task per connection, doing the same.
//!
//! Every server reads a request up to its blank line, answers `HTTP/1.0 200 OK` with a
//! two-byte body and `Connection: close`, half-closes, and closes once the client's FIN is read
//! (a lingering close: no client sees a reset). Each runs as a process of its own (this bench
//! binary again, with `CS_LG_SERVE=mio|tokio`, or the example) on 127.0.0.1, one at a time, so
//! the load generator and the server share the machine's two cores as they would in a user's
//! run. Each tool runs against each server in turn:
//!
//! ```text
//! ab -n N -c 16 http://127.0.0.1:PORT/            (N: 100000; --quick 5000)
//! wrk -t1 -c 64 -d Ss -H "Connection: close" http://127.0.0.1:PORT/   (S: 10; --quick 2)
//! hey -n N -c 16 http://127.0.0.1:PORT/          (N: 50000; --quick 5000)
//! ```
//!
//! The table quotes each tool's own figures (requests/s; failed requests, socket errors and
//! non-2xx responses as the tool counts them) and adds the server process's CPU time per
//! request (utime + stime from `/proc/<pid>/stat`, over the tool's run). A tool that is not
//! installed gives one line saying so (`apt-get install apache2-utils wrk hey`). The last line
//! is for machines: `load_generators ab_failed=F wrk_errors=E hey_errors=H` for `lib`.
//!
//! ```text
//! cargo bench --bench load_generators             # about 2 min
//! cargo bench --bench load_generators -- --quick  # about 20 s
//! ```

use std::collections::HashMap;
use std::io::{self, BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Instant;

mod common;

/// The environment variable that turns this binary into one server's process.
const SERVE: &str = "CS_LG_SERVE";

/// Every server's whole response.
const RESPONSE: &[u8] =
    b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";

fn main() {
    if let Ok(server) = std::env::var(SERVE) {
        let served = match server.as_str() {
            "mio" => serve_mio(),
            "tokio" => serve_tokio(),
            other => panic!("{SERVE}={other}: no such server"),
        };
        if let Err(e) = served {
            eprintln!("{server}: {e}");
            std::process::exit(1);
        }
        return;
    }
    let quick =
        std::env::args().any(|a| a == "--quick") || std::env::var_os("CS_BENCH_QUICK").is_some();
    let (ab_n, wrk_s, hey_n) = if quick {
        (5_000, 2, 5_000)
    } else {
        (100_000, 10, 50_000)
    };

    if let Err(e) = build_example() {
        println!("load_generators: cannot build examples/accept_close: {e}");
        return;
    }
    let servers: [(&str, ServerCommand); 3] = [
        ("lib", || {
            let mut c = Command::new(example_path());
            c.args(["--reply", "http", "--port", "0"]);
            c
        }),
        ("mio", || self_as("mio")),
        ("tokio", || self_as("tokio")),
    ];

    let tools = [
        Tool::new("ab", &["-V"]),
        Tool::new("wrk", &["--version"]),
        Tool::new("hey", &["-h"]),
    ];
    for tool in &tools {
        if !tool.installed {
            println!(
                "{}: not installed (apt-get install apache2-utils wrk hey); skipped",
                tool.name
            );
        }
    }
    println!();
    println!("| tool | server | requests | requests/s | failed | server CPU µs/req |");
    println!("|---|---|---:|---:|---:|---:|");
    let mut lib_failed: HashMap<&str, u64> = HashMap::new();
    for tool in tools.iter().filter(|t| t.installed) {
        for (name, command) in &servers {
            let server = match Server::start(command()) {
                Ok(s) => s,
                Err(e) => {
                    println!(
                        "| {} | {name} | - | - | - | server did not start: {e} |",
                        tool.name
                    );
                    continue;
                }
            };
            let url = format!("http://{}/", server.addr);
            let cpu_before = server.cpu_seconds();
            let run = match tool.name {
                "ab" => run_ab(&url, ab_n),
                "wrk" => run_wrk(&url, wrk_s),
                _ => run_hey(&url, hey_n),
            };
            let cpu = server.cpu_seconds() - cpu_before;
            server.stop();
            match run {
                Ok(r) => {
                    let cpu_us = if r.requests > 0 {
                        cpu * 1e6 / r.requests as f64
                    } else {
                        f64::NAN
                    };
                    println!(
                        "| {} | {name} | {} | {:.0} | {} | {:.1} |",
                        tool.name, r.requests, r.per_second, r.failed, cpu_us
                    );
                    if *name == "lib" {
                        lib_failed.insert(tool.name, r.failed);
                    }
                }
                Err(e) => println!("| {} | {name} | - | - | - | {e} |", tool.name),
            }
        }
    }
    let field = |t: &str| lib_failed.get(t).map_or("-".to_owned(), |f| f.to_string());
    println!();
    println!(
        "load_generators ab_failed={} wrk_errors={} hey_errors={}",
        field("ab"),
        field("wrk"),
        field("hey")
    );
}

/// How to start one server's process.
type ServerCommand = fn() -> Command;

/// One load generator and whether it runs here.
struct Tool {
    name: &'static str,
    installed: bool,
}

impl Tool {
    fn new(name: &'static str, probe: &[&str]) -> Tool {
        let installed = Command::new(name)
            .args(probe)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok();
        Tool { name, installed }
    }
}

/// What a tool reported, in its own words.
struct Run {
    requests: u64,
    per_second: f64,
    /// ab: "Failed requests" + "Non-2xx responses"; wrk: socket errors + non-2xx; hey: every
    /// response that was not a 200 plus every error it lists.
    failed: u64,
}

/// The first number after `label` on the line that contains it.
fn number_after(text: &str, label: &str) -> Option<f64> {
    let line = text.lines().find(|l| l.contains(label))?;
    let rest = &line[line.find(label)? + label.len()..];
    rest.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .find(|t| !t.is_empty())?
        .parse()
        .ok()
}

fn output(command: &mut Command) -> Result<String, String> {
    let out = command.output().map_err(|e| e.to_string())?;
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!(
            "exit {}: {}",
            out.status,
            text.lines().last().unwrap_or("")
        ));
    }
    Ok(text)
}

fn run_ab(url: &str, n: u64) -> Result<Run, String> {
    let text = output(Command::new("ab").args(["-q", "-n", &n.to_string(), "-c", "16", url]))?;
    Ok(Run {
        requests: number_after(&text, "Complete requests:").ok_or("no Complete requests")? as u64,
        per_second: number_after(&text, "Requests per second:").ok_or("no Requests per second")?,
        failed: number_after(&text, "Failed requests:").ok_or("no Failed requests")? as u64
            + number_after(&text, "Non-2xx responses:").unwrap_or(0.0) as u64,
    })
}

fn run_wrk(url: &str, seconds: u64) -> Result<Run, String> {
    let d = format!("{seconds}s");
    let text = output(Command::new("wrk").args([
        "-t1",
        "-c64",
        "-d",
        &d,
        "-H",
        "Connection: close",
        url,
    ]))?;
    // "Socket errors: connect 0, read 0, write 0, timeout 0" appears only when there are some.
    let socket_errors: u64 = text
        .lines()
        .find(|l| l.contains("Socket errors:"))
        .map(|l| {
            l.split(|c: char| !c.is_ascii_digit())
                .filter_map(|t| t.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    // "  6966 requests in 3.05s, 578.23KB read"
    let requests = text
        .lines()
        .find(|l| l.contains("requests in"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|t| t.parse::<u64>().ok())
        .ok_or("no requests line")?;
    Ok(Run {
        requests,
        per_second: number_after(&text, "Requests/sec:").ok_or("no Requests/sec")?,
        failed: socket_errors
            + number_after(&text, "Non-2xx or 3xx responses:").unwrap_or(0.0) as u64,
    })
}

fn run_hey(url: &str, n: u64) -> Result<Run, String> {
    let text = output(Command::new("hey").args(["-n", &n.to_string(), "-c", "16", url]))?;
    // "Status code distribution:" then lines "  [200]\t4992 responses"; "Error distribution:"
    // then lines "  [12]\tGet ...: connection reset by peer".
    let (mut ok, mut other) = (0u64, 0u64);
    let mut in_errors = false;
    for line in text.lines() {
        let t = line.trim();
        if t.starts_with("Error distribution") {
            in_errors = true;
        }
        if let Some(rest) = t.strip_prefix('[') {
            let (code, tail) = rest.split_once(']').unwrap_or(("", ""));
            let count: u64 = tail
                .split_whitespace()
                .next()
                .and_then(|c| c.parse().ok())
                .unwrap_or(0);
            if in_errors {
                other += code.parse::<u64>().unwrap_or(0);
            } else if code == "200" {
                ok += count;
            } else if code.parse::<u16>().is_ok() {
                other += count;
            }
        }
    }
    Ok(Run {
        requests: ok + other,
        per_second: number_after(&text, "Requests/sec:").ok_or("no Requests/sec")?,
        failed: other,
    })
}

/// A server process and the address it listens on (its first stdout line, `listening on
/// <addr>`).
struct Server {
    child: Child,
    addr: SocketAddr,
}

impl Server {
    fn start(mut command: Command) -> io::Result<Server> {
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()?;
        let mut first = String::new();
        BufReader::new(child.stdout.take().expect("piped")).read_line(&mut first)?;
        let addr = first
            .trim()
            .strip_prefix("listening on ")
            .and_then(|a| a.parse().ok())
            .ok_or_else(|| {
                io::Error::new(
                    ErrorKind::InvalidData,
                    format!("unexpected first line {first:?}"),
                )
            })?;
        Ok(Server { child, addr })
    }

    /// The process's user + system CPU time so far, in seconds.
    fn cpu_seconds(&self) -> f64 {
        let stat =
            std::fs::read_to_string(format!("/proc/{}/stat", self.child.id())).unwrap_or_default();
        // Fields after the ")" that ends the command name: utime and stime are fields 14 and 15.
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after.split_whitespace().collect();
        let ticks: f64 = [11, 12]
            .iter()
            .filter_map(|&i| fields.get(i)?.parse::<f64>().ok())
            .sum();
        // /proc reports times in USER_HZ, which Linux fixes at 100 a second for user space.
        ticks / 100.0
    }

    fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// This bench binary again, as the server `name`.
fn self_as(name: &str) -> Command {
    let mut c = Command::new(std::env::current_exe().expect("current exe"));
    c.env(SERVE, name);
    c
}

/// `target/release/examples/accept_close`, next to this bench's `target/release/deps/`.
fn example_path() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("target/release/deps")
        .join("examples/accept_close")
}

/// Builds `examples/accept_close` in release (what `cargo bench` builds is the bench alone).
fn build_example() -> Result<(), String> {
    let started = Instant::now();
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let status = Command::new(cargo)
        .args([
            "build",
            "--release",
            "--quiet",
            "-p",
            "chrome-sockets",
            "--example",
            "accept_close",
        ])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .status()
        .map_err(|e| e.to_string())?;
    if !status.success() {
        return Err(format!("cargo build exited with {status}"));
    }
    eprintln!(
        "built examples/accept_close in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Prints `listening on <addr>` and flushes.
fn announce(addr: SocketAddr) -> io::Result<()> {
    let mut out = io::stdout().lock();
    writeln!(out, "listening on {addr}")?;
    out.flush()
}

/// Whether `head` holds a whole request head.
fn head_complete(head: &[u8]) -> bool {
    head.windows(4).any(|w| w == b"\r\n\r\n")
}

/// The mio floor: one thread, a slab of connections, each read to its blank line, answered,
/// half-closed and read to EOF.
fn serve_mio() -> io::Result<()> {
    use mio::net::{TcpListener, TcpStream};
    use mio::{Events, Interest, Poll, Token};

    /// A connection: its stream, the request head so far, and whether it was answered.
    struct Conn {
        stream: TcpStream,
        head: Vec<u8>,
        answered: bool,
    }
    const LISTENER: Token = Token(usize::MAX);
    let mut poll = Poll::new()?;
    let mut listener = TcpListener::bind("127.0.0.1:0".parse().expect("address"))?;
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    announce(listener.local_addr()?)?;
    let mut conns: slab::Slab<Conn> = slab::Slab::new();
    let mut events = Events::with_capacity(1024);
    let mut buf = [0u8; 4096];
    loop {
        poll.poll(&mut events, None)?;
        for event in &events {
            if event.token() == LISTENER {
                loop {
                    match listener.accept() {
                        Ok((stream, _)) => {
                            common::register_in_slab(
                                poll.registry(),
                                &mut conns,
                                stream,
                                |stream| Conn {
                                    stream,
                                    head: Vec::new(),
                                    answered: false,
                                },
                            )?;
                        }
                        Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                        Err(_) => continue,
                    }
                }
                continue;
            }
            let key = event.token().0;
            let Some(conn) = conns.get_mut(key) else {
                continue;
            };
            let done = loop {
                match conn.stream.read(&mut buf) {
                    Ok(0) => break true,
                    Ok(n) if !conn.answered => {
                        conn.head.extend_from_slice(&buf[..n]);
                        if head_complete(&conn.head) {
                            conn.answered = true;
                            // 88 bytes into an empty socket buffer: one write suffices.
                            let answered = conn.stream.write(RESPONSE).map(|w| w == RESPONSE.len());
                            if !matches!(answered, Ok(true))
                                || conn.stream.shutdown(Shutdown::Write).is_err()
                            {
                                break true;
                            }
                        }
                    }
                    Ok(_) => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break false,
                    Err(_) => break true,
                }
            };
            if done {
                let mut conn = conns.remove(key);
                let _ = poll.registry().deregister(&mut conn.stream);
            }
        }
    }
}

/// tokio's current-thread runtime, a task per connection.
fn serve_tokio() -> io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        announce(listener.local_addr()?)?;
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                continue;
            };
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 4096];
                loop {
                    match stream.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                    if head_complete(&head) {
                        break;
                    }
                }
                if stream.write_all(RESPONSE).await.is_err() || stream.shutdown().await.is_err() {
                    return;
                }
                while let Ok(n) = stream.read(&mut buf).await {
                    if n == 0 {
                        return;
                    }
                }
            });
        }
    })
}
