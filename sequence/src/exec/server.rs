//! `chrome.sockets.tcpServer` commands.

use std::net::{IpAddr, Ipv4Addr};

use chrome_sockets::fault_injection::Syscall;
use chrome_sockets::{tcp_server, NetError, ServerSocketId};

use super::Exec;
use crate::cmd::*;
use crate::expected::ExpS;
use crate::model::{never_retried, MListen, MServer, World};
use crate::trace::Got;

impl Exec {
    pub(super) fn server_create(&mut self, name: NameChoice, persistent: FlagChoice) {
        let Some(id) = self.w.issue_server() else {
            let seq = self.w.expect_exact(
                "tcpServer.create -> every id live".into(),
                Got::Err("net::ERR_INSUFFICIENT_RESOURCES".into(), Some(-12)),
            );
            let props = tcp_server::SocketProperties::default();
            self.r().tcp_server().create(
                props,
                World::callback(seq, |r| Got::from_result(r, |_| Got::Unit)),
            );
            return;
        };
        let seq = self
            .w
            .expect_exact(format!("tcpServer.create -> {id}"), Got::Created(id));
        self.w.server_issued.push(id);
        let (name, persistent) = (name.value(), persistent.value());
        self.w.servers.insert(
            id,
            MServer {
                name: name.clone().unwrap_or_default(),
                persistent: persistent.unwrap_or(false),
                paused: false,
                listen: None,
                resuming: None,
                accepts: (0, 0),
            },
        );
        let props = server_props(name, persistent);
        self.r().tcp_server().create(
            props,
            World::callback(seq, |r| {
                Got::from_result(r, |c: tcp_server::CreateInfo| {
                    Got::Created(c.socket_id.raw())
                })
            }),
        );
    }

    pub(super) fn server_update(&mut self, p: Pick, name: NameChoice, persistent: FlagChoice) {
        let id = self.sid(p);
        let (name, persistent) = (name.value(), persistent.value());
        let want = match self.w.servers.get_mut(&id) {
            Some(s) => {
                if let Some(n) = &name {
                    s.name = n.clone();
                }
                if let Some(p) = persistent {
                    s.persistent = p;
                }
                Got::Unit
            }
            None => Got::not_found(),
        };
        let seq = self.w.expect_exact(format!("tcpServer.update {id}"), want);
        let props = server_props(name, persistent);
        self.r().tcp_server().update(
            ServerSocketId::from_raw(id),
            props,
            World::unit_callback(seq),
        );
    }

    pub(super) fn server_set_paused(&mut self, p: Pick, paused: bool) {
        let id = self.sid(p);
        let (turns, batch) = (self.w.turns, 1 + self.batch as usize % 4);
        // A retried accept fault uses up a batch slot without an on_accept.
        let retried = self.w.accept_retry_armed;
        let mut arm = false;
        let want = match self.w.servers.get_mut(&id) {
            Some(s) => {
                // A full batch in the last turn may have left an accept step queued.
                arm = s.paused
                    && !paused
                    && s.listen.is_some()
                    && !retried
                    && !(s.accepts.0 == turns && s.accepts.1 >= batch);
                s.paused = paused;
                Got::Unit
            }
            None => Got::not_found(),
        };
        let seq = self
            .w
            .expect_exact_then(format!("tcpServer.setPaused {id}"), want, move |w| {
                if let Some(s) = w.servers.get_mut(&id) {
                    s.resuming = None;
                }
            });
        if let Some(s) = self.w.servers.get_mut(&id) {
            s.resuming = arm.then_some(seq);
        }
        self.r().tcp_server().set_paused(
            ServerSocketId::from_raw(id),
            paused,
            World::unit_callback(seq),
        );
    }

    pub(super) fn server_disconnect(&mut self, p: Pick) {
        let id = self.sid(p);
        let want = match self.w.servers.get_mut(&id) {
            Some(s) => {
                s.listen = None;
                Got::Unit
            }
            None => Got::not_found(),
        };
        let seq = self
            .w
            .expect_exact(format!("tcpServer.disconnect {id}"), want);
        self.r()
            .tcp_server()
            .disconnect(ServerSocketId::from_raw(id), World::unit_callback(seq));
    }

    pub(super) fn server_close(&mut self, p: Pick) {
        let id = self.sid(p);
        let want = match self.w.servers.remove(&id) {
            Some(_) => Got::Unit,
            None => Got::not_found(),
        };
        let seq = self.w.expect_exact(format!("tcpServer.close {id}"), want);
        self.r()
            .tcp_server()
            .close(ServerSocketId::from_raw(id), World::unit_callback(seq));
    }

    pub(super) fn server_get_info(&mut self, p: Pick) {
        let id = self.sid(p);
        let exp = self.w.exp_server(id);
        let seq = self.w.expect_info(format!("tcpServer.getInfo {id}"), exp);
        self.r().tcp_server().get_info(
            ServerSocketId::from_raw(id),
            World::callback(seq, |r| Got::from_result(r, Got::SInfo)),
        );
    }

    pub(super) fn server_get_sockets(&mut self) {
        let exps: Vec<ExpS> = self
            .w
            .servers
            .keys()
            .filter_map(|&id| self.w.exp_server(id))
            .collect();
        let seq = self.w.expect_list("tcpServer.getSockets".into(), exps);
        self.r()
            .tcp_server()
            .get_sockets(World::callback(seq, |r| Got::from_result(r, Got::SList)));
    }

    /// The port a listen asks for.
    fn listen_port(&self, port: PortChoice) -> i32 {
        match port {
            PortChoice::Zero => 0,
            PortChoice::OfServer(q) => {
                let sid = self.sid(q);
                self.w.server_port(sid).map_or(0, |(_, p)| p as i32)
            }
            PortChoice::OfPeer(q) => self
                .peer(q)
                .map_or(0, |i| self.w.peers[i].local_port as i32),
            PortChoice::Minus1 => -1,
            PortChoice::P65536 => 65536,
            PortChoice::P70000 => 70000,
            PortChoice::Min => i32::MIN,
        }
    }

    /// The exact answer to a listen, or None when the kernel decides (bind to a given port).
    fn listen_prediction(
        &self,
        id: i32,
        addr: ListenAddr,
        port_val: i32,
        backlog_val: Option<i32>,
    ) -> Option<Got> {
        let (text, ip) = addr.value();
        let allowed = match self.w.manifest {
            ManifestChoice::None | ManifestChoice::ListenOnly => true,
            ManifestChoice::Loopback4 => text == "127.0.0.1",
            ManifestChoice::ConnectOnly => false,
        };
        match self.w.servers.get(&id) {
            None => Some(Got::not_found()),
            Some(_) if !allowed => Some(Got::no_permission()),
            Some(_) if ip.is_none() => Some(Got::net(-4)),
            Some(_) if !(0..=65535).contains(&port_val) => Some(Got::net(-4)),
            Some(_) if backlog_val.is_some_and(|b| b <= 0) => Some(Got::net(-4)),
            Some(s) if s.listen.is_some() => Some(Got::net(-23)),
            Some(_) => {
                let ip = ip?;
                let taken = self.w.servers.values().any(|s| {
                    s.listen
                        .as_ref()
                        .is_some_and(|l| l.ip == ip && l.port == Some(port_val as u16))
                });
                if addr == ListenAddr::NonLocal {
                    None
                } else if port_val == 0 {
                    Some(Got::Unit)
                } else if taken {
                    Some(Got::net(-147))
                } else {
                    None
                }
            }
        }
    }

    pub(super) fn server_listen(
        &mut self,
        p: Pick,
        addr: ListenAddr,
        port: PortChoice,
        backlog: BacklogChoice,
    ) {
        let id = self.sid(p);
        let (text, ip) = addr.value();
        let port_val = self.listen_port(port);
        let backlog_val = backlog.value();
        let desc = format!("tcpServer.listen {id} {text:?} {port_val} {backlog_val:?}");
        let mut want = self.listen_prediction(id, addr, port_val, backlog_val);
        // socket, bind, listen: the first armed step of those reached fails the listen.
        for call in [Syscall::Socket, Syscall::Bind, Syscall::Listen] {
            self.w.sync_fault(call);
        }
        let steps: &[Syscall] = match &want {
            Some(Got::Unit) => &[Syscall::Socket, Syscall::Bind, Syscall::Listen],
            None => &[Syscall::Socket, Syscall::Bind],
            Some(g) if *g == Got::net(-147) => &[Syscall::Socket, Syscall::Bind],
            Some(_) => &[],
        };
        if let Some(errno) = steps
            .iter()
            .find_map(|&call| self.w.take_fault(call, never_retried))
        {
            want = Some(Got::net(NetError::from_errno(errno).code()));
        }
        let small = matches!(backlog_val, Some(1 | 2));
        let ip_v = ip.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        let known_port = (port_val != 0).then_some(port_val as u16);
        // Installs the listening state in the model (now, or once the kernel said yes).
        let listening = move |w: &mut World| {
            w.listen_gen += 1;
            let gen = w.listen_gen;
            if let Some(s) = w.servers.get_mut(&id) {
                s.listen = Some(MListen {
                    ip: ip_v,
                    port: known_port,
                    small_backlog: small,
                    gen,
                });
            }
        };
        let kernel_decides = want.is_none();
        let ok_now = want == Some(Got::Unit);
        let seq = match want {
            Some(want) => {
                if ok_now {
                    listening(&mut self.w);
                }
                self.w.expect_exact(desc, want)
            }
            None => self.w.expect(
                desc,
                true,
                Box::new(move |w, g| {
                    match g {
                        Got::Unit => listening(w),
                        g if g.is_net_error() => {}
                        _ => return Err("expected Ok or a net error".into()),
                    }
                    Ok(())
                }),
            ),
        };
        self.r().tcp_server().listen(
            ServerSocketId::from_raw(id),
            text,
            port_val,
            backlog_val,
            World::unit_callback(seq),
        );
        if kernel_decides {
            self.drain(Some(seq));
            self.check("resolving an OS-dependent listen");
        }
        self.w.sync_fault(Syscall::Listen);
        let listens = self.w.servers.get(&id).is_some_and(|s| s.listen.is_some());
        if ok_now || (kernel_decides && listens) {
            self.learn_port(id);
        }
    }

    /// A harness get_info that checks the listening state and learns the port.
    fn learn_port(&mut self, id: i32) {
        let Some(exp) = self.w.exp_server(id) else {
            return;
        };
        let Some(gen) = self.w.servers[&id].listen.as_ref().map(|l| l.gen) else {
            return;
        };
        let seq = self.w.expect(
            format!("(harness) tcpServer.getInfo {id} for its port"),
            true,
            Box::new(move |w, g| {
                let Got::SInfo(i) = g else {
                    return Err(format!("expected {exp:?}"));
                };
                exp.check(i)?;
                if let Some(l) = w.servers.get_mut(&id).and_then(|s| s.listen.as_mut()) {
                    if l.gen == gen {
                        l.port = i.local_port;
                    }
                }
                Ok(())
            }),
        );
        self.r().tcp_server().get_info(
            ServerSocketId::from_raw(id),
            World::callback(seq, |r| Got::from_result(r, Got::SInfo)),
        );
    }
}

/// `tcp_server::SocketProperties` with each field as given (`#[non_exhaustive]`: fields are set
/// one by one, since the setters take values, not options).
/// `chrome/src/backend.rs` has a copy, which says why it is not shared.
fn server_props(name: Option<String>, persistent: Option<bool>) -> tcp_server::SocketProperties {
    let mut props = tcp_server::SocketProperties::new();
    props.name = name;
    props.persistent = persistent;
    props
}
