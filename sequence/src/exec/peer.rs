//! Loopback peers: plain sockets on the other end of the reactor's connections. They connect
//! to a server, write, read (checking what arrives against what the reactor sent), half-close,
//! close, or reset (close with `SO_LINGER` 0).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use socket2::{Domain, Socket, Type};

use super::Exec;
use crate::cmd::Pick;
use crate::model::{MConn, Peer};

impl Exec {
    pub(super) fn peer_connect(&mut self, server: Pick, v6: bool) {
        let sid = self.sid(server);
        let Some((ip, port)) = self.w.server_port(sid) else {
            return self.w.log(|| format!("  (server {sid} has no known port)"));
        };
        let target: IpAddr = match (ip, v6) {
            (IpAddr::V4(_), _) => Ipv4Addr::LOCALHOST.into(),
            (IpAddr::V6(a), true) if a.is_unspecified() || a.is_loopback() => {
                Ipv6Addr::LOCALHOST.into()
            }
            (IpAddr::V6(a), false) if a.is_unspecified() => Ipv4Addr::LOCALHOST.into(),
            (IpAddr::V6(_), false) => Ipv6Addr::LOCALHOST.into(),
            (IpAddr::V6(_), true) => return,
        };
        if matches!(ip, IpAddr::V4(a) if !a.is_loopback() && !a.is_unspecified()) {
            return;
        }
        let addr = SocketAddr::new(target, port);
        let s = Socket::new(Domain::for_address(addr), Type::STREAM, None).expect("peer socket");
        s.set_nonblocking(true).expect("nonblocking");
        let res = s.connect(&addr.into());
        let local_port = match s.local_addr().ok().and_then(|a| a.as_socket()) {
            Some(a) => a.port(),
            None => return,
        };
        let index = self.w.peers.len();
        self.w
            .log(|| format!("  peer {index} from port {local_port} to {addr}: {res:?}"));
        self.w.peers.push(Peer {
            sock: Some(s),
            local_port,
            written: Vec::new(),
            read: Vec::new(),
            expect_in: Vec::new(),
            tcp: None,
            shut: false,
            gone: false,
        });
    }

    pub(super) fn peer_write(&mut self, peer: Pick, n: usize) {
        let Some(pi) = self.peer(peer) else { return };
        let p = &mut self.w.peers[pi];
        let (Some(s), false) = (&p.sock, p.shut) else {
            return self.w.log(|| format!("  (peer {pi} cannot write)"));
        };
        let base = p.written.len();
        let data: Vec<u8> = (0..n).map(|i| (pi * 7 + base + i) as u8).collect();
        let res = s.send_with_flags(&data, libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT);
        if let Ok(k) = res {
            p.written.extend_from_slice(&data[..k]);
        }
        self.w.log(|| format!("  peer {pi} wrote: {res:?}"));
    }

    pub(super) fn peer_read(&mut self, peer: Pick) {
        let Some(pi) = self.peer(peer) else { return };
        self.peer_slurp(pi, 64);
        let read = self.w.peers[pi].read.len();
        self.w.log(|| format!("  peer {pi} has read {read} bytes"));
    }

    pub(super) fn peer_shutdown(&mut self, peer: Pick) {
        let Some(pi) = self.peer(peer) else { return };
        let p = &mut self.w.peers[pi];
        if let Some(s) = &p.sock {
            let _ = s.shutdown(std::net::Shutdown::Write);
            p.shut = true;
        }
    }

    /// Closes a peer; with `reset`, with `SO_LINGER` 0 (the reactor's side sees a reset).
    pub(super) fn peer_close(&mut self, peer: Pick, reset: bool) {
        let Some(pi) = self.peer(peer) else { return };
        let p = &mut self.w.peers[pi];
        if let Some(s) = p.sock.take() {
            if reset {
                let _ = s.set_linger(Some(Duration::ZERO));
            }
            drop(s);
            p.gone = true;
            if let Some(t) = p.tcp.and_then(|id| self.w.tcps.get_mut(&id)) {
                if let MConn::Connected { maybe_gone } = &mut t.conn {
                    *maybe_gone = true;
                }
            }
        }
    }
}
