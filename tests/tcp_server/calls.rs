//! Ensures every `chrome.sockets.tcpServer` method succeeds as Chrome's does and fails with
//! Chrome's exact lastError message and net code (design §3, §6; reference §1, D3, D4, D10).
use crate::util::*;

use std::io::Read;
use std::net::{SocketAddr, TcpListener};

use chrome_sockets::tcp_server::{AcceptInfo, SocketInfo, SocketProperties};
use chrome_sockets::{LastError, Reactor, ServerSocketId};

/// Every test here records `on_accept` events in the state.
type R = Reactor<Vec<AcceptInfo>>;

/// This binary's lock (one test counts fds), a recording reactor and its empty state.
fn setup() -> (std::sync::MutexGuard<'static, ()>, R, Vec<AcceptInfo>) {
    (serial(), accepting_reactor(), Vec::new())
}

fn create(r: &mut R, s: &mut Vec<AcceptInfo>, props: SocketProperties) -> ServerSocketId {
    let out = slot();
    r.tcp_server().create(props, put(&out));
    wait(r, s, &out).expect("create").socket_id
}

fn listen(
    r: &mut R,
    s: &mut Vec<AcceptInfo>,
    id: ServerSocketId,
    address: &str,
    port: i32,
    backlog: Option<i32>,
) -> Result<(), LastError> {
    let out = slot();
    r.tcp_server().listen(id, address, port, backlog, put(&out));
    wait(r, s, &out)
}

fn info(r: &mut R, s: &mut Vec<AcceptInfo>, id: ServerSocketId) -> Result<SocketInfo, LastError> {
    let out = slot();
    r.tcp_server().get_info(id, put(&out));
    wait(r, s, &out)
}

fn update(r: &mut R, s: &mut Vec<AcceptInfo>, id: ServerSocketId, props: SocketProperties) {
    ask(r, s, |r, d| r.tcp_server().update(id, props, d)).expect("update");
}

fn sockets(r: &mut R, s: &mut Vec<AcceptInfo>) -> Vec<SocketInfo> {
    let out = slot();
    r.tcp_server().get_sockets(put(&out));
    wait(r, s, &out).expect("get_sockets")
}

fn local(info: &SocketInfo) -> SocketAddr {
    let ip = info
        .local_address
        .as_ref()
        .expect("local_address")
        .parse()
        .unwrap();
    SocketAddr::new(ip, info.local_port.expect("local_port"))
}

/// The call failed with -4 "net::ERR_INVALID_ARGUMENT".
#[track_caller]
fn assert_invalid<T: std::fmt::Debug>(result: &Result<T, LastError>) {
    assert_last_error(result, "net::ERR_INVALID_ARGUMENT", Some(-4));
}

#[test]
fn create_issues_ids_1_2_3_and_opens_no_fd() {
    let (_serial, mut r, mut s) = setup();
    let before = fds_by_kind();
    let ids: Vec<i32> = (0..3)
        .map(|_| create(&mut r, &mut s, SocketProperties::default()).raw())
        .collect();
    assert_eq!(ids, [1, 2, 3]);
    assert_eq!(fds_by_kind(), before, "create opens no fd");
}

#[test]
fn update_sets_only_given_fields_and_empty_name_is_omitted_again() {
    let (_serial, mut r, mut s) = setup();
    let id = create(&mut r, &mut s, SocketProperties::new().name("web"));
    let i = info(&mut r, &mut s, id).unwrap();
    assert_eq!((i.name.as_deref(), i.persistent), (Some("web"), false));

    // Only `persistent` given: the name stays.
    update(&mut r, &mut s, id, SocketProperties::new().persistent(true));
    let i = info(&mut r, &mut s, id).unwrap();
    assert_eq!((i.name.as_deref(), i.persistent), (Some("web"), true));

    // `{}` changes nothing.
    update(&mut r, &mut s, id, SocketProperties::new());
    let i = info(&mut r, &mut s, id).unwrap();
    assert_eq!((i.name.as_deref(), i.persistent), (Some("web"), true));

    // Reference §1.2: name "" makes get_info omit the name again.
    update(&mut r, &mut s, id, SocketProperties::new().name(""));
    let i = info(&mut r, &mut s, id).unwrap();
    assert_eq!((i.name, i.persistent), (None, true));
}

#[test]
fn every_method_on_an_unknown_id_fails_with_socket_not_found() {
    let (_serial, mut r, mut s) = setup();
    let nobody = ServerSocketId::from_raw(42);
    let results = every_unit_call(&mut r, nobody, true);
    for result in &results {
        assert_last_error(&wait(&mut r, &mut s, result), "Socket not found", None);
    }
    assert_last_error(&info(&mut r, &mut s, nobody), "Socket not found", None);
}

/// Issues update, set_paused(`paused`), listen, disconnect and close on `id`, in that order.
fn every_unit_call<S: 'static>(
    r: &mut Reactor<S>,
    id: ServerSocketId,
    paused: bool,
) -> Vec<Slot<Result<(), LastError>>> {
    let results: Vec<Slot<Result<(), LastError>>> = (0..5).map(|_| slot()).collect();
    r.tcp_server()
        .update(id, SocketProperties::new().name("x"), put(&results[0]));
    r.tcp_server().set_paused(id, paused, put(&results[1]));
    r.tcp_server()
        .listen(id, "127.0.0.1", 0, None, put(&results[2]));
    r.tcp_server().disconnect(id, put(&results[3]));
    r.tcp_server().close(id, put(&results[4]));
    results
}

#[test]
fn listen_rejects_anything_but_an_ip_literal_with_4() {
    let (_serial, mut r, mut s) = setup();
    let id = create(&mut r, &mut s, SocketProperties::default());
    for address in [
        "localhost",
        "",
        "[::1]",
        "1.2.3.4.5",
        "fe80::1%lo",
        "127.0.0.256",
    ] {
        assert_invalid(&listen(&mut r, &mut s, id, address, 0, None));
    }
    let i = info(&mut r, &mut s, id).unwrap();
    assert_eq!(i.local_address, None, "no failed listen left a listener");
}

#[test]
fn listen_accepts_lenient_ipv4_and_reports_it_canonically() {
    let (_serial, mut r, mut s) = setup();
    // Reference §1.4 step 3: the URL-host IPv4 grammar.
    for address in ["127.1", "0x7f.0.0.1", "2130706433", "0177.0.0.1"] {
        let id = create(&mut r, &mut s, SocketProperties::default());
        listen(&mut r, &mut s, id, address, 0, None).unwrap_or_else(|e| panic!("{address}: {e}"));
        let i = info(&mut r, &mut s, id).unwrap();
        assert_eq!(i.local_address.as_deref(), Some("127.0.0.1"), "{address}");
        let _client = connect(local(&i));
        turn_until(&mut r, &mut s, |a| a.iter().any(|a| a.socket_id == id));
    }
}

#[test]
fn listen_rejects_ports_outside_u16_with_4_not_truncated() {
    let (_serial, mut r, mut s) = setup();
    let id = create(&mut r, &mut s, SocketProperties::default());
    // D3: Chrome would bind 65535, 0 and 4464.
    for port in [-1, 65536, 70000, i32::MIN, i32::MAX] {
        assert_invalid(&listen(&mut r, &mut s, id, "127.0.0.1", port, None));
    }
    assert_eq!(info(&mut r, &mut s, id).unwrap().local_port, None);
}

#[test]
fn listen_rejects_zero_and_negative_backlog_with_4() {
    let (_serial, mut r, mut s) = setup();
    let id = create(&mut r, &mut s, SocketProperties::default());
    // D10: 0 as Chrome's network service; negative instead of Linux's "max".
    for backlog in [0, -5, i32::MIN] {
        assert_invalid(&listen(&mut r, &mut s, id, "127.0.0.1", 0, Some(backlog)));
    }
    assert_eq!(info(&mut r, &mut s, id).unwrap().local_port, None);
}

#[test]
fn listen_with_backlog_1_accepts() {
    let (_serial, mut r, mut s) = setup();
    let id = create(&mut r, &mut s, SocketProperties::default());
    listen(&mut r, &mut s, id, "127.0.0.1", 0, Some(1)).unwrap();
    let addr = local(&info(&mut r, &mut s, id).unwrap());
    let _client = connect(addr);
    turn_until(&mut r, &mut s, |a| a.len() == 1);
    assert_eq!(s[0].socket_id, id);
}

#[test]
fn listen_on_a_port_in_use_fails_with_147() {
    let (_serial, mut r, mut s) = setup();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let id = create(&mut r, &mut s, SocketProperties::default());
    let result = listen(&mut r, &mut s, id, "127.0.0.1", port.into(), None);
    assert_last_error(&result, "net::ERR_ADDRESS_IN_USE", Some(-147));
    assert_eq!(info(&mut r, &mut s, id).unwrap().local_port, None);
    // Reference §1.4: a listen may follow a failed one.
    drop(taken);
    listen(&mut r, &mut s, id, "127.0.0.1", port.into(), None).unwrap();
    assert_eq!(info(&mut r, &mut s, id).unwrap().local_port, Some(port));
}

#[test]
fn listen_twice_fails_with_23_keeps_listener() {
    let (_serial, mut r, mut s) = setup();
    let (id, addr) = listening_on_loopback(&mut r, &mut s);
    // D4: both a second port-0 listen and one on the very same port.
    let again = listen(&mut r, &mut s, id, "127.0.0.1", 0, None);
    assert_last_error(&again, "net::ERR_SOCKET_IS_CONNECTED", Some(-23));
    let same = listen(&mut r, &mut s, id, "127.0.0.1", addr.port().into(), None);
    assert_last_error(&same, "net::ERR_SOCKET_IS_CONNECTED", Some(-23));
    assert_eq!(local(&info(&mut r, &mut s, id).unwrap()), addr);
    let _client = connect(addr);
    turn_until(&mut r, &mut s, |a| a.len() == 1);
    assert_eq!(s[0].socket_id, id, "the original listener still accepts");
}

#[test]
fn disconnect_frees_the_port_at_once_and_listen_may_follow() {
    let (_serial, mut r, mut s) = setup();
    let id = create(&mut r, &mut s, SocketProperties::new().name("n"));
    listen(&mut r, &mut s, id, "127.0.0.1", 0, None).unwrap();
    let old = local(&info(&mut r, &mut s, id).unwrap());
    let out = slot();
    r.tcp_server().disconnect(id, put(&out));
    // The call takes effect at once: the port is free before any turn.
    let rebound = TcpListener::bind(old).expect("old port free right after disconnect");
    wait(&mut r, &mut s, &out).unwrap();
    let i = info(&mut r, &mut s, id).unwrap();
    assert_eq!((i.local_address, i.local_port), (None, None));
    assert_eq!(
        i.name.as_deref(),
        Some("n"),
        "disconnect keeps the properties"
    );

    listen(&mut r, &mut s, id, "127.0.0.1", 0, None).unwrap();
    let new = local(&info(&mut r, &mut s, id).unwrap());
    assert_ne!(new, old);
    let _client = connect(new);
    turn_until(&mut r, &mut s, |a| a.len() == 1);
    assert_eq!(s[0].socket_id, id);
    drop(rebound);
}

#[test]
fn paused_before_listen_listens_but_accepts_only_after_resume() {
    let (_serial, mut r, mut s) = setup();
    let id = create(&mut r, &mut s, SocketProperties::default());
    let out = slot();
    r.tcp_server().set_paused(id, true, put(&out));
    wait(&mut r, &mut s, &out).unwrap();
    listen(&mut r, &mut s, id, "127.0.0.1", 0, None).unwrap();
    let i = info(&mut r, &mut s, id).unwrap();
    assert!(i.paused);
    let _client = connect(local(&i));
    turn_n(&mut r, &mut s, 10);
    assert!(s.is_empty(), "no on_accept while paused");
    let out = slot();
    r.tcp_server().set_paused(id, false, put(&out));
    wait(&mut r, &mut s, &out).unwrap();
    turn_until(&mut r, &mut s, |a| !a.is_empty());
    turn_n(&mut r, &mut s, 3);
    assert_eq!(s.len(), 1, "the queued client is accepted once");
    assert_eq!(s[0].socket_id, id);
}

#[test]
fn disconnect_of_a_never_listened_socket_succeeds_repeatedly() {
    let (_serial, mut r, mut s) = setup();
    let id = create(&mut r, &mut s, SocketProperties::default());
    for _ in 0..2 {
        let out = slot();
        r.tcp_server().disconnect(id, put(&out));
        wait(&mut r, &mut s, &out).unwrap();
    }
    assert_eq!(info(&mut r, &mut s, id).unwrap().socket_id, id);
}

#[test]
fn close_makes_every_method_fail_with_socket_not_found_and_a_second_close_fails() {
    let (_serial, mut r, mut s) = setup();
    let (id, addr) = listening_on_loopback(&mut r, &mut s);
    let out = slot();
    r.tcp_server().close(id, put(&out));
    // Reference §1.6: the id is gone as soon as close returns (port too).
    let results = every_unit_call(&mut r, id, false);
    let rebound = TcpListener::bind(addr).expect("port free after close");
    wait(&mut r, &mut s, &out).unwrap();
    for result in &results {
        assert_last_error(&wait(&mut r, &mut s, result), "Socket not found", None);
    }
    assert_last_error(&info(&mut r, &mut s, id), "Socket not found", None);
    assert!(sockets(&mut r, &mut s).is_empty());
    drop(rebound);
}

#[test]
fn get_info_reports_name_address_paused_and_persistent() {
    let (_serial, mut r, mut s) = setup();
    let id = create(&mut r, &mut s, SocketProperties::default());
    let fresh = info(&mut r, &mut s, id).unwrap();
    // Every field (`SocketInfo` is `#[non_exhaustive]`: no struct literal out here).
    assert_eq!(fresh.socket_id, id);
    assert!(!fresh.persistent && !fresh.paused && !fresh.reuse_port);
    assert_eq!(fresh.name, None);
    assert_eq!((fresh.local_address, fresh.local_port), (None, None));
    let named = create(
        &mut r,
        &mut s,
        SocketProperties::new().name("srv").persistent(true),
    );
    listen(&mut r, &mut s, named, "127.0.0.1", 0, None).unwrap();
    let out = slot();
    r.tcp_server().set_paused(named, true, put(&out));
    wait(&mut r, &mut s, &out).unwrap();
    let i = info(&mut r, &mut s, named).unwrap();
    assert_eq!(i.socket_id, named);
    assert_eq!(i.name.as_deref(), Some("srv"));
    assert!(i.persistent && i.paused);
    assert_eq!(i.local_address.as_deref(), Some("127.0.0.1"));
    assert_ne!(i.local_port, Some(0), "port 0 reports the real port");
    assert!(i.local_port.is_some());

    let out = slot();
    r.tcp_server().disconnect(named, put(&out));
    wait(&mut r, &mut s, &out).unwrap();
    let i = info(&mut r, &mut s, named).unwrap();
    assert_eq!((i.local_address, i.local_port), (None, None));
    assert!(i.paused, "paused carries over a disconnect");
}

#[test]
fn local_addr_answers_at_once_what_get_info_reports() {
    let (_serial, mut r, mut s) = setup();
    let not_listening = |r: &mut R, id| {
        let e = r.tcp_server().local_addr(id).unwrap_err();
        assert_last_error(&Err::<(), _>(e), "net::ERR_SOCKET_NOT_CONNECTED", Some(-15));
    };
    let id = create(&mut r, &mut s, SocketProperties::default());
    not_listening(&mut r, id);
    // A failed listen leaves it not listening.
    listen(&mut r, &mut s, id, "127.0.0.1", 70_000, None).unwrap_err();
    not_listening(&mut r, id);
    for address in ["127.0.0.1", "::1"] {
        let out = slot();
        r.tcp_server().listen(id, address, 0, None, put(&out));
        // Right after the call, before its callback ran: the real port.
        let addr = r.tcp_server().local_addr(id).unwrap();
        wait(&mut r, &mut s, &out).unwrap();
        assert_eq!(addr.ip().to_string(), address);
        assert_ne!(addr.port(), 0);
        let i = info(&mut r, &mut s, id).unwrap();
        assert_eq!(i.local_address.as_deref(), Some(address));
        assert_eq!(i.local_port, Some(addr.port()));
        // Paused, still listening: same answer, and the port takes connections.
        let out = slot();
        r.tcp_server().set_paused(id, true, put(&out));
        wait(&mut r, &mut s, &out).unwrap();
        assert_eq!(r.tcp_server().local_addr(id), Ok(addr));
        std::net::TcpStream::connect(addr).unwrap();
        let out = slot();
        r.tcp_server().disconnect(id, put(&out));
        wait(&mut r, &mut s, &out).unwrap();
        not_listening(&mut r, id);
        let out = slot();
        r.tcp_server().set_paused(id, false, put(&out));
        wait(&mut r, &mut s, &out).unwrap();
    }
    let out = slot();
    r.tcp_server().close(id, put(&out));
    wait(&mut r, &mut s, &out).unwrap();
    let gone = r.tcp_server().local_addr(id);
    assert_last_error(&gone, "Socket not found", None);
    assert_last_error(
        &r.tcp_server()
            .local_addr(ServerSocketId::from_raw(i32::MAX)),
        "Socket not found",
        None,
    );
}

#[test]
fn get_sockets_lists_live_servers_in_id_order() {
    let (_serial, mut r, mut s) = setup();
    assert!(sockets(&mut r, &mut s).is_empty());
    let ids: Vec<ServerSocketId> = (0..4)
        .map(|i| {
            create(
                &mut r,
                &mut s,
                SocketProperties::new().name(format!("s{i}")),
            )
        })
        .collect();
    listen(&mut r, &mut s, ids[2], "127.0.0.1", 0, None).unwrap();
    let out = slot();
    r.tcp_server().close(ids[1], put(&out));
    wait(&mut r, &mut s, &out).unwrap();
    let list = sockets(&mut r, &mut s);
    let listed: Vec<_> = list.iter().map(|i| i.socket_id).collect();
    assert_eq!(listed, [ids[0], ids[2], ids[3]]);
    assert_eq!(list[1].name.as_deref(), Some("s2"));
    assert!(list[1].local_port.is_some() && list[0].local_port.is_none());
}

#[test]
fn failed_listens_open_no_fd() {
    let (_serial, mut r, mut s) = setup();
    let taken = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = i32::from(taken.local_addr().unwrap().port());
    let id = create(&mut r, &mut s, SocketProperties::default());
    let before = fds_by_kind();
    let failures: [(&str, i32, Option<i32>, i32); 4] = [
        ("127.0.0.1", port, None, -147),
        ("localhost", 0, None, -4),
        ("127.0.0.1", 70000, None, -4),
        ("127.0.0.1", 0, Some(0), -4),
    ];
    for (address, port, backlog, code) in failures {
        let result = listen(&mut r, &mut s, id, address, port, backlog);
        assert_eq!(result.unwrap_err().code().map(|c| c.code()), Some(code));
        assert_eq!(fds_by_kind(), before, "{address}:{port} left an fd");
    }
}

#[test]
fn ipv6_loopback_listens_accepts_and_reports_peer() {
    let (_serial, mut r, mut s) = setup();
    let id = create(&mut r, &mut s, SocketProperties::default());
    listen(&mut r, &mut s, id, "::1", 0, None).unwrap();
    let i = info(&mut r, &mut s, id).unwrap();
    assert_eq!(i.local_address.as_deref(), Some("::1"));
    let mut client = connect(local(&i));
    turn_until(&mut r, &mut s, |a| a.len() == 1);
    let client_id = s[0].client_socket_id;
    let out = slot();
    r.tcp().get_info(client_id, put(&out));
    let tcp = wait(&mut r, &mut s, &out).unwrap();
    assert_eq!(tcp.peer_address.as_deref(), Some("::1"));
    assert_eq!(tcp.peer_port, Some(client.local_addr().unwrap().port()));
    assert_eq!(tcp.local_address.as_deref(), Some("::1"), "D2");
    assert_eq!(tcp.local_port, i.local_port);
    assert!(tcp.paused && tcp.connected, "accepted sockets start paused");
    let out = slot();
    r.tcp().close(client_id, put(&out));
    wait(&mut r, &mut s, &out).unwrap();
    let mut buf = [0u8; 1];
    assert_eq!(client.read(&mut buf).unwrap(), 0, "the client sees EOF");
}

/// A new server listening on 127.0.0.1 (any port), and its address.
fn listening_on_loopback(r: &mut R, s: &mut Vec<AcceptInfo>) -> (ServerSocketId, SocketAddr) {
    let id = create(r, s, SocketProperties::default());
    listen(r, s, id, "127.0.0.1", 0, None).unwrap();
    let addr = local(&info(r, s, id).unwrap());
    (id, addr)
}
