//! One port, many reactors: N threads, each with its own reactor and its own server on the
//! same address and port (`SocketProperties::reuse_port`, an extension: Linux's
//! `SO_REUSEPORT`), each accepting and closing the connections the kernel hashes to it.
//!
//! ```text
//! cargo run --release --example sharded_accept -- [--threads N] [--address 127.0.0.1]
//!     [--port 8080] [--seconds S] [--self-test]
//! ```
//!
//! The first stdout line is `listening on <address>:<port>` once every shard listens. It
//! stops after `S` seconds or on SIGINT/SIGTERM (every shard's reactor stops on the signal,
//! with no timer and no extra thread: `Reactor::stop_on_signals`) and prints `accepted <M>`
//! and the split. `--self-test` connects 1,000 clients itself (one at a time, each reading
//! until the server closes), stops the shards, checks that every client was accepted and
//! closed by exactly one shard, prints `sharded: N reactors, M accepted` and the split, and
//! exits 0 (1 if a check failed).

mod common;

use std::collections::BTreeSet;
use std::io::Read;
use std::net::{SocketAddr, TcpStream};
use std::process::ExitCode;
use std::sync::mpsc;
use std::time::Duration;

use chrome_sockets::tcp_server::SocketProperties;
use chrome_sockets::{Reactor, Waker};
use common::Cli;

const USAGE: &str = "\
usage: sharded_accept [--threads N] [--address IP] [--port PORT] [--seconds S] [--self-test]

Runs N reactors, one per thread, each listening on the same address and port
(SO_REUSEPORT); each accepts and closes the connections the kernel hands it.
  --threads N     reactors (threads), 1 or more (default 2)
  --address IP    address to listen on (default 127.0.0.1)
  --port PORT     port, 0 to 65535 (default 8080, or 0 with --self-test; 0 picks a free one)
  --seconds S     stop after S seconds (default: run until SIGINT/SIGTERM)
  --self-test     connect 1,000 clients, check each was accepted and closed by one shard,
                  print `sharded: N reactors, M accepted` and the split, exit 0 or 1
  --help          this text
Prints `listening on <address>:<port>` first, and `accepted <M>` and the split at the end.
";

/// Clients `--self-test` connects.
const SELF_TEST_CLIENTS: usize = 1000;

/// One shard's state.
#[derive(Default)]
struct Shard {
    accepted: u64,
    /// The peer address of every accepted connection (`--self-test` only).
    peers: Option<Vec<SocketAddr>>,
}

/// What a shard thread reports once it listens: the bound port and its waker, or why not.
type Listening = Result<(u16, Waker), String>;

fn main() -> ExitCode {
    let mut cli = Cli::new("sharded_accept", USAGE);
    let (mut threads, mut address, mut port) = (2u64, "127.0.0.1".to_owned(), None);
    let (mut seconds, mut self_test) = (None, false);
    while let Some(flag) = cli.next_flag() {
        match flag.as_str() {
            "--threads" => threads = cli.count(&flag),
            "--address" => address = cli.address(&flag),
            "--port" => port = Some(cli.port(&flag)),
            "--seconds" => seconds = Some(cli.seconds(&flag)),
            "--self-test" => self_test = true,
            _ => cli.unknown(&flag),
        }
    }
    if threads == 0 || threads > 1024 {
        cli.fail(format!("--threads {threads}: not 1 to 1024"));
    }
    // The self-test picks a free port unless told otherwise.
    let mut port = port.unwrap_or(if self_test { 0 } else { 8080 });

    // Shard 0 listens first (on port 0 it picks the port); the others join its port.
    let mut handles = Vec::new();
    let mut wakers = Vec::new();
    for index in 0..threads as usize {
        let (listening, from_shard) = mpsc::channel();
        let address = address.clone();
        handles.push(std::thread::spawn(move || {
            shard(index, address, port, seconds, self_test, listening)
        }));
        match from_shard.recv() {
            Ok(Ok((bound, waker))) => {
                port = i32::from(bound);
                wakers.push(waker);
            }
            Ok(Err(e)) => {
                eprintln!("sharded_accept: shard {index}: {e}");
                stop_all(&wakers);
                return ExitCode::FAILURE;
            }
            Err(_) => {
                eprintln!("sharded_accept: shard {index} ended before listening");
                stop_all(&wakers);
                return ExitCode::FAILURE;
            }
        }
    }
    println!("listening on {}", common::endpoint(&address, port as u16));

    let clients = self_test.then(|| {
        let target = SocketAddr::new(address.parse().expect("checked"), port as u16);
        let clients = connect_clients(target, SELF_TEST_CLIENTS);
        stop_all(&wakers);
        clients
    });

    let mut shards = Vec::new();
    for handle in handles {
        match handle.join() {
            Ok(shard) => shards.push(shard),
            Err(_) => return ExitCode::FAILURE,
        }
    }
    let total: u64 = shards.iter().map(|s| s.accepted).sum();
    let split = shards
        .iter()
        .enumerate()
        .map(|(i, s)| format!("shard {i}: {}", s.accepted))
        .collect::<Vec<_>>()
        .join(", ");
    let Some(clients) = clients else {
        println!("accepted {total} ({split})");
        return ExitCode::SUCCESS;
    };
    println!(
        "sharded: {} reactors, {total} accepted ({split})",
        shards.len()
    );
    match check(&clients, &shards) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sharded_accept: self-test failed: {e}");
            ExitCode::FAILURE
        }
    }
}

/// One shard: a reactor on this thread with a `reuse_port` server on `address`:`port`,
/// closing every connection it accepts, until stopped.
fn shard(
    index: usize,
    address: String,
    port: i32,
    seconds: Option<f64>,
    self_test: bool,
    listening: mpsc::Sender<Listening>,
) -> Shard {
    let mut state = Shard {
        accepted: 0,
        peers: self_test.then(Vec::new),
    };
    let mut r: Reactor<Shard> = match Reactor::new() {
        Ok(r) => r,
        Err(e) => {
            let _ = listening.send(Err(format!("creating the reactor: {e}")));
            return state;
        }
    };
    // Every shard stops on the signal: one handler wakes every watching reactor.
    if let Err(e) = r.stop_on_signals(&[libc::SIGINT, libc::SIGTERM]) {
        let _ = listening.send(Err(format!("cannot stop on SIGINT/SIGTERM: {e}")));
        return state;
    }
    r.tcp_server().on_accept().add_listener(|r, shard, info| {
        shard.accepted += 1;
        let id = info.client_socket_id;
        if shard.peers.is_none() {
            return r.tcp().close(id, |_, _, _| {});
        }
        r.tcp().get_info(id, move |r, shard, info| {
            let peer = info.ok().and_then(|i| {
                let ip = i.peer_address?.parse().ok()?;
                Some(SocketAddr::new(ip, i.peer_port?))
            });
            if let (Some(peers), Some(peer)) = (shard.peers.as_mut(), peer) {
                peers.push(peer);
            }
            r.tcp().close(id, |_, _, _| {});
        });
    });
    r.tcp_server().on_accept_error().add_listener(|r, _, info| {
        eprintln!(
            "sharded_accept: accept error {}: resuming in 100 ms",
            info.result_code
        );
        let id = info.socket_id;
        r.set_timeout(Duration::from_millis(100), move |r, _| {
            r.tcp_server().set_paused(id, false, |_, _, _| {});
        });
    });

    // Listen, and learn the bound port (shard 0 on port 0).
    let props = SocketProperties::new().reuse_port(true);
    let bound: std::rc::Rc<std::cell::Cell<Option<Result<u16, String>>>> = Default::default();
    let out = bound.clone();
    r.tcp_server().create(props, move |r, _, created| {
        let id = created.expect("create cannot fail").socket_id;
        r.tcp_server()
            .listen(id, &address, port, None, move |r, _, result| match result {
                Err(e) => out.set(Some(Err(format!("listen on port {port} failed: {e}")))),
                Ok(()) => r.tcp_server().get_info(id, move |_, _, info| {
                    out.set(Some(Ok(info.ok().and_then(|i| i.local_port).unwrap_or(0))));
                }),
            });
    });
    let bound = loop {
        if let Some(bound) = bound.take() {
            break bound;
        }
        if let Err(e) = r.turn(None, &mut state) {
            break Err(format!("turn: {e}"));
        }
    };
    let failed = bound.is_err();
    let _ = listening.send(bound.map(|port| (port, r.waker())));
    if failed {
        return state;
    }
    if let Some(seconds) = seconds {
        r.set_timeout(Duration::from_secs_f64(seconds), |r, _| r.stop());
    }
    if let Err(e) = r.run(&mut state) {
        eprintln!("sharded_accept: shard {index}: {e}");
    }
    state
}

fn stop_all(wakers: &[Waker]) {
    for waker in wakers {
        if let Err(e) = waker.stop() {
            eprintln!("sharded_accept: stopping a shard: {e}");
        }
    }
}

/// Connects `n` clients one at a time, each reading until the server closes; returns each
/// client's address and whether it saw that close.
fn connect_clients(target: SocketAddr, n: usize) -> Vec<(SocketAddr, Result<(), String>)> {
    (0..n)
        .map(|_| {
            let mut c = match TcpStream::connect(target) {
                Ok(c) => c,
                Err(e) => return (target, Err(format!("connect: {e}"))),
            };
            let local = c.local_addr().unwrap_or(target);
            let _ = c.set_read_timeout(Some(Duration::from_secs(10)));
            let mut buf = [0u8; 16];
            let closed = match c.read(&mut buf) {
                Ok(0) => Ok(()),
                Ok(_) => Err("the server sent data".to_owned()),
                Err(e) => Err(format!("read: {e}")),
            };
            (local, closed)
        })
        .collect()
}

/// Every client was closed by the server, and accepted by exactly one shard.
fn check(clients: &[(SocketAddr, Result<(), String>)], shards: &[Shard]) -> Result<(), String> {
    for (addr, closed) in clients {
        if let Err(e) = closed {
            return Err(format!("client {addr}: {e}"));
        }
    }
    let mut accepted = BTreeSet::new();
    for (i, shard) in shards.iter().enumerate() {
        let peers = shard.peers.as_deref().unwrap_or_default();
        if peers.len() as u64 != shard.accepted {
            return Err(format!(
                "shard {i}: {} accepted, {} peers known",
                shard.accepted,
                peers.len()
            ));
        }
        for peer in peers {
            if !accepted.insert(*peer) {
                return Err(format!("{peer} accepted twice"));
            }
        }
    }
    let wanted: BTreeSet<SocketAddr> = clients.iter().map(|(a, _)| *a).collect();
    if accepted != wanted || wanted.len() != clients.len() {
        return Err(format!(
            "{} clients, {} accepted, {} of them not clients",
            clients.len(),
            accepted.len(),
            accepted.difference(&wanted).count()
        ));
    }
    Ok(())
}
