//! `chrome.sockets.tcp` commands that change the connection or move data: connect (whose
//! result the kernel decides), disconnect, send.

use std::net::IpAddr;

use chrome_sockets::fault_injection::Syscall;
use chrome_sockets::{tcp, LastError, NetError, Reactor, TcpSocketId};

use super::{refusing_ports, Exec};
use crate::cmd::*;
use crate::model::{eintr_retried, never_retried, Fate, Fifo, Link, MConn, OutSend, World};
use crate::trace::{Got, Seen};

impl Exec {
    pub(super) fn tcp_connect(&mut self, p: Pick, host: ConnectHost, port: ConnectPort) {
        let id = self.tid(p);
        let text = host.value();
        let v6 = matches!(host, ConnectHost::V6);
        let (refused4, refused6) = refusing_ports();
        let refused = if v6 { refused6 } else { refused4 };
        // (port, the listener's backlog is small, server, listen generation) for a live
        // compatible listener.
        let target: Option<(u16, bool, i32, u64)> = match port {
            ConnectPort::OfServer(q) => {
                let sid = self.sid(q);
                self.w.servers.get(&sid).and_then(|s| {
                    let l = s.listen.as_ref()?;
                    let fits = match l.ip {
                        IpAddr::V4(a) => !v6 && (a.is_loopback() || a.is_unspecified()),
                        IpAddr::V6(a) => a.is_unspecified() || (v6 && a.is_loopback()),
                    };
                    fits.then_some((l.port?, l.small_backlog, sid, l.gen))
                })
            }
            _ => None,
        };
        let port_val: i32 = match port {
            ConnectPort::OfServer(_) => target.map_or(refused as i32, |t| t.0 as i32),
            ConnectPort::Refused => refused as i32,
            ConnectPort::Zero => 0,
            ConnectPort::Minus1 => -1,
            ConnectPort::P65536 => 65536,
        };
        let desc = format!("tcp.connect {id} {text:?} {port_val}");
        let allowed = match self.w.manifest {
            ManifestChoice::None | ManifestChoice::ConnectOnly => true,
            ManifestChoice::Loopback4 => text == "127.0.0.1",
            ManifestChoice::ListenOnly => false,
        };
        let immediate = match self.w.tcps.get(&id) {
            None => Some(Got::not_found()),
            Some(_) if !allowed => Some(Got::no_permission()),
            Some(_) if !(0..=65535).contains(&port_val) => Some(Got::net(-4)),
            Some(t) => match t.conn {
                MConn::Connected { .. } => Some(Got::net(-23)),
                MConn::Connecting { .. } => Some(Got::net(-104)),
                MConn::Idle => None,
            },
        };
        let tid = TcpSocketId::from_raw(id);
        if let Some(want) = immediate {
            let seq = self.w.expect_exact(desc, want);
            return self
                .r()
                .tcp()
                .connect(tid, text, port_val, World::unit_callback(seq));
        }
        // An IP literal connects now: an armed fault answers at once (connect column).
        self.w.sync_fault(Syscall::Connect);
        let literal = !matches!(host, ConnectHost::Localhost | ConnectHost::NulName);
        if literal {
            if let Some(errno) = self.w.take_fault(Syscall::Connect, never_retried) {
                let code = NetError::from_connect_errno(errno).code();
                let seq = self.w.expect_exact(desc, Got::net(code));
                self.r()
                    .tcp()
                    .connect(tid, text, port_val, World::unit_callback(seq));
                return self.w.sync_fault(Syscall::Connect);
            }
        }
        // A host name connects after the lookup, to one address after another: a fault armed
        // now, or before the lookup returns, may fail it.
        let (armed, epoch) = (self.w.armed(Syscall::Connect) > 0, self.w.fault_epoch);
        let may_hang = target.is_some_and(|t| t.1);
        let expect_ok = target.is_some() && host != ConnectHost::NulName;
        let seq = self.w.expect(
            desc,
            false,
            Box::new(move |w, g| {
                let t = w
                    .tcps
                    .get(&id)
                    .ok_or("connect answered for a closed socket")?;
                ensure!(
                    matches!(t.conn, MConn::Connecting { .. }),
                    "connect answered while the model has {:?}",
                    t.conn
                );
                // A listener closed since the connect began resets the connection.
                let still_listening = target.is_some_and(|(_, _, sid, gen)| {
                    w.servers
                        .get(&sid)
                        .and_then(|s| s.listen.as_ref())
                        .is_some_and(|l| l.gen == gen)
                });
                let t = w
                    .tcps
                    .get_mut(&id)
                    .ok_or("connect answered for a closed socket")?;
                let fine = match g {
                    Got::Unit => expect_ok,
                    Got::Err(..) if host == ConnectHost::NulName => *g == Got::net(-105),
                    // An armed fault answers before the kernel could refuse or reset.
                    Got::Err(..) if armed || w.fault_epoch > epoch => g.is_net_error(),
                    Got::Err(..) if expect_ok && !still_listening => {
                        [Got::net(-101), Got::net(-102), Got::net(-103)].contains(g)
                    }
                    Got::Err(..) if port_val == 0 || may_hang => true,
                    Got::Err(..) => !expect_ok && *g == Got::net(-102),
                    _ => false,
                };
                ensure!(
                    fine,
                    "connect result (expected {})",
                    if expect_ok { "Ok" } else { "an error" }
                );
                t.conn = if *g == Got::Unit {
                    // The other end is now the reactor's own server (an accepted socket that
                    // connects again leaves its old peer behind).
                    t.link = Link::Reactor;
                    MConn::Connected { maybe_gone: true }
                } else {
                    MConn::Idle
                };
                w.sync_fault(Syscall::Connect);
                Ok(())
            }),
        );
        self.w.pending.get_mut(&seq).unwrap().may_stay = may_hang;
        self.w.tcps.get_mut(&id).unwrap().conn = MConn::Connecting { seq };
        self.r()
            .tcp()
            .connect(tid, text, port_val, World::unit_callback(seq));
    }

    pub(super) fn tcp_disconnect(&mut self, p: Pick) {
        let id = self.tid(p);
        let desc = format!("tcp.disconnect {id}");
        let seq = match self.w.tcps.get_mut(&id) {
            Some(t) => {
                let conn = std::mem::replace(&mut t.conn, MConn::Idle);
                // D9: sends still queued fail with -15 (before the disconnect's callback).
                let recv_err = matches!(conn, MConn::Connected { .. }) && !t.paused;
                if recv_err {
                    t.paused = true;
                    t.paused_by = self.w.next_seq;
                }
                self.w.cut_sends(id);
                self.w.connect_aborted(conn);
                let seq = self.w.expect_exact(desc, Got::Unit);
                if recv_err {
                    // A reading socket gets on_receive_error -100 right after the callback.
                    self.w.fifo.push_back(Fifo::RecvErr(id, self.w.turns));
                }
                seq
            }
            None => self.w.expect_exact(desc, Got::not_found()),
        };
        self.r()
            .tcp()
            .disconnect(TcpSocketId::from_raw(id), World::unit_callback(seq));
    }

    pub(super) fn tcp_send(&mut self, p: Pick, len: usize) {
        let id = self.tid(p);
        self.send_bytes(id, len, false);
    }

    /// Sends `len` pattern bytes on `id`. A send queued behind another whose callback has
    /// not run, or a `big` one (it may wait for the peer to read), is checked when it
    /// completes ([`OutSend`]); the others have an immediate, exact or kernel-decided result.
    pub(super) fn send_bytes(&mut self, id: i32, len: usize, big: bool) {
        let base = self.w.tcps.get(&id).map_or(0, |t| t.sent.len());
        let data: Vec<u8> = (0..len)
            .map(|i| (id as u8).wrapping_mul(13).wrapping_add((base + i) as u8))
            .collect();
        let desc = format!("tcp.send {id} {len} bytes");
        let tid = TcpSocketId::from_raw(id);
        let conn = self.w.tcps.get(&id).map(|t| t.conn);
        self.w.sync_fault(Syscall::Send);
        let behind = self.w.sending(id);
        match conn {
            None => {
                let seq = self.w.expect_exact(desc, Got::not_found());
                self.r().tcp().send(tid, data, send_callback(seq));
            }
            Some(MConn::Idle | MConn::Connecting { .. }) => {
                let seq = self.w.expect_exact(desc, Got::net(-15));
                self.r().tcp().send(tid, data, send_callback(seq));
            }
            // Nothing queued: the write happens now, and an armed fault fails it (D9).
            Some(MConn::Connected { .. })
                if !behind && len > 0 && self.w.armed(Syscall::Send) > 0 =>
            {
                match self.w.take_fault(Syscall::Send, eintr_retried) {
                    Some(errno) => {
                        let code = NetError::from_errno(errno).code();
                        let seq = self.w.expect_exact(desc, Got::net(code));
                        let t = self.w.tcps.get_mut(&id).expect("live");
                        t.conn = MConn::Idle;
                        if !t.paused {
                            t.paused = true;
                            self.w.fifo.push_back(Fifo::RecvErr(id, self.w.turns));
                        }
                        self.r().tcp().send(tid, data, send_callback(seq));
                        self.w.sync_fault(Syscall::Send);
                    }
                    // Only retried units: they are taken and the send goes on.
                    None => self.send_connected(id, data, desc, big, false),
                }
            }
            Some(MConn::Connected { .. }) => self.send_connected(id, data, desc, big, behind),
        }
    }

    fn send_connected(&mut self, id: i32, data: Vec<u8>, desc: String, big: bool, behind: bool) {
        let tid = TcpSocketId::from_raw(id);
        let len = data.len();
        let Some(MConn::Connected { maybe_gone }) = self.w.tcps.get(&id).map(|t| t.conn) else {
            unreachable!("connected");
        };
        if big || behind {
            self.w.record_sent(id, &data);
            let seq = self.w.next_seq;
            let loose =
                maybe_gone || self.w.armed(Syscall::Send) > 0 || self.w.armed(Syscall::Read) > 0;
            let out = OutSend {
                id,
                len,
                fate: Fate::Open,
                loose: (loose, self.w.fault_epoch),
            };
            self.w.out_sends.insert(seq, out);
            let got = self
                .w
                .expect(desc, false, Box::new(move |w, g| w.send_done(seq, g)));
            assert_eq!(got, seq, "sequence numbers are consecutive");
            // It waits for the peer: `drain` does not wait for it (the final drain does).
            self.w.pending.get_mut(&seq).expect("pending").may_stay = true;
            self.r().tcp().send(tid, data, send_callback(seq));
            // Written at once (the sends before it may already be out in the library, though
            // their callbacks have not run), a send that may fail can disconnect the socket
            // before the next command: settle which, as for a peer that may be gone.
            if maybe_gone || (behind && loose) {
                self.settle_send(id, seq);
            }
            return;
        }
        if len == 0 || !maybe_gone {
            self.w.record_sent(id, &data);
            let seq = self.w.expect_exact(desc, Got::Sent(len));
            self.r().tcp().send(tid, data, send_callback(seq));
            return;
        }
        let d = data.clone();
        let seq = self.w.expect(
            desc,
            true,
            Box::new(move |w, g| {
                match g {
                    Got::Sent(n) if *n == len => w.record_sent(id, &d),
                    g if g.is_net_error() => {
                        // The write failed: disconnected; a reading socket gets -100 next.
                        let t = w.tcps.get_mut(&id).expect("live");
                        t.conn = MConn::Idle;
                        if !t.paused {
                            t.paused = true;
                            w.fifo.push_front(Fifo::RecvErr(id, w.turns - 1));
                        }
                    }
                    _ => return Err("expected every byte sent or a net error".into()),
                }
                Ok(())
            }),
        );
        self.r().tcp().send(tid, data, send_callback(seq));
        self.drain(Some(seq));
        self.check("resolving a send to a peer that may be gone");
    }
}

impl Exec {
    /// A send written at once that may fail (its peer may be gone, or a send fault is armed
    /// behind an earlier send the library may already have finished) can fail at once,
    /// disconnecting the socket before the next command. A harness `getInfo` right behind it settles
    /// which: its answer is the state after the send call, and the send's callback, queued
    /// ahead of it exactly when the send failed at once, has run by then.
    fn settle_send(&mut self, id: i32, send: u64) {
        let seq = self.w.expect(
            format!("(harness) tcp.getInfo {id} after a send that may fail at once"),
            true,
            Box::new(move |w, g| {
                let Got::TInfo(i) = g else {
                    return Err("expected info".into());
                };
                let failed = w.seen.steps.iter().flat_map(|s| &s.seen).any(
                    |s| matches!(s, Seen::Callback { seq, got: Got::Err(..), .. } if *seq == send),
                );
                ensure!(
                    i.connected != failed,
                    "connected {} after send #{send} (failed at once: {failed})",
                    i.connected
                );
                Ok(())
            }),
        );
        self.r().tcp().get_info(
            TcpSocketId::from_raw(id),
            World::callback(seq, |r| Got::from_result(r, Got::TInfo)),
        );
        self.drain(Some(seq));
        self.check("settling a send that may fail at once");
    }
}

/// The API callback of a send that completes expected callback `seq`.
pub(super) fn send_callback(
    seq: u64,
) -> impl FnOnce(&mut Reactor<World>, &mut World, Result<tcp::SendInfo, LastError>) + 'static {
    World::callback(seq, |r| {
        Got::from_result(r, |s: tcp::SendInfo| Got::Sent(s.bytes_sent))
    })
}
