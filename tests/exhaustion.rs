//! Running out of fds (RLIMIT_NOFILE, so a binary of its own): EMFILE at accept, at listen,
//! at connect and on resume pauses or fails once with -12, never busy-loops, loses no queued
//! client, `set_paused(false)` recovers the server, and creating sockets costs no fd. Every
//! test takes `serial()`: they change the process-wide fd limit.
mod util;

use std::fs::File;
use std::io::Write;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::time::Duration;

use chrome_sockets::tcp::SocketProperties as TcpProps;
use chrome_sockets::tcp_server::SocketProperties as ServerProps;
use chrome_sockets::{NetError, Reactor, ServerSocketId};
use rlimit::Resource;
use socket2::{Domain, Socket, Type};
use util::*;

/// Puts RLIMIT_NOFILE back however the test ends.
struct RestoreLimit(u64, u64);

impl Drop for RestoreLimit {
    fn drop(&mut self) {
        rlimit::setrlimit(Resource::NOFILE, self.0, self.1).expect("restore RLIMIT_NOFILE");
    }
}

#[test]
fn emfile_on_accept_reports_minus_12_once_pauses_and_resume_recovers() {
    let _serial = serial();
    let (mut r, mut app, server, addr) = serving(Rec::default());

    // Use up every fd number below a lowered soft limit, then let a client connect.
    let (soft, hard) = rlimit::getrlimit(Resource::NOFILE).unwrap();
    let restore = RestoreLimit(soft, hard);
    let limit = (open_fds() + 32) as u64;
    assert!(limit < soft, "the soft limit {soft} is already tiny");
    let client = connect(addr);
    rlimit::setrlimit(Resource::NOFILE, limit, hard).unwrap();
    let mut hog = Vec::new();
    loop {
        match File::open("/dev/null") {
            Ok(f) => hog.push(f),
            Err(e) => {
                assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e}");
                break;
            }
        }
        assert!(hog.len() <= limit as usize, "fds beyond the limit");
    }

    turn_until(&mut r, &mut app, |a| !a.accept_errors.is_empty());
    assert_eq!(
        app.accept_errors,
        [(server, NetError::INSUFFICIENT_RESOURCES.code())]
    );
    assert_eq!(NetError::INSUFFICIENT_RESOURCES.code(), -12);
    assert!(app.accepted.is_empty());

    // Reference §2.2: paused, listener still open and shown.
    let out = slot();
    r.tcp_server().get_info(server, put(&out));
    let info = wait(&mut r, &mut app, &out).unwrap();
    assert!(info.paused);
    assert_eq!(info.local_address.as_deref(), Some("127.0.0.1"));
    assert_eq!(info.local_port, Some(addr.port()));

    // No busy loop: while the fault lasts, turns find nothing to do.
    for _ in 0..20 {
        let report = r.turn(Some(Duration::from_millis(10)), &mut app).unwrap();
        assert_eq!((report.events, report.tasks), (0, 0), "{report:?}");
    }
    assert_eq!(app.accept_errors.len(), 1, "on_accept_error exactly once");

    // Free fds, raise the limit, resume: the client still queued in the backlog is accepted.
    drop(hog);
    drop(restore);
    let out = slot();
    r.tcp_server().set_paused(server, false, put(&out));
    wait(&mut r, &mut app, &out).unwrap();
    turn_until(&mut r, &mut app, |a| a.accepted.len() == 1);
    turn_n(&mut r, &mut app, 3);
    assert_eq!(app.accepted.len(), 1);
    assert_eq!(app.accept_errors.len(), 1);
    let out = slot();
    r.tcp().get_info(app.accepted[0].1, put(&out));
    let tcp = wait(&mut r, &mut app, &out).unwrap();
    assert_eq!(tcp.peer_port, Some(client.local_addr().unwrap().port()));
}

/// While alive, every fd number below the soft limit is taken: the next fd is EMFILE.
/// Dropping it restores the limit and closes the fillers.
struct OutOfFds {
    soft: u64,
    hard: u64,
    _fillers: Vec<File>,
}

impl OutOfFds {
    fn new() -> Self {
        let (soft, hard) = rlimit::getrlimit(Resource::NOFILE).unwrap();
        let max = *fd_table().keys().max().unwrap();
        let mut fillers = Vec::new();
        loop {
            let f = File::open("/dev/null").unwrap();
            if f.as_raw_fd() > max {
                break;
            }
            fillers.push(f);
        }
        rlimit::setrlimit(Resource::NOFILE, max as u64 + 1, hard).unwrap();
        assert_eq!(
            File::open("/dev/null").unwrap_err().raw_os_error(),
            Some(libc::EMFILE),
            "fds are exhausted"
        );
        OutOfFds {
            soft,
            hard,
            _fillers: fillers,
        }
    }
}

impl Drop for OutOfFds {
    fn drop(&mut self) {
        rlimit::setrlimit(Resource::NOFILE, self.soft, self.hard).unwrap();
    }
}

/// A client socket made while fds are plentiful, to connect once they are not.
fn spare_socket() -> Socket {
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    s.set_read_timeout(Some(PATIENCE)).unwrap();
    s.set_write_timeout(Some(PATIENCE)).unwrap();
    s
}

fn connect_with_token(s: &mut Socket, addr: SocketAddr, i: usize) {
    s.connect(&addr.into())
        .expect("the kernel completes the handshake");
    s.write_all(&token(i)).unwrap();
}

fn server_info(r: &mut Reactor<Rec>, rec: &mut Rec, id: ServerSocketId) -> (bool, Option<u16>) {
    let info = ask(r, rec, |r, d| r.tcp_server().get_info(id, d)).unwrap();
    (info.paused, info.local_port)
}

/// Every queued client is delivered once: its token arrives on exactly one accepted socket.
#[track_caller]
fn assert_tokens_delivered_once(rec: &Rec, expected: &[usize]) {
    let mut got: Vec<usize> = rec.received.values().flat_map(|b| tokens_in(b)).collect();
    got.sort_unstable();
    assert_eq!(got, expected);
    let mut clients = rec.clients();
    clients.sort_unstable();
    clients.dedup();
    assert_eq!(clients.len(), rec.accepted.len(), "no client id twice");
}

#[test]
fn emfile_at_accept_pauses_once_and_resume_delivers_every_queued_client() {
    let _fds = FdGuard::new();
    let (mut r, mut rec, server, addr) = serving(Rec::reading());
    let mut spare: Vec<Socket> = (0..3).map(|_| spare_socket()).collect();
    let out = OutOfFds::new();

    // §3 accept policy: EMFILE is not retryable → pause + one on_accept_error (-12).
    connect_with_token(&mut spare[0], addr, 0);
    turn_until(&mut r, &mut rec, |rec| !rec.accept_errors.is_empty());
    assert_eq!(rec.accept_errors, vec![(server, -12)]);
    assert!(rec.accepted.is_empty());
    assert_eq!(
        server_info(&mut r, &mut rec, server),
        (true, Some(addr.port()))
    );

    // More clients queue while paused and the fault lasts: no event, no busy loop.
    connect_with_token(&mut spare[1], addr, 1);
    connect_with_token(&mut spare[2], addr, 2);
    let work = idle_work(&mut r, &mut rec, 30);
    assert_eq!((work.events, work.tasks), (0, 0), "no work while paused");

    // D1: resume while still out of fds → exactly one more error, paused again, flat.
    ask(&mut r, &mut rec, |r, d| {
        r.tcp_server().set_paused(server, false, d)
    })
    .unwrap();
    assert_eq!(rec.accept_errors.len(), 2);
    assert_eq!(rec.accept_errors[1], (server, -12));
    let work = idle_work(&mut r, &mut rec, 30);
    assert_eq!((work.events, work.tasks), (0, 0), "no retry loop");
    assert!(server_info(&mut r, &mut rec, server).0);
    assert!(rec.accepted.is_empty());

    // Recovery: every client that queued meanwhile is accepted exactly once.
    drop(out);
    ask(&mut r, &mut rec, |r, d| {
        r.tcp_server().set_paused(server, false, d)
    })
    .unwrap();
    turn_until(&mut r, &mut rec, |rec| {
        rec.received.values().map(Vec::len).sum::<usize>() == 3 * token(0).len()
    });
    assert_eq!(rec.accepted.len(), 3);
    assert_eq!(rec.accept_errors.len(), 2);
    assert_tokens_delivered_once(&rec, &[0, 1, 2]);
    assert!(!server_info(&mut r, &mut rec, server).0);
}

#[test]
fn resume_with_an_empty_queue_while_out_of_fds_raises_one_error_and_burns_no_cpu() {
    let _fds = FdGuard::new();
    let (mut r, mut rec, server, addr) = serving(Rec::reading());
    ask(&mut r, &mut rec, |r, d| {
        r.tcp_server().set_paused(server, true, d)
    })
    .unwrap();
    let mut cpu_clock = ThreadCpu::open();
    let out = OutOfFds::new();

    // accept4(2) allocates the fd before looking at the queue: EMFILE with nothing queued.
    ask(&mut r, &mut rec, |r, d| {
        r.tcp_server().set_paused(server, false, d)
    })
    .unwrap();
    assert_eq!(rec.accept_errors, vec![(server, -12)]);
    let cpu_before = cpu_clock.ticks();
    let work = idle_work(&mut r, &mut rec, 30); // ~300 ms of 10 ms turns
    let cpu = cpu_clock.ticks() - cpu_before;
    assert_eq!((work.events, work.tasks), (0, 0), "no retry loop");
    assert!(cpu < 15, "turning an idle reactor used {cpu} ticks of CPU");
    assert_eq!(rec.accept_errors.len(), 1, "exactly one on_accept_error");
    assert_eq!(
        server_info(&mut r, &mut rec, server),
        (true, Some(addr.port()))
    );

    drop(out);
    ask(&mut r, &mut rec, |r, d| {
        r.tcp_server().set_paused(server, false, d)
    })
    .unwrap();
    let _client = token_client(addr, 7);
    turn_until(&mut r, &mut rec, |rec| {
        rec.received.values().map(Vec::len).sum::<usize>() == token(7).len()
    });
    assert_tokens_delivered_once(&rec, &[7]);
    assert_eq!(rec.accept_errors.len(), 1);
    drop(cpu_clock);
}

#[test]
fn listen_and_connect_out_of_fds_fail_with_minus_12_and_creating_sockets_costs_no_fd() {
    let _fds = FdGuard::new();
    let mut r: Reactor<()> = Reactor::new().unwrap();
    let server = create_server(&mut r, &mut (), ServerProps::default());
    let tcp = create(&mut r, &mut (), TcpProps::default());
    let target = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = target.local_addr().unwrap().port() as i32;
    let out = OutOfFds::new();

    let res = ask(&mut r, &mut (), |r, d| {
        r.tcp_server().listen(server, "127.0.0.1", 0, None, d)
    });
    assert_last_error(&res, "net::ERR_INSUFFICIENT_RESOURCES", Some(-12));
    let info = ask(&mut r, &mut (), |r, d| r.tcp_server().get_info(server, d)).unwrap();
    assert_eq!(info.local_address, None);
    let res = ask(&mut r, &mut (), |r, d| {
        r.tcp().connect(tcp, "127.0.0.1", port, d)
    });
    assert_last_error(&res, "net::ERR_INSUFFICIENT_RESOURCES", Some(-12));
    let info = ask(&mut r, &mut (), |r, d| r.tcp().get_info(tcp, d)).unwrap();
    assert!(!info.connected);

    // design §3/§4: create opens no fd, so it works with none left.
    let mut made = Vec::new();
    for _ in 0..100 {
        let s = ask(&mut r, &mut (), |r, d| {
            r.tcp_server().create(ServerProps::default(), d)
        });
        let t = ask(&mut r, &mut (), |r, d| {
            r.tcp().create(TcpProps::default(), d)
        });
        made.push((s.unwrap().socket_id, t.unwrap().socket_id));
    }
    let servers = ask(&mut r, &mut (), |r, d| r.tcp_server().get_sockets(d)).unwrap();
    assert_eq!(servers.len(), 101);

    // After recovery the same ids work.
    drop(out);
    ask(&mut r, &mut (), |r, d| {
        r.tcp_server().listen(server, "127.0.0.1", 0, None, d)
    })
    .unwrap();
    ask(&mut r, &mut (), |r, d| {
        r.tcp().connect(tcp, "127.0.0.1", port, d)
    })
    .unwrap();
    for (s, t) in made {
        ask(&mut r, &mut (), |r, d| r.tcp_server().close(s, d)).unwrap();
        ask(&mut r, &mut (), |r, d| r.tcp().close(t, d)).unwrap();
    }
}
