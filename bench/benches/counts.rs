//! Syscalls and user-space instructions per accepted-and-closed connection, at 1 in flight.
//!
//! Each server runs alone in a child process (this bench binary again, with
//! `CS_BENCH_SERVE=<server>`), counted by `perf stat` on the `raw_syscalls:sys_enter`
//! tracepoint (else `strace -f -c`, which slows every syscall down) for syscalls, and by
//! `perf stat -e instructions:u` (else `valgrind --tool=callgrind`) for user-space
//! instructions. The parent drives connections one at a time (connect, read to EOF, close with
//! RST, then a pause long enough for the server to go back to its poll), first `base` of them,
//! then in a second child `base + n`; the difference of the two totals divided by `n` is the
//! cost per connection, so start-up and shut-down cancel out. Both counts are deterministic
//! enough to decide on while wall-clock figures are noise (a shared, loaded machine). A
//! missing tool gives one line saying so.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The environment variable that turns this binary into one server's child process.
const SERVE: &str = "CS_BENCH_SERVE";

/// A way of counting one figure for a whole child process.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Tool {
    /// `perf stat -e raw_syscalls:sys_enter`: every syscall of every thread.
    PerfSyscalls,
    /// `strace -f -c`: every syscall of every thread.
    Strace,
    /// `perf stat -e instructions:u`.
    PerfInstructions,
    /// `valgrind --tool=callgrind`: user-space instructions of every thread.
    Callgrind,
}

impl Tool {
    /// The perf event this tool counts, if it is perf.
    fn perf_event(self) -> Option<&'static str> {
        match self {
            Tool::PerfSyscalls => Some("raw_syscalls:sys_enter"),
            Tool::PerfInstructions => Some("instructions:u"),
            Tool::Strace | Tool::Callgrind => None,
        }
    }

    fn works(self) -> bool {
        let probe = match (self, self.perf_event()) {
            (_, Some(event)) => Command::new("perf")
                .args(["stat", "-x,", "-e", event, "true"])
                .output(),
            (Tool::Strace, _) => Command::new("strace")
                .args(["-c", "-o", "/dev/null", "true"])
                .output(),
            _ => Command::new("valgrind").arg("--version").output(),
        };
        match probe {
            Ok(out) if out.status.success() => {
                // perf prints "<not supported>" and still succeeds where counters are missing.
                let err = String::from_utf8_lossy(&out.stderr);
                self.perf_event().is_none()
                    || !(err.contains("not supported") || err.contains("not counted"))
            }
            _ => false,
        }
    }

    /// The command that runs `exe` counted, writing its count to `out`.
    fn command(self, exe: &PathBuf, out: &PathBuf) -> Command {
        let mut c = match (self, self.perf_event()) {
            (_, Some(event)) => {
                let mut c = Command::new("perf");
                c.args(["stat", "-x,", "-e", event, "-o"])
                    .arg(out)
                    .arg("--");
                c
            }
            (Tool::Strace, _) => {
                let mut c = Command::new("strace");
                c.args(["-f", "-c", "-o"]).arg(out).arg("--");
                c
            }
            _ => {
                let mut c = Command::new("valgrind");
                c.args(["--tool=callgrind", "-q"])
                    .arg(format!("--callgrind-out-file={}", out.display()));
                c
            }
        };
        c.arg(exe);
        c
    }

    /// How long the driver waits after each connection: long enough for the server to finish
    /// it and block in its poll again, even slowed down by the tool, so that every connection
    /// is a wake-up of its own and the count does not depend on timing.
    fn pause(self) -> Duration {
        match self {
            Tool::PerfSyscalls | Tool::PerfInstructions => Duration::from_millis(1),
            Tool::Strace => Duration::from_millis(3),
            Tool::Callgrind => Duration::from_millis(5),
        }
    }

    /// The total the tool wrote to `out`.
    fn total(self, out: &str) -> Option<f64> {
        match self {
            // "145,,raw_syscalls:sys_enter,1260311,100.00,,": the count is field 1.
            Tool::PerfSyscalls | Tool::PerfInstructions => out
                .lines()
                .find(|l| l.contains(self.perf_event().unwrap_or("?")))
                .and_then(|l| l.split(',').next()?.trim().parse().ok()),
            // "100.00    0.001234          12       345        6 total": calls is field 4.
            Tool::Strace => out
                .lines()
                .find(|l| l.split_whitespace().any(|w| w.starts_with("total")))
                .and_then(|l| l.split_whitespace().nth(3)?.parse().ok()),
            Tool::Callgrind => out
                .lines()
                .find_map(|l| {
                    l.strip_prefix("totals:")
                        .or_else(|| l.strip_prefix("summary:"))
                })
                .and_then(|v| v.split_whitespace().next()?.parse().ok()),
        }
    }
}

/// In a child started by [`report`]: runs `serve(name)` until stdin closes, printing
/// `LISTENING <addr>` first. Returns false when this process is not such a child.
pub fn serve_if_child(serve: impl FnOnce(&str) -> Option<Box<dyn FnOnce() + Send>>) -> bool {
    let Ok(name) = std::env::var(SERVE) else {
        return false;
    };
    let Some(run) = serve(&name) else {
        eprintln!("{SERVE}={name}: no such server");
        std::process::exit(2);
    };
    run();
    true
}

/// `CS_BENCH_COUNTS=only`: skip the throughput matrix, count only.
pub fn only() -> bool {
    std::env::var("CS_BENCH_COUNTS").is_ok_and(|v| v == "only")
}

/// Prints `LISTENING <addr>` for the parent, then waits until the parent closes stdin.
pub fn announce_and_wait(addr: SocketAddr) {
    println!("LISTENING {addr}");
    io::stdout().flush().expect("stdout");
    let mut sink = Vec::new();
    let _ = io::stdin().read_to_end(&mut sink);
}

/// Runs `name`'s child under `tool`, drives `conns` connections through it, returns the total.
fn one_run(tool: Tool, name: &str, conns: usize) -> io::Result<f64> {
    let exe = std::env::current_exe()?;
    let out = std::env::temp_dir().join(format!(
        "cs-accept-counts-{}-{name}-{conns}",
        std::process::id()
    ));
    let mut child: Child = tool
        .command(&exe, &out)
        .env(SERVE, name)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let result = drive_child(&mut child, conns, tool.pause());
    drop(child.stdin.take());
    child.wait()?;
    result?;
    let text = std::fs::read_to_string(&out)?;
    let _ = std::fs::remove_file(&out);
    tool.total(&text).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::Other,
            format!("no total in the output of {name}"),
        )
    })
}

fn drive_child(child: &mut Child, conns: usize, pause: Duration) -> io::Result<()> {
    let stdout = child.stdout.take().expect("piped");
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let addr: SocketAddr = line
        .trim()
        .strip_prefix("LISTENING ")
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::Other, format!("child said {line:?}")))?;
    let mut buf = [0u8; 64];
    for _ in 0..conns {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(30))?;
        s.set_read_timeout(Some(Duration::from_secs(30)))?;
        socket2::SockRef::from(&s).set_linger(Some(Duration::ZERO))?;
        while s.read(&mut buf)? > 0 {}
        drop(s);
        std::thread::sleep(pause);
    }
    Ok(())
}

/// Per-connection cost of `name` under `tool`: the difference of a run with `base + n`
/// connections and one with `base`, over `n`.
fn per_conn(tool: Tool, name: &str, base: usize, n: usize) -> io::Result<f64> {
    let small = one_run(tool, name, base)?;
    let large = one_run(tool, name, base + n)?;
    Ok((large - small) / n as f64)
}

/// Measures and prints syscalls and instructions per connection for every server in `names`.
/// Returns the figures (NaN where not measured) in the order of `names`.
pub fn report(names: &[&str], quick: bool) -> Vec<(f64, f64)> {
    let mut figures = vec![(f64::NAN, f64::NAN); names.len()];
    let on = match std::env::var("CS_BENCH_COUNTS").ok().as_deref() {
        Some("0") => false,
        Some(_) => true,
        None => !quick,
    };
    println!();
    if !on {
        println!(
            "Syscalls and instructions per connection: skipped (quick run; CS_BENCH_COUNTS=1 \
             turns them on)."
        );
        return figures;
    }
    let sys_tool = [Tool::PerfSyscalls, Tool::Strace]
        .into_iter()
        .find(|t| t.works());
    let ins_tool = [Tool::PerfInstructions, Tool::Callgrind]
        .into_iter()
        .find(|t| t.works());
    let (base, n) = if quick { (20, 100) } else { (50, 500) };
    for (i, name) in names.iter().enumerate() {
        if let Some(t) = sys_tool {
            match per_conn(t, name, base, n) {
                Ok(v) => figures[i].0 = v,
                Err(e) => eprintln!("accept_throughput: counting syscalls of {name}: {e}"),
            }
        }
        if let Some(t) = ins_tool {
            match per_conn(t, name, base, n) {
                Ok(v) => figures[i].1 = v,
                Err(e) => eprintln!("accept_throughput: counting instructions of {name}: {e}"),
            }
        }
    }
    let sys_how = match sys_tool {
        Some(Tool::PerfSyscalls) => "`perf stat -e raw_syscalls:sys_enter`",
        Some(_) => "`strace -f -c` (no perf with syscall tracepoints here)",
        None => "not counted: neither perf with syscall tracepoints nor strace is installed",
    };
    let ins_how = match ins_tool {
        Some(Tool::PerfInstructions) => "`perf stat -e instructions:u`",
        Some(_) => "`valgrind --tool=callgrind` (perf has no instruction counter here)",
        None => "not counted: neither perf with instructions:u nor valgrind is available",
    };
    println!(
        "Per accepted-and-closed connection at 1 in flight, each server alone in a child \
         process, ({base}+{n} minus {base} connections)/{n}. Syscalls: {sys_how}. User-space \
         instructions: {ins_how}."
    );
    println!();
    println!("| server | syscalls/conn | vs mio | instructions/conn | vs mio |");
    println!("|---|---:|---:|---:|---:|");
    let (mio_sys, mio_ins) = figures[0];
    for (name, (sys, ins)) in names.iter().zip(&figures) {
        println!(
            "| {name} | {sys:.2} | {:+.2} | {ins:.0} | {:.2}x |",
            sys - mio_sys,
            ins / mio_ins
        );
    }
    figures
}
