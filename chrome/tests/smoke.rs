//! The plain, non-deviating behaviour agrees on Chrome and the library: the same scenario
//! (create, listen, get_info, accept, receive, send, close, and the common errors) gives the
//! same records on both, step by step.

use std::time::Duration;

use chrome_oracle::scenario::{accepted, comparable, created_tcp, listening_server, shared_chrome};
use chrome_oracle::{Backend, Call, Error, LibraryBackend, Peer, Record, Sid};

/// Runs the scenario on `b` and returns each step's records, made comparable.
fn scenario(b: &mut dyn Backend) -> Result<Vec<(&'static str, Vec<Record>)>, Error> {
    let mut steps = Vec::new();
    let created = b.run(vec![
        Call::ServerCreate {
            name: Some("s".into()),
            persistent: None,
        },
        Call::tcp_create(),
    ])?;
    let idle = created_tcp(&created).expect("tcp.create answered");
    steps.push(("create", comparable(&created)));

    let (server, port) = listening_server(b)?;
    steps.push((
        "getInfo of a listening server",
        comparable(&b.run(vec![
            Call::ServerGetInfo { server },
            Call::TcpGetInfo { socket: idle },
        ])?),
    ));

    // Errors: unknown ids, a host name where an IP literal is required, a port in use.
    b.call(vec![Call::server_create(), Call::server_create()])?;
    b.settle()?;
    let (second, third) = (Sid::Nth(2), Sid::Nth(3));
    let errors = b.run(vec![
        Call::listen(Sid::Raw(999), "127.0.0.1", 0),
        Call::TcpGetInfo {
            socket: Sid::Raw(999),
        },
        Call::ServerClose {
            server: Sid::Raw(999),
        },
        Call::send(Sid::Raw(999), b"x"),
        Call::SetNoDelay {
            socket: Sid::Raw(999),
            no_delay: true,
        },
        Call::listen(second, "localhost", 0),
        Call::Listen {
            server: third,
            address: "127.0.0.1".into(),
            port: 0,
            backlog: Some(0),
        },
        Call::send(idle, b"x"),
    ])?;
    steps.push(("errors", comparable(&errors)));
    let in_use = b.run(vec![Call::listen(second, "127.0.0.1", i32::from(port))])?;
    steps.push(("listen on a port in use", comparable(&in_use)));

    // Accept, receive, send.
    let mut peer = Peer::connect(port)?;
    let accept = b.settle()?;
    let client = accepted(&accept).expect("a connection is accepted");
    steps.push(("accept", comparable(&accept)));
    let unpaused = b.run(vec![Call::TcpSetPaused {
        socket: client,
        paused: false,
    }])?;
    steps.push(("unpause", comparable(&unpaused)));
    peer.write(b"hello")?;
    steps.push(("receive", comparable(&b.settle()?)));
    let sent = b.run(vec![Call::send(client, b"world")])?;
    steps.push(("send", comparable(&sent)));
    assert_eq!(
        peer.read_for(Duration::from_millis(200))?,
        b"world",
        "{}",
        b.name()
    );

    // The peer closes: EOF is -100 on both; then close the socket and the server.
    peer.shutdown_write()?;
    steps.push(("peer EOF", comparable(&b.settle()?)));
    let closed = b.run(vec![
        Call::TcpClose { socket: client },
        Call::TcpClose { socket: client },
        Call::ServerClose { server },
        Call::ServerGetSockets,
    ])?;
    steps.push(("close", comparable(&closed)));
    Ok(steps)
}

#[test]
fn plain_behaviour_agrees_on_chrome_and_library() {
    let mut chrome = shared_chrome().unwrap_or_else(|e| panic!("{e}"));
    let mut library = LibraryBackend::new().expect("reactor");
    let on_chrome = scenario(&mut *chrome).unwrap_or_else(|e| panic!("chrome: {e}"));
    let on_library = scenario(&mut library).unwrap_or_else(|e| panic!("library: {e}"));
    for (step, records) in on_chrome.iter().chain(&on_library) {
        assert!(!records.is_empty(), "step {step} recorded nothing");
    }
    let mut differences = Vec::new();
    for ((step, c), (_, l)) in on_chrome.iter().zip(&on_library) {
        if c != l {
            differences.push(format!("step {step}:\n  chrome:  {c:?}\n  library: {l:?}"));
        }
    }
    assert!(differences.is_empty(), "{}", differences.join("\n"));
}
