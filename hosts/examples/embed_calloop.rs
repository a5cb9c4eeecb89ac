//! The reactor as calloop event sources, sharing calloop's `&mut Data`.
//!
//! ```text
//! cargo run --example embed_calloop -- [--seconds S] [--self-test | --burst N]
//! ```
//!
//! calloop hands every source callback its `&mut Data`; here `Data` holds the reactor and the
//! application state the reactor lends to its own callbacks, so neither needs an
//! `Rc<RefCell<_>>`. Two calloop sources drive the reactor:
//!
//! - the poll fd (a duplicate of `AsFd`, so calloop owns what it watches) through
//!   `calloop::generic::Generic`, level-triggered: its callback takes one non-blocking turn,
//!   which takes everything the fd reported (so the level does not spin);
//! - the reactor's timeout through a `calloop::timer::Timer`, re-armed after anything that
//!   called into the reactor ([`Data::schedule`]): a turn or a host line can queue work that
//!   the poll fd never reports (a listener with more connections than one accept batch,
//!   callbacks queued by callbacks), and `next_timeout()` is then zero.
//!
//! The host's own source is a calloop channel that another thread sends lines on. The reactor
//! prints its echo server's address (`listening on 127.0.0.1:<port>`). `--self-test` and
//! `--burst N` are described in `examples/embed_shared/mod.rs`.

// The command line of every example: the library's examples/common, shared rather than copied.
#[path = "../../examples/common/mod.rs"]
mod common;
mod embed_shared;
use embed_shared as shared;

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::process::ExitCode;

use calloop::channel::{self, Channel};
use calloop::generic::Generic;
use calloop::timer::{TimeoutAction, Timer};
use calloop::{EventLoop, Interest, LoopHandle, LoopSignal, Mode, PostAction, RegistrationToken};
use chrome_sockets::Reactor;

use shared::App;

/// calloop's shared data: the reactor, the state it lends, and the reactor's timer source.
struct Data {
    reactor: Reactor<App>,
    app: App,
    handle: LoopHandle<'static, Data>,
    signal: LoopSignal,
    /// The calloop timer armed for the reactor's `next_timeout()`, if any.
    timer: Option<RegistrationToken>,
}

impl Data {
    /// One non-blocking turn, then the timer for what it left.
    fn turn(&mut self) -> io::Result<()> {
        self.app.turn(&mut self.reactor)?;
        self.schedule();
        Ok(())
    }

    /// Re-arms the reactor's timer source for `next_timeout()` (zero: as soon as calloop
    /// dispatches again), and stops the loop once the test mode is complete.
    fn schedule(&mut self) {
        if self.app.done() {
            self.signal.stop();
        }
        if let Some(old) = self.timer.take() {
            self.handle.remove(old);
        }
        let Some(delay) = self.reactor.next_timeout() else {
            return; // only I/O can create work: the Generic source will see it
        };
        let timer = Timer::from_duration(delay);
        match self.handle.insert_source(timer, |_, _, data: &mut Data| {
            data.timer = None; // this timer ends with this callback
            if let Err(e) = data.turn() {
                eprintln!("embed_calloop: turn: {e}");
                data.signal.stop();
            }
            TimeoutAction::Drop
        }) {
            Ok(token) => self.timer = Some(token),
            Err(e) => {
                eprintln!("embed_calloop: arming the reactor's timer: {e}");
                self.signal.stop();
            }
        }
    }
}

fn main() -> ExitCode {
    shared::main("embed_calloop", "a calloop EventLoop", serve)
}

fn serve(args: shared::Args) -> Result<ExitCode, Box<dyn std::error::Error>> {
    let mut event_loop: EventLoop<'static, Data> = EventLoop::try_new()?;
    let handle = event_loop.handle();

    // The host's own source: lines from another thread.
    let (lines_tx, lines): (_, Channel<String>) = channel::channel();
    handle.insert_source(lines, |event, _, data: &mut Data| {
        if let channel::Event::Msg(line) = event {
            data.app.host_line(&mut data.reactor, &line);
            // That call may have queued work: the timer must know.
            data.schedule();
        }
    })?;
    let link: shared::Link = Box::new(move |line: &str| {
        lines_tx
            .send(line.to_owned())
            .map_err(|_| io::Error::new(io::ErrorKind::Other, "the event loop is gone"))
    });

    let (reactor, app) = shared::start(args.mode, link)?;
    let poll_fd: OwnedFd = reactor.as_fd().try_clone_to_owned()?;
    handle.insert_source(
        Generic::new(poll_fd, Interest::READ, Mode::Level),
        |_, _, data: &mut Data| {
            data.turn()?;
            Ok(PostAction::Continue)
        },
    )?;
    // The host's own limit, a timer source of its own.
    handle.insert_source(Timer::from_duration(args.limit), |_, _, data: &mut Data| {
        data.signal.stop();
        TimeoutAction::Drop
    })?;

    let mut data = Data {
        reactor,
        app,
        handle,
        signal: event_loop.get_signal(),
        timer: None,
    };
    // `start` queued the server's create: arm the timer for it.
    data.schedule();
    event_loop.run(None, &mut data, |_| {})?;
    Ok(data.app.finish("embed_calloop"))
}
