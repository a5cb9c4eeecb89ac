//! `chrome.sockets.tcp` commands about a socket's properties and state (`connect.rs` has
//! the ones that move data or change the connection).

use chrome_sockets::{tcp, TcpSocketId};

use super::Exec;
use crate::cmd::*;
use crate::expected::ExpT;
use crate::model::{Link, MConn, MTcp, World};
use crate::trace::Got;

impl Exec {
    pub(super) fn tcp_create(
        &mut self,
        name: NameChoice,
        persistent: FlagChoice,
        buffer: BufChoice,
    ) {
        let Some(id) = self.w.issue_tcp() else {
            let seq = self.w.expect_exact(
                "tcp.create -> every id live".into(),
                Got::Err("net::ERR_INSUFFICIENT_RESOURCES".into(), Some(-12)),
            );
            let props = tcp::SocketProperties::default();
            self.r().tcp().create(
                props,
                World::callback(seq, |r| Got::from_result(r, |_| Got::Unit)),
            );
            return;
        };
        let seq = self
            .w
            .expect_exact(format!("tcp.create -> {id}"), Got::Created(id));
        self.w.tcp_issued.push(id);
        let (name, persistent, buffer_size) = (name.value(), persistent.value(), buffer.value());
        self.w.tcps.insert(
            id,
            MTcp {
                name: name.clone().unwrap_or_default(),
                persistent: persistent.unwrap_or(false),
                buffer: buffer_size.unwrap_or(0),
                ..MTcp::new(false, MConn::Idle, Link::Reactor)
            },
        );
        let props = tcp_props(name, persistent, buffer_size);
        self.r().tcp().create(
            props,
            World::callback(seq, |r| {
                Got::from_result(r, |c: tcp::CreateInfo| Got::Created(c.socket_id.raw()))
            }),
        );
    }

    pub(super) fn tcp_update(
        &mut self,
        p: Pick,
        name: NameChoice,
        persistent: FlagChoice,
        buffer: BufChoice,
    ) {
        let id = self.tid(p);
        let (name, persistent, buffer_size) = (name.value(), persistent.value(), buffer.value());
        let want = match self.w.tcps.get_mut(&id) {
            Some(t) => {
                if let Some(n) = &name {
                    t.name = n.clone();
                }
                if let Some(p) = persistent {
                    t.persistent = p;
                }
                if let Some(b) = buffer_size {
                    t.buffer = b;
                }
                Got::Unit
            }
            None => Got::not_found(),
        };
        let seq = self.w.expect_exact(format!("tcp.update {id}"), want);
        let props = tcp_props(name, persistent, buffer_size);
        self.r()
            .tcp()
            .update(TcpSocketId::from_raw(id), props, World::unit_callback(seq));
    }

    pub(super) fn tcp_set_paused(&mut self, p: Pick, paused: bool) {
        let id = self.tid(p);
        let turns = self.w.turns;
        let mut arm = false;
        let next_seq = self.w.next_seq;
        let want = match self.w.tcps.get_mut(&id) {
            Some(t) => {
                t.paused_by = next_seq;
                // A full chunk in the last turn may have left a read step queued.
                arm = t.paused
                    && !paused
                    && matches!(t.conn, MConn::Connected { .. })
                    && t.full_chunk_turn != Some(turns);
                t.paused = paused;
                Got::Unit
            }
            None => Got::not_found(),
        };
        let seq = self
            .w
            .expect_exact_then(format!("tcp.setPaused {id}"), want, move |w| {
                if let Some(t) = w.tcps.get_mut(&id) {
                    t.resuming = None;
                }
            });
        if let Some(t) = self.w.tcps.get_mut(&id) {
            t.resuming = arm.then_some(seq);
        }
        self.r()
            .tcp()
            .set_paused(TcpSocketId::from_raw(id), paused, World::unit_callback(seq));
    }

    pub(super) fn tcp_set_keep_alive(&mut self, p: Pick, enable: bool, delay: KeepAliveDelay) {
        let id = self.tid(p);
        let delay = delay.value();
        let odd_delay = enable && !(0..=32767).contains(&delay);
        let seq = self.expect_sockopt(format!("tcp.setKeepAlive {id}"), id, odd_delay);
        self.r().tcp().set_keep_alive(
            TcpSocketId::from_raw(id),
            enable,
            delay,
            World::unit_callback(seq),
        );
    }

    pub(super) fn tcp_set_no_delay(&mut self, p: Pick, no_delay: bool) {
        let id = self.tid(p);
        let seq = self.expect_sockopt(format!("tcp.setNoDelay {id}"), id, false);
        self.r().tcp().set_no_delay(
            TcpSocketId::from_raw(id),
            no_delay,
            World::unit_callback(seq),
        );
    }

    /// setKeepAlive / setNoDelay: "Socket not found" with -2, -2 unless connected.
    fn expect_sockopt(&mut self, desc: String, id: i32, odd_delay: bool) -> u64 {
        // An outstanding send that may fail (its peer may be gone, or a send fault is armed)
        // may already have disconnected the socket (D9): then the option answers -2.
        let write_may_have_failed = self.w.sending(id) && self.w.send_loose(id, 0);
        match self.w.tcps.get(&id).map(|t| t.conn) {
            None => self
                .w
                .expect_exact(desc, Got::Err("Socket not found".into(), Some(-2))),
            Some(MConn::Connected { maybe_gone })
                if odd_delay || maybe_gone || write_may_have_failed =>
            {
                self.w.expect(
                    desc,
                    true,
                    Box::new(|_, g| {
                        ensure!(*g == Got::Unit || *g == Got::net(-2), "expected Ok or -2");
                        Ok(())
                    }),
                )
            }
            Some(MConn::Connected { .. }) => self.w.expect_exact(desc, Got::Unit),
            Some(_) => self.w.expect_exact(desc, Got::net(-2)),
        }
    }

    pub(super) fn tcp_close(&mut self, p: Pick) {
        let id = self.tid(p);
        let want = if self.w.tcps.contains_key(&id) {
            self.w.close_tcp_model(id);
            Got::Unit
        } else {
            Got::not_found()
        };
        let seq = self.w.expect_exact(format!("tcp.close {id}"), want);
        self.r()
            .tcp()
            .close(TcpSocketId::from_raw(id), World::unit_callback(seq));
    }

    pub(super) fn tcp_get_info(&mut self, p: Pick) {
        let id = self.tid(p);
        let exp = self.w.exp_tcp(id);
        let seq = self.w.expect_info(format!("tcp.getInfo {id}"), exp);
        self.r().tcp().get_info(
            TcpSocketId::from_raw(id),
            World::callback(seq, |r| Got::from_result(r, Got::TInfo)),
        );
    }

    pub(super) fn tcp_get_sockets(&mut self) {
        let exps: Vec<ExpT> = self
            .w
            .tcps
            .keys()
            .filter_map(|&id| self.w.exp_tcp(id))
            .collect();
        let seq = self.w.expect_list("tcp.getSockets".into(), exps);
        self.r()
            .tcp()
            .get_sockets(World::callback(seq, |r| Got::from_result(r, Got::TList)));
    }
}

/// `tcp::SocketProperties` with each field as given (`#[non_exhaustive]`: fields are set one by
/// one, since the setters take values, not options).
/// `chrome/src/backend.rs` has a copy, which says why it is not shared.
fn tcp_props(
    name: Option<String>,
    persistent: Option<bool>,
    buffer_size: Option<i32>,
) -> tcp::SocketProperties {
    let mut props = tcp::SocketProperties::new();
    props.name = name;
    props.persistent = persistent;
    props.buffer_size = buffer_size;
    props
}
