//! Faults and backpressure: arming the fault-injection seam, large sends that queue when the
//! peer does not read, a peer draining them, a peer's smaller receive buffer.

use std::io::Read;
use std::time::Instant;

use chrome_sockets::fault_injection;
use chrome_sockets::TcpSocketId;
use socket2::Socket;

use super::{Exec, PATIENCE};
use crate::cmd::*;
use crate::model::{accept_retried, Link, MConn};
use crate::trace::Got;
use crate::values::WRITE_QUOTA;

impl Exec {
    pub(super) fn fault_arm(&mut self, call: SyscallChoice, errno: ErrnoChoice, times: usize) {
        let (call, errno) = (call.value(), errno.value());
        fault_injection::inject(call, errno, times);
        self.w.faults.push((call, errno, times));
        self.w.fault_epoch += 1;
        if call == fault_injection::Syscall::Accept && accept_retried(errno) {
            self.w.accept_retry_armed = true;
        }
    }

    pub(super) fn tcp_send_big(&mut self, p: Pick, size: BigSize) {
        let id = self.tid(p);
        let len = size.value();
        if len > WRITE_QUOTA {
            // Over the quota whatever is pending: refused first, before the id is looked up.
            let desc = format!("tcp.send {id} {len} bytes (over the quota)");
            let want = Got::Err("Exceeded write quota.".into(), None);
            let seq = self.w.expect_exact(desc, want);
            // Zeroed pages are mapped lazily: the buffer costs no memory.
            return self.r().tcp().send(
                TcpSocketId::from_raw(id),
                vec![0u8; len],
                super::connect::send_callback(seq),
            );
        }
        self.send_bytes(id, len, true);
    }

    /// Reads what peer `pi` has (at most `reads` reads) and checks it against what its tcp
    /// socket sent.
    pub(super) fn peer_slurp(&mut self, pi: usize, reads: usize) {
        let p = &mut self.w.peers[pi];
        let Some(s) = &p.sock else { return };
        let _ = s.set_nonblocking(true);
        let mut buf = vec![0u8; 64 << 10];
        let mut reader: &Socket = s;
        for _ in 0..reads {
            match reader.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => p.read.extend_from_slice(&buf[..n]),
            }
        }
        if p.tcp.is_some() && !p.expect_in.starts_with(&p.read) {
            let at = p
                .read
                .iter()
                .zip(&p.expect_in)
                .take_while(|(a, b)| a == b)
                .count();
            let msg = format!(
                "peer {pi} read {} bytes, its tcp socket sent {}; they differ from byte {at}",
                p.read.len(),
                p.expect_in.len()
            );
            self.w.fail(msg);
        }
    }

    /// The peer reads everything while the reactor turns, until its tcp socket has no send
    /// waiting; with a reading peer that must happen.
    pub(super) fn peer_drain(&mut self, peer: Pick) {
        let Some(pi) = self.peer(peer) else { return };
        let deadline = Instant::now() + PATIENCE;
        loop {
            self.peer_slurp(pi, 1024);
            let p = &self.w.peers[pi];
            let waiting = p.sock.is_some() && p.tcp.is_some_and(|id| self.w.sending(id));
            if !waiting || self.w.failure.is_some() {
                return;
            }
            if Instant::now() > deadline {
                let (read, sent) = (p.read.len(), p.expect_in.len());
                return self.w.fail(format!(
                    "peer {pi} read everything for {PATIENCE:?} ({read} of {sent} bytes) and \
                     its tcp socket's sends did not complete"
                ));
            }
            self.turn(std::time::Duration::from_millis(1));
        }
    }

    /// Only before its tcp socket sent anything: shrinking the window with data in flight
    /// makes loopback fall back to zero-window probes (a few hundred KiB a second, measured
    /// with plain sockets too), which no bounded drain can wait for.
    pub(super) fn peer_set_rcvbuf(&mut self, peer: Pick, size: RcvbufChoice) {
        let Some(pi) = self.peer(peer) else { return };
        let p = &self.w.peers[pi];
        let fresh = p.tcp.and_then(|id| self.w.tcps.get(&id));
        if !fresh.is_some_and(|t| t.sent.is_empty()) {
            return self
                .w
                .log(|| format!("  (peer {pi}: not mapped, or data in flight; rcvbuf kept)"));
        }
        if let Some(s) = &self.w.peers[pi].sock {
            let res = s.set_recv_buffer_size(size.value());
            self.w
                .log(|| format!("  peer {pi} SO_RCVBUF {}: {res:?}", size.value()));
        }
    }

    /// Before the final drain: every send that can complete does. Peers read everything (a
    /// closed peer resets the connection, which fails the send); only a send to a reactor
    /// socket (which may stay paused) may stay pending.
    pub(super) fn finish_sends(&mut self) {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let waiting = self.w.out_sends.iter().find(|(_, s)| {
                self.w.tcps.get(&s.id).map_or(true, |t| {
                    !matches!(t.conn, MConn::Connected { .. }) || matches!(t.link, Link::Peer(_))
                })
            });
            let Some((&seq, _)) = waiting else { return };
            if self.w.failure.is_some() {
                return;
            }
            if Instant::now() > deadline {
                return self.w.fail(format!(
                    "send #{seq} did not complete though its peer read everything"
                ));
            }
            for pi in 0..self.w.peers.len() {
                self.peer_slurp(pi, 1024);
            }
            self.turn(std::time::Duration::from_millis(1));
        }
    }
}
