//! The reactor inside GLib's main context (the loop of GTK applications).
//!
//! ```text
//! cargo run --example embed_glib -- [--seconds S] [--self-test | --burst N]
//! ```
//!
//! Needs GLib's development files (`libglib2.0-dev` on Debian; `.ci/deps` installs them).
//!
//! Two GLib sources on the default `MainContext` drive the reactor:
//!
//! - a unix fd source on the poll fd (`AsRawFd`): GLib polls it level-triggered, and its
//!   callback takes one non-blocking turn, which takes everything the fd reported (so the level
//!   does not spin);
//! - a timeout source for the reactor's timeout, re-armed after anything that called into the
//!   reactor ([`Data::schedule`]): a turn or a host line can queue work the poll fd never
//!   reports (a listener with more connections than one accept batch, callbacks queued by
//!   callbacks), and `next_timeout()` is then zero. GLib counts in milliseconds, so the delay
//!   is rounded up: rounded down, the timer would fire early and spin until the deadline.
//!
//! GLib's callbacks are `'static` closures, so the reactor and its state share one
//! `Rc<RefCell<_>>`; no reactor callback re-enters GLib, so the borrow never conflicts.
//! The host's own source is a unix socket that another thread writes lines to, watched by a
//! unix fd source of its own. The reactor prints its echo server's address
//! (`listening on 127.0.0.1:<port>`). `--self-test` and `--burst N` are described in
//! `examples/embed_shared/mod.rs`.

// The command line of every example: the library's examples/common, shared rather than copied.
#[path = "../../examples/common/mod.rs"]
mod common;
mod embed_shared;
use embed_shared as shared;

use std::cell::RefCell;
use std::io::{self, Read};
use std::os::fd::AsRawFd;
use std::os::unix::net::UnixStream;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use chrome_sockets::Reactor;
use glib::{ControlFlow, IOCondition, MainLoop, SourceId};

use shared::App;

/// What the GLib sources share: the reactor, the state it lends, the reactor's timer source.
struct Data {
    reactor: Reactor<App>,
    app: App,
    main_loop: MainLoop,
    /// The GLib timeout armed for the reactor's `next_timeout()`, if any.
    timer: Option<SourceId>,
}

type Shared = Rc<RefCell<Data>>;

impl Data {
    /// One non-blocking turn; the caller re-arms the timer ([`Data::schedule`]).
    fn turn(&mut self) {
        if let Err(e) = self.app.turn(&mut self.reactor) {
            eprintln!("embed_glib: turn: {e}");
            self.main_loop.quit();
        }
    }
}

/// Re-arms the reactor's timeout source for `next_timeout()`, and quits once the test mode is
/// complete.
fn schedule(data: &Shared) {
    let mut d = data.borrow_mut();
    if d.app.done() {
        d.main_loop.quit();
    }
    if let Some(old) = d.timer.take() {
        old.remove();
    }
    let Some(delay) = d.reactor.next_timeout() else {
        return; // only I/O can create work: the fd source will see it
    };
    let millis = (delay.as_nanos() + 999_999) / 1_000_000;
    let delay = Duration::from_millis(u64::try_from(millis).unwrap_or(u64::MAX));
    let data2 = data.clone();
    d.timer = Some(glib::timeout_add_local_once(delay, move || {
        data2.borrow_mut().timer = None; // this source ends with this callback
        data2.borrow_mut().turn();
        schedule(&data2);
    }));
}

fn main() -> ExitCode {
    shared::main("embed_glib", "GLib's main context", serve)
}

fn serve(args: shared::Args) -> io::Result<ExitCode> {
    // The host's own source: a unix socket another thread writes lines to.
    let (host_end, thread_end) = UnixStream::pair()?;
    host_end.set_nonblocking(true)?;
    let (reactor, app) = shared::start(args.mode, shared::write_link(thread_end))?;
    let reactor_fd = reactor.as_raw_fd();
    let main_loop = MainLoop::new(None, false);
    let data: Shared = Rc::new(RefCell::new(Data {
        reactor,
        app,
        main_loop: main_loop.clone(),
        timer: None,
    }));

    let d = data.clone();
    let reactor_source = glib::unix_fd_add_local(reactor_fd, IOCondition::IN, move |_, _| {
        d.borrow_mut().turn();
        schedule(&d);
        ControlFlow::Continue
    });

    let d = data.clone();
    let mut host_end = host_end;
    let mut buf = Vec::new();
    let host_source = glib::unix_fd_add_local(
        host_end.as_raw_fd(),
        IOCondition::IN | IOCondition::HUP,
        move |_, _| {
            let mut chunk = [0u8; 512];
            let open = loop {
                match host_end.read(&mut chunk) {
                    Ok(0) => break false,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => break true,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(_) => break false,
                }
            };
            for line in shared::take_lines(&mut buf) {
                let mut guard = d.borrow_mut();
                let Data { reactor, app, .. } = &mut *guard;
                app.host_line(reactor, &line);
            }
            // Those calls may have queued work: the timer must know.
            schedule(&d);
            if open {
                ControlFlow::Continue
            } else {
                ControlFlow::Break // every writer is gone: stop watching
            }
        },
    );

    // The host's own limit, a timeout source of its own.
    let ml = main_loop.clone();
    let limit = glib::timeout_add_local_once(args.limit, move || ml.quit());

    // `start` queued the server's create: arm the timer for it.
    schedule(&data);
    main_loop.run();

    // Drop every source, so that their closures let go of the shared data.
    let timer = data.borrow_mut().timer.take();
    let context = glib::MainContext::default();
    for source in [Some(reactor_source), Some(host_source), timer, Some(limit)] {
        // A source that already ran to its end is gone; removing it again would panic.
        if let Some(source) = source.filter(|s| context.find_source_by_id(s).is_some()) {
            source.remove();
        }
    }
    let data = Rc::try_unwrap(data)
        .map_err(|_| {
            io::Error::new(
                io::ErrorKind::Other,
                "a GLib source still holds the reactor",
            )
        })?
        .into_inner();
    Ok(data.app.finish("embed_glib"))
}
