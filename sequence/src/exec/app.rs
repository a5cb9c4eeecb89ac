//! The app's side: event listeners, timers, and the lifecycle (`suspend_app`, `unload_app`,
//! dropping the reactor).

use std::time::{Duration, Instant};

use super::{wait_fds, Exec};
use crate::cmd::{EventKind, Pick};
use crate::model::{MTimer, TState, World};

/// Evaluates `$body` with `$e` bound to the reactor `$r`'s event of kind `$kind`.
macro_rules! with_event {
    (@on $r:expr, $api:ident . $event:ident, $e:ident, $body:expr) => {{
        let mut api = $r.$api();
        #[allow(unused_mut)]
        let mut $e = api.$event();
        $body
    }};
    ($r:expr, $kind:expr, |$e:ident| $body:expr) => {
        match $kind {
            EventKind::Accept => with_event!(@on $r, tcp_server.on_accept, $e, $body),
            EventKind::AcceptError => with_event!(@on $r, tcp_server.on_accept_error, $e, $body),
            EventKind::Receive => with_event!(@on $r, tcp.on_receive, $e, $body),
            EventKind::ReceiveError => with_event!(@on $r, tcp.on_receive_error, $e, $body),
        }
    };
}

impl Exec {
    pub(super) fn add_listener(&mut self, event: EventKind) {
        let index = self.w.listeners.len();
        let id = with_event!(self.r(), event, |e| {
            e.add_listener(move |_, w: &mut World, _| w.fuzz_listener_saw(index))
        });
        self.w.listeners.push((event, id, true));
        self.w.log(|| format!("  listener {index} = {id:?}"));
        self.check_has_listener(index);
    }

    /// Removes listener number `which % count` (nothing when none was added).
    pub(super) fn remove_listener(&mut self, which: Pick) {
        let n = self.w.listeners.len();
        if n == 0 {
            return self.w.log(|| "  (no listener to remove)".into());
        }
        let index = which.0 as usize % n;
        let (event, id, live) = self.w.listeners[index];
        let removed = with_event!(self.r(), event, |e| e.remove_listener(id));
        assert_eq!(removed, live, "remove_listener({index}) returned {removed}");
        self.w.listeners[index].2 = false;
        self.check_has_listener(index);
    }

    fn check_has_listener(&mut self, index: usize) {
        let (event, id, live) = self.w.listeners[index];
        let (has, any) = with_event!(self.r(), event, |e| (e.has_listener(id), e.has_listeners()));
        assert_eq!(has, live, "has_listener({index})");
        assert!(any, "has_listeners with the harness's own listener");
    }

    pub(super) fn set_timeout(&mut self, d: Duration) {
        let index = self.w.timers.len();
        let lo = Instant::now() + d;
        let id = self
            .r()
            .set_timeout(d, move |_, w: &mut World| w.timer_fired(index));
        let hi = Instant::now() + d;
        self.w.timers.push(MTimer {
            id,
            due: lo..hi,
            state: TState::Pending,
        });
    }

    /// Clears timer number `which % count` (nothing when none was set).
    pub(super) fn clear_timeout(&mut self, which: Pick) {
        let n = self.w.timers.len();
        if n == 0 {
            return;
        }
        let i = which.0 as usize % n;
        let t = self.w.timers[i].id;
        let was = self.w.timers[i].state == TState::Pending;
        let got = self.r().clear_timeout(t);
        assert_eq!(got, was, "clear_timeout({i}) returned {got}");
        if was {
            self.w.timers[i].state = TState::Cleared;
        }
    }

    /// Every socket that is not persistent closes.
    pub(super) fn suspend_app(&mut self) {
        self.w.servers.retain(|_, s| s.persistent);
        let tcps: Vec<i32> = self
            .w
            .tcps
            .iter()
            .filter(|(_, t)| !t.persistent)
            .map(|(&id, _)| id)
            .collect();
        for id in tcps {
            self.w.close_tcp_model(id);
        }
        self.r().suspend_app();
    }

    /// Every socket closes, every listener is removed, nothing queued runs.
    pub(super) fn unload_app(&mut self) {
        self.r().unload_app();
        self.forget_pending();
        self.w.servers.clear();
        self.w.tcps.clear();
        for l in &mut self.w.listeners {
            l.2 = false;
        }
        self.add_observers();
    }

    /// Drops the reactor (every fd it held closes) and builds a new one: ids start again.
    pub(super) fn drop_reactor(&mut self) {
        self.r = None;
        self.forget_pending();
        self.w.servers.clear();
        self.w.tcps.clear();
        self.w.listeners.clear();
        self.w.timers.clear();
        self.w.server_issued.clear();
        self.w.tcp_issued.clear();
        self.w.restart_ids();
        for p in &mut self.w.peers {
            p.tcp = None;
        }
        let peers = self.w.peers.iter().filter(|p| p.sock.is_some()).count();
        wait_fds(self.baseline + peers, "after drop_reactor");
        self.new_reactor();
    }

    /// Everything queued is discarded (unload or drop): none of it may run.
    fn forget_pending(&mut self) {
        self.w.pending.clear();
        self.w.out_sends.clear();
        self.w.fifo.clear();
        for t in &mut self.w.timers {
            if t.state == TState::Pending {
                t.state = TState::Dropped;
            }
        }
    }
}
