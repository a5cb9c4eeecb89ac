//! The examples do what their docs and the README promise: run as processes, talked to over
//! loopback, each bounded by its own `--seconds` and by a kill on timeout.
//!
//! `cargo test` builds every example before it runs any test; run the whole suite (not
//! `--test examples` alone) so the binaries exist.

use std::io::{BufRead, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;
use std::time::Duration;

#[path = "util/example_runner.rs"]
#[macro_use]
mod runner;
use runner::{run_to_end, run_within, Running, PATIENCE};

/// What the examples of this crate (not those of `hosts/`) print as they start.
impl Running {
    fn line(&mut self) -> String {
        let mut line = String::new();
        self.stdout.read_line(&mut line).expect("reading stdout");
        line.trim_end().to_string()
    }

    /// Parses the first line, `listening on <address>:<port>`.
    fn listening(&mut self) -> SocketAddr {
        let line = self.line();
        let rest = line
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("first line is {line:?}"));
        let (ip, port) = rest.rsplit_once(':').expect("address:port");
        SocketAddr::new(ip.parse().expect("ip"), port.parse().expect("port"))
    }
}

fn client(addr: SocketAddr) -> TcpStream {
    let s = TcpStream::connect_timeout(&addr, PATIENCE).expect("connect");
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s
}

#[test]
fn accept_close_closes_every_connection_and_counts_them() {
    let mut server = Running::start(
        "accept_close",
        &["--port", "0", "--max-connections", "25", "--seconds", "15"],
    );
    let addr = server.listening();
    assert_eq!(addr.ip().to_string(), "127.0.0.1");
    for _ in 0..25 {
        let mut c = client(addr);
        let mut buf = [0u8; 1];
        assert_eq!(c.read(&mut buf).expect("EOF, not an error"), 0);
    }
    let (ok, rest) = server.finish();
    assert!(ok);
    assert_eq!(rest.trim(), "accepted 25");
}

#[test]
fn accept_close_reply_http_answers_each_request_and_closes_after_the_client_fin() {
    let mut server = Running::start(
        "accept_close",
        &[
            "--port",
            "0",
            "--reply",
            "http",
            "--max-connections",
            "4",
            "--seconds",
            "15",
        ],
    );
    let addr = server.listening();
    let response = "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\
                    Connection: close\r\n\r\nok";
    // A request in one write, one in pieces, and one followed by bytes sent after it: each
    // gets the whole response then EOF (never a reset), and the client closes.
    for pieces in [
        &[&b"GET / HTTP/1.0\r\n\r\n"[..]][..],
        &[b"GET / HT", b"TP/1.0\r\nHost: x\r", b"\n\r\n"],
        &[
            b"GET / HTTP/1.0\r\n\r\n",
            b"trailing bytes the server reads and drops",
        ],
    ] {
        let mut c = client(addr);
        for piece in pieces {
            c.write_all(piece).unwrap();
            std::thread::sleep(Duration::from_millis(20));
        }
        let mut got = String::new();
        c.read_to_string(&mut got).expect("the response, then EOF");
        assert_eq!(got, response);
    }
    // A client that connects and closes without a request is counted as unanswered.
    drop(client(addr));
    let (ok, rest) = server.finish();
    assert!(ok);
    assert_eq!(rest.trim(), "accepted 4 served 3 unanswered 1 errors 0");
}

#[test]
fn echo_server_echoes_every_byte_and_survives_a_reset_peer() {
    let mut server = Running::start("echo_server", &["--port", "0", "--seconds", "3"]);
    let addr = server.listening();

    // A peer that resets mid-stream must not take the server down.
    let rude = client(addr);
    (&rude).write_all(&[7u8; 100_000]).unwrap();
    socket2::SockRef::from(&rude)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(rude);

    // 1 MiB through, then half-close: every byte comes back, then EOF.
    let data: Vec<u8> = (0..1 << 20).map(|i| (i * 7 % 251) as u8).collect();
    let c = client(addr);
    let reader = {
        let c = c.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut got = Vec::new();
            (&c).read_to_end(&mut got).map(|_| got)
        })
    };
    (&c).write_all(&data).unwrap();
    c.shutdown(std::net::Shutdown::Write).unwrap();
    let got = reader.join().unwrap().expect("reading the echo");
    assert!(got == data, "echo differs: {} bytes back", got.len());

    let (ok, rest) = server.finish();
    assert!(ok);
    assert!(rest.starts_with("connections "), "{rest:?}");
}

#[test]
fn embed_poll_self_test_serves_the_reactor_and_its_own_pipe() {
    let server = Running::start("embed_poll", &["--self-test"]);
    let (ok, out) = server.finish();
    assert!(ok, "embed_poll --self-test failed: {out}");
    assert!(out.contains("15 byte(s) echoed"), "{out}");
    assert!(out.contains("client got its echo"), "{out}");
}

#[test]
fn remote_wake_ends_a_turn_blocked_without_timeout() {
    let server = Running::start("remote_wake", &[]);
    let (ok, out) = server.finish();
    assert!(ok);
    assert!(out.contains("turn(None) returned after"), "{out}");
}

/// The examples with the shared command line (`examples/common/`).
/// Every example: all share `examples/common`'s command line.
/// (`hosts/tests/embed.rs` checks the same of the `embed_<host>` examples of `hosts/`.)
const WITH_CLI: [&str; 7] = [
    "accept_close",
    "echo_server",
    "sharded_accept",
    "replay",
    "remote_wake",
    "embed_poll",
    "soak",
];

command_line_tests!(WITH_CLI);

#[test]
fn bad_values_name_the_flag_and_the_value() {
    let cases: [(&[&str], &str); 7] = [
        (&["--port", "70000"], "--port 70000: not a port"),
        (&["--port", "-1"], "--port -1: not a port"),
        (
            &["--address", "999.1.1.1"],
            "--address 999.1.1.1: not an IP address",
        ),
        (
            &["--address", "example.com"],
            "--address example.com: a host name",
        ),
        (
            &["--seconds", "soon"],
            "--seconds soon: not a number of seconds",
        ),
        (
            &["--seconds", "-1"],
            "--seconds -1: not a number of seconds",
        ),
        (&["--port"], "--port needs a value"),
    ];
    for name in ["accept_close", "echo_server"] {
        for (args, expected) in cases {
            let (code, out, err) = run_to_end(name, args);
            assert_eq!(code, Some(2), "{name} {args:?}: {err}");
            assert_eq!(out, "", "{name} {args:?}");
            assert!(err.contains(expected), "{name} {args:?}: {err}");
            assert_eq!(err.lines().count(), 1, "{name} {args:?}: {err}");
        }
    }
}

#[test]
fn a_busy_port_names_the_address_and_nothing_is_counted() {
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    for name in ["accept_close", "echo_server"] {
        let (code, out, err) = run_to_end(name, &["--port", &port, "--seconds", "5"]);
        assert_eq!(code, Some(1), "{name}: {err}");
        assert_eq!(
            out, "",
            "{name}: no `listening on`, no count after a failed listen"
        );
        let expected =
            format!("{name}: listen on 127.0.0.1:{port} failed: net::ERR_ADDRESS_IN_USE");
        assert_eq!(err.trim_end(), expected);
    }
}

#[test]
fn seconds_0_still_prints_the_first_line_and_the_summary() {
    let (code, out, err) = run_to_end("accept_close", &["--port", "0", "--seconds", "0"]);
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("listening on 127.0.0.1:"), "{out}");
    assert_eq!(lines[1..], ["accepted 0"]);
    let (code, out, err) = run_to_end("echo_server", &["--port", "0", "--seconds", "0"]);
    assert_eq!(code, Some(0), "{err}");
    let lines: Vec<&str> = out.lines().collect();
    assert!(lines[0].starts_with("listening on 127.0.0.1:"), "{out}");
    assert_eq!(lines[1..], ["connections 0 bytes 0"]);
}

#[test]
fn ipv6_addresses_print_in_brackets() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("no IPv6 loopback here: skipped");
        return;
    }
    for address in ["::1", "[::1]"] {
        let mut server = Running::start(
            "echo_server",
            &["--address", address, "--port", "0", "--seconds", "5"],
        );
        let line = server.line();
        assert!(line.starts_with("listening on [::1]:"), "{line}");
        let port: u16 = line.rsplit_once(':').unwrap().1.parse().unwrap();
        let c = client(SocketAddr::from((std::net::Ipv6Addr::LOCALHOST, port)));
        (&c).write_all(b"v6").unwrap();
        let mut buf = [0u8; 2];
        (&c).read_exact(&mut buf).unwrap();
        assert_eq!(&buf, b"v6");
    }
}

#[test]
fn sigint_and_sigterm_stop_with_the_summary_line() {
    for signal in ["INT", "TERM"] {
        for (name, summary) in [
            ("accept_close", "accepted 1"),
            ("echo_server", "connections 1 bytes 0"),
        ] {
            let mut server = Running::start(name, &["--port", "0"]);
            let addr = server.listening();
            let mut c = client(addr);
            if name == "accept_close" {
                let mut buf = [0u8; 1];
                assert_eq!(c.read(&mut buf).expect("EOF"), 0);
            } else {
                // A round trip proves the connection was accepted before the signal.
                c.write_all(b"").unwrap();
                std::thread::sleep(Duration::from_millis(200));
            }
            let status = Command::new("kill")
                .args([format!("-{signal}"), server.child.id().to_string()])
                .status()
                .expect("kill");
            assert!(status.success());
            let (ok, rest) = server.finish();
            assert!(ok, "{name} SIG{signal}");
            assert_eq!(rest.trim(), summary, "{name} SIG{signal}");
        }
    }
}

#[test]
fn sharded_accept_self_test_accepts_every_client_on_one_of_two_shards() {
    let (code, out, err) = run_to_end("sharded_accept", &["--threads", "2", "--self-test"]);
    assert_eq!(code, Some(0), "{out}{err}");
    let line = out.lines().nth(1).unwrap_or_default();
    // `sharded: 2 reactors, 1000 accepted (shard 0: A, shard 1: B)`
    let split = line
        .strip_prefix("sharded: 2 reactors, 1000 accepted (")
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{out}"));
    let counts: Vec<u64> = split
        .split(", ")
        .map(|part| part.rsplit_once(": ").unwrap().1.parse().unwrap())
        .collect();
    assert_eq!(counts.len(), 2, "{line}");
    assert_eq!(counts.iter().sum::<u64>(), 1000, "{line}");
    // 1,000 connections hashed to two listeners: both get some.
    assert!(counts.iter().all(|&c| c > 0), "{line}");
}

#[test]
fn sharded_accept_stops_every_shard_on_sigterm_with_the_count() {
    let mut server = Running::start("sharded_accept", &["--threads", "3", "--port", "0"]);
    let addr = server.listening();
    for _ in 0..30 {
        let mut c = client(addr);
        let mut buf = [0u8; 1];
        assert_eq!(c.read(&mut buf).expect("EOF"), 0);
    }
    let status = Command::new("kill")
        .args(["-TERM".to_string(), server.child.id().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    let (ok, rest) = server.finish();
    assert!(ok, "sharded_accept SIGTERM");
    assert!(rest.trim().starts_with("accepted 30 (shard 0: "), "{rest}");
}

/// Sends `len` bytes, half-closes, starts reading `delay` later; returns what came back.
fn half_closing_slow_client(addr: SocketAddr, len: usize, delay: Duration) -> (Vec<u8>, Vec<u8>) {
    let data: Vec<u8> = (0..len).map(|i| (i * 13 % 251) as u8).collect();
    let c = client(addr);
    let writer = {
        let c = c.try_clone().unwrap();
        let data = data.clone();
        std::thread::spawn(move || {
            (&c).write_all(&data).unwrap();
            c.shutdown(std::net::Shutdown::Write).unwrap();
        })
    };
    std::thread::sleep(delay);
    let mut got = Vec::new();
    (&c).read_to_end(&mut got).expect("reading the echo");
    writer.join().unwrap();
    (data, got)
}

#[test]
fn echo_server_gives_32_mib_back_to_a_half_closing_slow_reader() {
    let mut server = Running::start("echo_server", &["--port", "0", "--seconds", "15"]);
    let addr = server.listening();
    let (data, got) = half_closing_slow_client(addr, 32 << 20, Duration::from_millis(500));
    assert_eq!(got.len(), data.len());
    assert!(got == data, "echo differs");
    drop(server);
}

#[test]
fn replay_refuses_a_missing_file_and_a_raw_input_with_a_clear_message() {
    let (code, _, err) = run_to_end("replay", &["/no/such/sequence.txt"]);
    assert_eq!(code, Some(2));
    assert!(
        err.starts_with("replay: cannot read /no/such/sequence.txt"),
        "{err}"
    );
    let raw = std::env::temp_dir().join(format!("replay-raw-{}.bin", std::process::id()));
    std::fs::write(&raw, [0xff, 0xfe, 0x00, 0x80]).unwrap();
    let raw_path = raw.to_str().unwrap();
    let (code, _, err) = run_to_end("replay", &[raw_path]);
    assert_eq!(code, Some(2));
    assert!(
        err.contains("is not UTF-8 text; for a raw fuzz input use --from-bytes"),
        "{err}"
    );
    let (code, _, err) = run_to_end("replay", &["--print", raw_path]);
    std::fs::remove_file(&raw).unwrap();
    assert_eq!(code, Some(0), "{err}");
}

// ----- examples/soak.rs in quick mode: five seconds of the whole mix end with nothing lost,
// memory and fds flat, and the promised summary line ------------------------------------------

/// Checks a `soak:` summary line and returns how many times an id counter wrapped.
fn check_soak_line(stdout: &str) -> u64 {
    let last = stdout.lines().last().expect("a summary line");
    // soak: N connections, B bytes, 0 lost, ids wrapped K, rss first/last third X/Y KiB, fds X/Y
    let words: Vec<&str> = last.split_whitespace().collect();
    assert_eq!(words[0], "soak:", "{last}");
    assert!(words[1].parse::<u64>().unwrap() > 0, "{last}");
    assert_eq!(words[2], "connections,", "{last}");
    assert!(words[3].parse::<u64>().unwrap() > 0, "{last}");
    assert_eq!(
        &words[4..9],
        ["bytes,", "0", "lost,", "ids", "wrapped"],
        "{last}"
    );
    let wraps: u64 = words[9].strip_suffix(',').expect("K,").parse().unwrap();
    assert_eq!(&words[10..13], ["rss", "first/last", "third"], "{last}");
    let pair = |w: &str| -> (u64, u64) {
        let (a, b) = w.split_once('/').expect("X/Y");
        (a.parse().unwrap(), b.parse().unwrap())
    };
    let (rss0, rss1) = pair(words[13]);
    assert!(rss0 > 0 && rss1 > 0, "{last}");
    assert_eq!(words[14], "KiB,", "{last}");
    assert_eq!(words[15], "fds", "{last}");
    let (fds0, fds1) = pair(words[16]);
    assert!(fds0 > 0 && fds1 > 0, "{last}");
    assert_eq!(words.len(), 17, "{last}");
    wraps
}

#[test]
fn soak_five_seconds_of_the_mix_lose_nothing_and_stay_flat() {
    let (code, stdout, stderr) = run_within("soak", &["--seconds", "5"], Duration::from_secs(120));
    assert_eq!(code, Some(0), "soak failed:\n{stdout}\n{stderr}");
    assert_eq!(
        check_soak_line(&stdout),
        0,
        "ids start at 1: no wrap in 5 s"
    );
}

#[test]
fn soak_ids_from_crosses_the_wrap_and_loses_nothing() {
    // 100 ids below i32::MAX: the soak's first second of connections crosses the wrap.
    let args = ["--seconds", "3", "--ids-from", "2147483547"];
    let (code, stdout, stderr) = run_within("soak", &args, Duration::from_secs(120));
    assert_eq!(code, Some(0), "soak failed:\n{stdout}\n{stderr}");
    assert!(check_soak_line(&stdout) >= 1, "{stdout}");
}

#[test]
fn soak_help_and_bad_arguments() {
    let (code, help, _) = run_to_end("soak", &["--help"]);
    assert_eq!(code, Some(0));
    assert!(help.contains("--minutes N"));
    for bad in [
        &[][..],
        &["--minutes"],
        &["--seconds", "0"],
        &["--hours", "1"],
    ] {
        let (code, _, err) = run_to_end("soak", bad);
        assert_eq!(code, Some(2), "{bad:?}");
        assert!(err.starts_with("soak: "), "{bad:?}: {err}");
        assert_eq!(err.lines().count(), 1, "one line, as every example: {err}");
    }
}
