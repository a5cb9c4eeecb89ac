//! The reactor inside a current-thread tokio runtime through `AsyncFd`, alongside a tokio
//! `TcpListener` serving at the same time.
//!
//! ```text
//! cargo run --example embed_tokio -- [--seconds S] [--self-test | --burst N]
//! ```
//!
//! The reactor lives in an `AsyncFd` (its poll fd, `AsRawFd`); one task waits for whichever
//! comes first: the fd readable, the time `Reactor::next_timeout` gives, or a line from the
//! host's own listener, and then takes one non-blocking turn. tokio's readiness is
//! edge-triggered: `AsyncFd` reports the fd again only after new readiness arrives, never for
//! readiness a turn already took. So when `next_timeout()` is zero (a turn left work queued: a
//! listener with more connections than one accept batch, callbacks queued by callbacks) the
//! task turns again without waiting for the fd (after `yield_now`, so the runtime's other
//! tasks still get their turn).
//!
//! The host's own `TcpListener` (spawned tasks) answers every line with `ok <line>` and hands
//! it to the reactor task through a channel. The host prints its listener's address
//! (`host listening on ..`), the reactor its echo server's (`listening on 127.0.0.1:<port>`).
//! `--self-test` and `--burst N` are described in `examples/embed_shared/mod.rs`.

// The command line of every example: the library's examples/common, shared rather than copied.
#[path = "../../examples/common/mod.rs"]
mod common;
mod embed_shared;
use embed_shared as shared;

use std::future;
use std::io;
use std::process::ExitCode;
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc::{self, UnboundedSender};

fn main() -> ExitCode {
    shared::main("embed_tokio", "a current-thread tokio runtime", |args| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(serve(args))
    })
}

async fn serve(args: shared::Args) -> io::Result<ExitCode> {
    // The host's own server, a tokio task of its own.
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let host_addr = listener.local_addr()?;
    let (lines_tx, mut lines) = mpsc::unbounded_channel();
    tokio::spawn(host_server(listener, lines_tx));
    println!("host listening on {host_addr}");

    let (r, mut app) = shared::start(args.mode, shared::tcp_link(host_addr))?;
    // tokio 1.54 deprecates the safe constructors in favour of an `unsafe fn register`
    // whose contract is that the fd stays open and unchanged while registered. A reactor's
    // poll fd is created with it and closed only when it drops, after `AsyncFd` deregistered
    // it, so the contract holds; the safe constructor keeps `unsafe` out of the example.
    #[allow(deprecated)]
    let mut reactor = AsyncFd::with_interest(r, tokio::io::Interest::READABLE)?;
    let served = tokio::time::timeout(args.limit, async {
        while !app.done() {
            // The rule: when next_timeout() is zero, turn again without waiting; the fd will
            // not be reported again for work a turn left queued.
            let wait = reactor.get_mut().next_timeout();
            if wait != Some(Duration::ZERO) {
                let timer = async {
                    match wait {
                        Some(t) => tokio::time::sleep(t).await,
                        None => future::pending().await,
                    }
                };
                let line = tokio::select! {
                    ready = reactor.readable() => {
                        // The turn below takes everything the fd reported.
                        ready?.clear_ready();
                        None
                    }
                    line = lines.recv() => line,
                    () = timer => None,
                };
                if let Some(line) = line {
                    app.host_line(reactor.get_mut(), &line);
                }
            } else {
                // A follow-up turn: let the runtime's other tasks run first, so a reactor
                // that stays busy cannot starve them.
                tokio::task::yield_now().await;
            }
            app.turn(reactor.get_mut())?;
        }
        Ok::<(), io::Error>(())
    })
    .await;
    match served {
        Ok(result) => result?,
        Err(_elapsed) => {} // `finish` says whether that was a failure
    }
    Ok(app.finish("embed_tokio"))
}

/// The host's own listener: answers every line with `ok <line>` and forwards it.
async fn host_server(listener: TcpListener, lines: UnboundedSender<String>) {
    loop {
        match listener.accept().await {
            Ok((stream, _)) => {
                tokio::spawn(host_conn(stream, lines.clone()));
            }
            Err(e) => eprintln!("embed_tokio: host accept: {e}"),
        }
    }
}

async fn host_conn(stream: TcpStream, lines: UnboundedSender<String>) {
    let (rx, mut tx) = stream.into_split();
    let mut rx = BufReader::new(rx).lines();
    while let Ok(Some(line)) = rx.next_line().await {
        if tx
            .write_all(format!("ok {line}\n").as_bytes())
            .await
            .is_err()
            || lines.send(line).is_err()
        {
            return;
        }
    }
}
