//! Sockets manifest (design §5, reference §6): every row of the reference's pattern table
//! through real listen calls, connect patterns, Chrome's check order (id, permission, then
//! arguments), no fd opened when denied, and allow-all without a manifest.
//! Every test takes `serial()`: one of them counts fds, which the others' sockets would disturb.
mod util;
use util::*;

use std::net::{SocketAddr, TcpListener};

use chrome_sockets::{
    tcp, tcp_server, LastError, Reactor, ReactorBuilder, ServerSocketId, SocketsManifest,
    TcpSocketId,
};

const NO_PERMISSION: &str = "Does not have permission";
const INVALID_ARGUMENT: &str = "net::ERR_INVALID_ARGUMENT";

type Outcome = Option<Result<(), LastError>>;

fn with_listen(patterns: &[&str]) -> Reactor<Outcome> {
    let manifest = SocketsManifest::new().allow_listen(patterns).unwrap();
    ReactorBuilder::new().manifest(manifest).build().unwrap()
}

fn with_connect(patterns: &[&str]) -> Reactor<Outcome> {
    let manifest = SocketsManifest::new().allow_connect(patterns).unwrap();
    ReactorBuilder::new().manifest(manifest).build().unwrap()
}

#[track_caller]
fn new_server(r: &mut Reactor<Outcome>) -> ServerSocketId {
    create_server(r, &mut None, tcp_server::SocketProperties::default())
}

#[track_caller]
fn new_tcp(r: &mut Reactor<Outcome>) -> TcpSocketId {
    create(r, &mut None, tcp::SocketProperties::default())
}

/// `listen` on a fresh server (closed again afterwards); returns the callback's result.
#[track_caller]
fn listen(r: &mut Reactor<Outcome>, host: &str, port: i32, backlog: Option<i32>) -> Outcome {
    let id = new_server(r);
    listen_on(r, id, host, port, backlog)
}

#[track_caller]
fn listen_on(
    r: &mut Reactor<Outcome>,
    id: ServerSocketId,
    host: &str,
    port: i32,
    backlog: Option<i32>,
) -> Outcome {
    let mut out = None;
    r.tcp_server()
        .listen(id, host, port, backlog, |_, out, result| {
            *out = Some(result)
        });
    r.tcp_server().close(id, |_, _, _| {});
    turn_until(r, &mut out, Option::is_some);
    out
}

/// `connect` on a fresh tcp socket (closed again afterwards); returns the callback's result.
#[track_caller]
fn connect_tcp(r: &mut Reactor<Outcome>, host: &str, port: i32) -> Outcome {
    let id = new_tcp(r);
    let mut out = None;
    r.tcp()
        .connect(id, host, port, |_, out, result| *out = Some(result));
    turn_until(r, &mut out, Option::is_some);
    r.tcp().close(id, |_, _, _| {});
    turn_n(r, &mut None, 1);
    out
}

#[track_caller]
fn assert_denied(outcome: &Outcome) {
    assert_last_error(outcome.as_ref().unwrap(), NO_PERMISSION, None);
}

/// A port free on both 127.0.0.1 and ::1 right now, playing the reference table's 8080.
fn free_port() -> u16 {
    for _ in 0..100 {
        let v4 = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = v4.local_addr().unwrap().port();
        if TcpListener::bind(SocketAddr::from(([0u16, 0, 0, 0, 0, 0, 0, 1], port))).is_ok() {
            return port;
        }
    }
    panic!("no port free on both loopbacks");
}

#[test]
fn every_row_of_the_reference_pattern_table() {
    // Reference §6 table, 8080 replaced by a free port P. Columns: listen (127.0.0.1, P),
    // (0.0.0.0, P), (127.0.0.1, 0), (::1, P). Loopback columns listen for real (allowed =
    // success). The 0.0.0.0 column must not open a port on every interface, so it is probed
    // with backlog 0, which fails validation with -4 only after permission passed (D10):
    // allowed = -4, denied = "Does not have permission"; no socket is made either way.
    let _serial = serial();
    let p = free_port();
    let rows: &[(&[String], [bool; 4])] = &[
        (
            &["".into(), "*".into(), "*:*".into(), ":*".into()],
            [true, true, true, true],
        ),
        (
            &[format!("*:{p}"), format!(":{p}")],
            [true, true, false, true],
        ),
        (
            &["127.0.0.1:*".into(), "127.0.0.1".into()],
            [true, false, true, false],
        ),
        (&[format!("127.0.0.1:{p}")], [true, false, false, false]),
        (
            &[format!("*.example.com:{p}")],
            [false, false, false, false],
        ),
    ];
    let port = i32::from(p);
    for (patterns, want) in rows {
        for pattern in patterns.iter() {
            let mut r = with_listen(&[pattern]);
            let got = [
                listen(&mut r, "127.0.0.1", port, None),
                listen(&mut r, "0.0.0.0", port, Some(0)),
                listen(&mut r, "127.0.0.1", 0, None),
                listen(&mut r, "::1", port, None),
            ];
            for (column, (outcome, &allowed)) in got.iter().zip(want).enumerate() {
                let outcome = outcome.as_ref().unwrap();
                let what = format!("pattern {pattern:?}, column {column}: {outcome:?}");
                match (allowed, column) {
                    (false, _) => assert_last_error(outcome, NO_PERMISSION, None),
                    (true, 1) => assert_last_error(outcome, INVALID_ARGUMENT, Some(-4)),
                    (true, _) => assert!(outcome.is_ok(), "{what}"),
                }
            }
        }
    }
}

#[test]
fn invalid_patterns_fail_when_the_manifest_is_built() {
    // Reference §6 table, last row: a manifest load error naming the pattern. The reactor only
    // takes a built SocketsManifest, so no reactor can hold an invalid pattern.
    let _serial = serial();
    for pattern in ["127.0.0.1:0", "::1:80", "a:b:c"] {
        let err = SocketsManifest::new()
            .allow_listen(["*", pattern])
            .unwrap_err();
        assert_eq!(err.pattern(), pattern);
        assert_eq!(
            err.to_string(),
            format!("Invalid host:port pattern '{pattern}'")
        );
        let err = SocketsManifest::new()
            .allow_connect([pattern, "*"])
            .unwrap_err();
        assert_eq!(err.pattern(), pattern);
    }
}

#[test]
fn without_a_manifest_everything_is_allowed() {
    let _serial = serial();
    let mut r: Reactor<Outcome> = Reactor::new().unwrap();
    assert!(listen(&mut r, "127.0.0.1", 0, None).unwrap().is_ok());
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = i32::from(server.local_addr().unwrap().port());
    assert!(connect_tcp(&mut r, "127.0.0.1", port).unwrap().is_ok());
}

#[test]
fn an_empty_manifest_denies_every_listen_and_connect() {
    let _serial = serial();
    let mut r: Reactor<Outcome> = ReactorBuilder::new()
        .manifest(SocketsManifest::new())
        .build()
        .unwrap();
    assert_denied(&listen(&mut r, "127.0.0.1", 0, None));
    assert_denied(&connect_tcp(&mut r, "127.0.0.1", 80));
}

#[test]
fn connect_patterns_allow_and_deny_tcp_connect() {
    let _serial = serial();
    let server = TcpListener::bind("127.0.0.1:0").unwrap();
    let q = server.local_addr().unwrap().port();
    let port = i32::from(q);
    let mut r = with_connect(&[&format!("127.0.0.1:{q}")]);
    assert!(connect_tcp(&mut r, "127.0.0.1", port).unwrap().is_ok());
    assert_denied(&connect_tcp(&mut r, "127.0.0.1", port + 1));
    // No canonicalisation: the host string is matched as given, before any resolution.
    assert_denied(&connect_tcp(&mut r, "localhost", port));
    assert_denied(&connect_tcp(&mut r, "127.1", port));
    // Connect patterns authorise only connect.
    assert_denied(&listen(&mut r, "127.0.0.1", port, None));

    // Listen patterns authorise only listen.
    let mut r = with_listen(&["*"]);
    assert_denied(&connect_tcp(&mut r, "127.0.0.1", port));

    // A subdomain pattern never matches an IP address.
    let mut r = with_connect(&["*.example.com:*"]);
    assert_denied(&connect_tcp(&mut r, "127.0.0.1", port));
}

#[test]
fn listen_checks_id_then_permission_then_address() {
    // Reference §6: id lookup -> permission -> address. Without permission a bogus address
    // gives the permission error; with permission it gives -4.
    let _serial = serial();
    let mut denied = with_listen(&["127.0.0.1:80"]);
    assert_denied(&listen(&mut denied, "bogus", 80, None));
    assert_denied(&listen(&mut denied, "127.0.0.1", 0, None));
    // 70000 is 4464 to the matcher (Chrome's 16-bit port), so not port 80: denied first.
    assert_denied(&listen(&mut denied, "127.0.0.1", 70000, None));

    let mut allowed = with_listen(&["*"]);
    let bogus = listen(&mut allowed, "bogus", 80, None);
    assert_last_error(bogus.as_ref().unwrap(), INVALID_ARGUMENT, Some(-4));
    let too_big = listen(&mut allowed, "127.0.0.1", 70000, None);
    assert_last_error(too_big.as_ref().unwrap(), INVALID_ARGUMENT, Some(-4));

    // An unknown id wins over a missing permission.
    let gone = new_server(&mut denied);
    listen_on(&mut denied, gone, "127.0.0.1", 0, None); // closes it
    let stale = listen_on(&mut denied, gone, "bogus", 1, None);
    assert_last_error(stale.as_ref().unwrap(), "Socket not found", None);
}

#[test]
fn connect_checks_id_then_permission_then_address() {
    let _serial = serial();
    let mut denied = with_connect(&["127.0.0.1:80"]);
    assert_denied(&connect_tcp(&mut denied, "127.0.0.1", 70000));
    assert_denied(&connect_tcp(&mut denied, "127.0.0.1", -1));
    let mut allowed = with_connect(&["*"]);
    let too_big = connect_tcp(&mut allowed, "127.0.0.1", 70000);
    assert_last_error(too_big.as_ref().unwrap(), INVALID_ARGUMENT, Some(-4));
    let negative = connect_tcp(&mut allowed, "127.0.0.1", -1);
    assert_last_error(negative.as_ref().unwrap(), INVALID_ARGUMENT, Some(-4));

    let id = new_tcp(&mut denied);
    denied.tcp().close(id, |_, _, _| {});
    let mut out = None;
    denied
        .tcp()
        .connect(id, "bogus", 1, |_, out, result| *out = Some(result));
    turn_until(&mut denied, &mut out, Option::is_some);
    assert_last_error(out.as_ref().unwrap(), "Socket not found", None);
}

#[test]
fn a_denied_listen_or_connect_opens_no_fd() {
    // The permission check comes before any syscall.
    let _serial = serial();
    let mut r = with_listen(&["127.0.0.1:1"]);
    let server = new_server(&mut r);
    let tcp = new_tcp(&mut r);
    let before = fds_by_kind();
    let mut out = None;
    r.tcp_server()
        .listen(server, "127.0.0.1", 0, None, |_, out, result| {
            *out = Some(result)
        });
    assert_eq!(fds_by_kind(), before, "no fd at the call");
    turn_until(&mut r, &mut out, Option::is_some);
    assert_denied(&out);
    out = None;
    r.tcp()
        .connect(tcp, "127.0.0.1", 1, |_, out, result| *out = Some(result));
    assert_eq!(fds_by_kind(), before, "no fd at the call");
    turn_until(&mut r, &mut out, Option::is_some);
    assert_denied(&out);
    assert_eq!(fds_by_kind(), before);
}
