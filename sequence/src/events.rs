//! Events, checked by invariants as they arrive: no event for a closed id, no `on_accept` for
//! a paused, closed or non-listening server (or before the callback of the `set_paused(false)`
//! that resumed it), accepted ids are the next tcp id, bytes a peer wrote arrive in order and
//! once, every listener registered sees every event once, timers fire in deadline order and
//! never early.

use std::time::Instant;

use chrome_sockets::fault_injection::Syscall;
use chrome_sockets::{tcp, tcp_server, NetError, Reactor};

use crate::cmd::EventKind;
use crate::model::*;
use crate::trace::{Got, Seen};

impl World {
    /// Called before each event reaches the fuzz listeners.
    pub(crate) fn begin_dispatch(&mut self, kind: EventKind) {
        self.end_dispatch();
        self.dispatch_waiting = self
            .listeners
            .iter()
            .enumerate()
            .filter(|(_, l)| l.0 == kind && l.2)
            .map(|(i, _)| i)
            .collect();
    }

    pub(crate) fn end_dispatch(&mut self) {
        if !self.dispatch_waiting.is_empty() {
            let w = std::mem::take(&mut self.dispatch_waiting);
            self.fail(format!("fuzz listeners {w:?} did not see an event"));
        }
    }

    pub(crate) fn fuzz_listener_saw(&mut self, index: usize) {
        match self.dispatch_waiting.iter().position(|&i| i == index) {
            Some(p) => {
                self.dispatch_waiting.remove(p);
            }
            None => self.fail(format!(
                "fuzz listener {index} called twice or unregistered"
            )),
        }
    }

    pub(crate) fn on_accept(&mut self, r: &mut Reactor<World>, info: &tcp_server::AcceptInfo) {
        self.begin_dispatch(EventKind::Accept);
        let (server, client) = (info.socket_id.raw(), info.client_socket_id.raw());
        self.log(|| format!("  event on_accept server={server} client={client}"));
        self.seen.push(Seen::Accept { server, client });
        match self.servers.get(&server) {
            None => return self.fail(format!("on_accept for closed server {server}")),
            Some(s) if s.paused => {
                return self.fail(format!("on_accept for paused server {server}"))
            }
            Some(s) if s.listen.is_none() => {
                return self.fail(format!("on_accept for non-listening server {server}"))
            }
            Some(s) if s.resuming.is_some() => {
                return self.fail(format!(
                    "on_accept for server {server} before the callback of the set_paused(false) \
                     that resumed it"
                ))
            }
            Some(_) => {}
        }
        let turns = self.turns;
        let s = self.servers.get_mut(&server).unwrap();
        s.accepts = if s.accepts.0 == turns {
            (turns, s.accepts.1 + 1)
        } else {
            (turns, 1)
        };
        match self.issue_tcp() {
            Some(id) if id == client => {}
            Some(id) => return self.fail(format!("accepted id {client}, expected {id} (D12)")),
            None => return self.fail(format!("accepted id {client} with every tcp id live")),
        }
        self.tcp_issued.push(client);
        self.tcps.insert(
            client,
            MTcp::new(true, MConn::Connected { maybe_gone: true }, Link::Unknown),
        );
        // Learn whose connection it is from its peer port.
        let seq = self.expect(
            format!("(harness) tcp.get_info {client} after accept"),
            true,
            Box::new(move |w, g| {
                let Got::TInfo(i) = g else {
                    return Err("expected info".into());
                };
                ensure!(
                    i.connected && i.paused && !i.persistent && i.name.is_none(),
                    "accepted socket flags"
                );
                ensure!(
                    i.buffer_size.is_none() && i.local_port.is_some() && i.peer_port.is_some(),
                    "accepted socket addresses (D2)"
                );
                let port = i.peer_port.unwrap();
                let peer = w
                    .peers
                    .iter()
                    .position(|p| p.sock.is_some() && p.local_port == port && p.tcp.is_none());
                let Some(t) = w.tcps.get_mut(&client) else {
                    return Ok(());
                };
                match peer {
                    Some(pi) => {
                        t.link = Link::Peer(pi);
                        let p = &mut w.peers[pi];
                        p.tcp = Some(client);
                        p.expect_in = t.sent.clone();
                        if let MConn::Connected { maybe_gone } = &mut t.conn {
                            *maybe_gone = p.gone;
                        }
                        ensure!(
                            p.written.starts_with(&t.received),
                            "received {:?} is not a prefix of what peer {pi} wrote {:?}",
                            t.received,
                            p.written
                        );
                        ensure!(
                            p.expect_in.starts_with(&p.read),
                            "peer {pi} read wrong bytes"
                        );
                    }
                    None => t.link = Link::Reactor,
                }
                Ok(())
            }),
        );
        r.tcp().get_info(
            info.client_socket_id,
            World::callback(seq, |r| Got::from_result(r, Got::TInfo)),
        );
    }

    pub(crate) fn on_accept_error(&mut self, info: &tcp_server::AcceptErrorInfo) {
        self.begin_dispatch(EventKind::AcceptError);
        let (server, code) = (info.socket_id.raw(), info.result_code.code());
        self.log(|| format!("  event on_accept_error server={server} code={code}"));
        self.seen.push(Seen::AcceptError { server, code });
        // Only an armed accept fault explains one; the retried errnos before it were taken
        // silently.
        let Some(errno) = self.take_fault(Syscall::Accept, accept_retried) else {
            return self.fail(format!("unexpected on_accept_error {info:?}"));
        };
        let want = NetError::from_accept_errno(errno).code();
        let problem = match self.servers.get(&server) {
            None => Some("closed"),
            Some(s) if s.paused => Some("paused"),
            Some(s) if s.listen.is_none() => Some("non-listening"),
            Some(s) if s.resuming.is_some() => Some("resuming (before its set_paused callback)"),
            Some(_) if code != want => Some("wrong code"),
            Some(_) => None,
        };
        if let Some(p) = problem {
            return self.fail(format!(
                "on_accept_error for {p} server {server}: code {code}, injected errno {errno} \
                 maps to {want}"
            ));
        }
        // The server pauses itself after an accept error.
        self.servers.get_mut(&server).unwrap().paused = true;
    }

    pub(crate) fn on_receive(&mut self, info: &tcp::ReceiveInfo) {
        self.begin_dispatch(EventKind::Receive);
        let id = info.socket_id.raw();
        self.log(|| format!("  event on_receive socket={id} bytes={}", info.data.len()));
        self.seen.push(Seen::Receive {
            socket: id,
            data: info.data.clone(),
        });
        let Some(t) = self.tcps.get_mut(&id) else {
            return self.fail(format!("on_receive for closed tcp socket {id}"));
        };
        let size = if t.buffer <= 0 {
            4096
        } else {
            t.buffer as usize
        };
        let problem = if t.paused {
            Some("paused")
        } else if !matches!(t.conn, MConn::Connected { .. }) {
            Some("not connected")
        } else if info.data.is_empty() || info.data.len() > size {
            Some("chunk size outside 1..=buffer_size")
        } else {
            None
        };
        if let Some(p) = problem {
            return self.fail(format!("on_receive for {id}: {p}"));
        }
        if t.resuming.is_some() {
            return self.fail(format!(
                "on_receive for {id} before the callback of the set_paused(false) that resumed it"
            ));
        }
        if info.data.len() == size {
            t.full_chunk_turn = Some(self.turns);
        }
        t.received.extend_from_slice(&info.data);
        if let Link::Peer(pi) = t.link {
            if !self.peers[pi].written.starts_with(&t.received) {
                let msg = format!(
                    "tcp {id} received {:?}, peer {pi} wrote {:?}",
                    t.received, self.peers[pi].written
                );
                self.fail(msg);
            }
        }
    }

    pub(crate) fn on_receive_error(&mut self, info: &tcp::ReceiveErrorInfo) {
        self.begin_dispatch(EventKind::ReceiveError);
        let (id, code) = (info.socket_id.raw(), info.result_code.code());
        self.log(|| format!("  event on_receive_error socket={id} code={code}"));
        self.seen.push(Seen::ReceiveError { socket: id, code });
        if !self.tcps.contains_key(&id) {
            return self.fail(format!("on_receive_error for closed tcp socket {id} (D6)"));
        }
        if let Some(Fifo::RecvErr(fid, _)) = self.fifo.front() {
            if *fid == id {
                self.fifo.pop_front();
                if code != -100 {
                    self.fail(format!(
                        "queued on_receive_error for {id}: code {code}, want -100"
                    ));
                }
                return;
            }
        }
        if let Some(pos) = self
            .fifo
            .iter()
            .position(|f| matches!(f, Fifo::RecvErr(f, _) if *f == id))
        {
            return self.fail(format!(
                "on_receive_error for {id} overtook queued work: queue {:?} (position {pos})",
                self.fifo
            ));
        }
        let t = self.tcps.get_mut(&id).unwrap();
        if std::mem::take(&mut t.late_recv_err) && code == -100 {
            t.paused = true;
            t.conn = MConn::Idle;
            return;
        }
        // From the read path: the socket must be reading, and its peer gone (or a read
        // fault armed). The connection is dropped: sends still queued get -15.
        self.cut_sends(id);
        let injected = self.take_fault(Syscall::Read, eintr_retried);
        let t = self.tcps.get_mut(&id).unwrap();
        if t.paused || !matches!(t.conn, MConn::Connected { .. }) {
            return self.fail(format!(
                "on_receive_error for {id}: paused or not connected"
            ));
        }
        if t.resuming.is_some() {
            return self.fail(format!(
                "on_receive_error for {id} before the callback of the set_paused(false) that \
                 resumed it"
            ));
        }
        if let Some(errno) = injected {
            t.paused = true;
            t.conn = MConn::Idle;
            let want = NetError::from_errno(errno).code();
            if code != want {
                self.fail(format!(
                    "on_receive_error for {id}: code {code}, injected read errno {errno} maps \
                     to {want}"
                ));
            }
            return;
        }
        if let Link::Peer(pi) = t.link {
            let p = &self.peers[pi];
            if !p.shut && !p.gone {
                let msg = format!("on_receive_error {code} for {id} while peer {pi} is open");
                t.paused = true;
                t.conn = MConn::Idle;
                return self.fail(msg);
            }
        }
        t.paused = true;
        t.conn = MConn::Idle;
        if code != -100 && code != -101 {
            self.fail(format!(
                "on_receive_error for {id}: code {code}, want -100 or -101"
            ));
        }
    }

    pub(crate) fn timer_fired(&mut self, index: usize) {
        let now = Instant::now();
        self.log(|| format!("  timer {index} fired"));
        self.seen.push(Seen::Timer { index });
        let t = &self.timers[index];
        if t.state != TState::Pending {
            return self.fail(format!("timer {index} fired in state {:?}", t.state));
        }
        if now < t.due.start {
            return self.fail(format!("timer {index} fired early"));
        }
        let lo = t.due.start;
        if let Some(j) = self
            .timers
            .iter()
            .position(|o| o.state == TState::Pending && o.due.end < lo)
        {
            return self.fail(format!("timer {index} fired before earlier timer {j}"));
        }
        self.timers[index].state = TState::Fired;
    }
}
