//! Ensures an accept that fails for lack of fds (EMFILE) raises `on_accept_error` -12 once,
//! pauses the server without a busy loop, and that `set_paused(false)` recovers it (D1).
//! Its own test binary: it lowers the process-wide RLIMIT_NOFILE.
mod util;
use util::*;

use std::fs::File;
use std::time::Duration;

use chrome_sockets::tcp_server::{AcceptErrorInfo, AcceptInfo};
use chrome_sockets::{NetError, Reactor};
use rlimit::Resource;

#[derive(Default)]
struct App {
    accepts: Vec<AcceptInfo>,
    errors: Vec<AcceptErrorInfo>,
}

/// Puts RLIMIT_NOFILE back however the test ends.
struct RestoreLimit(u64, u64);

impl Drop for RestoreLimit {
    fn drop(&mut self) {
        rlimit::setrlimit(Resource::NOFILE, self.0, self.1).expect("restore RLIMIT_NOFILE");
    }
}

#[test]
fn emfile_on_accept_reports_minus_12_once_pauses_and_resume_recovers() {
    let mut r: Reactor<App> = Reactor::new().unwrap();
    let mut app = App::default();
    r.tcp_server()
        .on_accept()
        .add_listener(|_, app, info| app.accepts.push(*info));
    r.tcp_server()
        .on_accept_error()
        .add_listener(|_, app, info| app.errors.push(*info));
    let (server, addr) = listening_server(&mut r, &mut app, "127.0.0.1");

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

    turn_until(&mut r, &mut app, |a| !a.errors.is_empty());
    assert_eq!(
        app.errors,
        [AcceptErrorInfo {
            socket_id: server,
            result_code: NetError::INSUFFICIENT_RESOURCES,
        }]
    );
    assert_eq!(NetError::INSUFFICIENT_RESOURCES.code(), -12);
    assert!(app.accepts.is_empty());

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
    assert_eq!(app.errors.len(), 1, "on_accept_error exactly once");

    // Free fds, raise the limit, resume: the client still queued in the backlog is accepted.
    drop(hog);
    drop(restore);
    let out = slot();
    r.tcp_server().set_paused(server, false, put(&out));
    wait(&mut r, &mut app, &out).unwrap();
    turn_until(&mut r, &mut app, |a| a.accepts.len() == 1);
    turn_n(&mut r, &mut app, 3);
    assert_eq!(app.accepts.len(), 1);
    assert_eq!(app.errors.len(), 1);
    let out = slot();
    r.tcp().get_info(app.accepts[0].client_socket_id, put(&out));
    let tcp = wait(&mut r, &mut app, &out).unwrap();
    assert_eq!(tcp.peer_port, Some(client.local_addr().unwrap().port()));
}
