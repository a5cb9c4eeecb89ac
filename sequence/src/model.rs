//! The reference model: what the executor knows about every socket, peer, timer and listener,
//! and what every pending callback must receive.
//!
//! - Every call gets a sequence number and a *check* computed from the model state at call
//!   time (the exact value, "Socket not found", or the exact net error and message). Results
//!   that depend on the kernel (connects, a listen on a port someone holds, a send to a peer
//!   that went away) are "one of" checks that update the model from what actually happened;
//!   for the immediate ones the executor turns right away until the callback ran, so later
//!   predictions stay exact.
//! - Callbacks queued inside a call run after it returns, in the order queued: the model keeps
//!   that FIFO (with the `on_receive_error` -100 a disconnect queues, and the -3 a close gives
//!   a pending connect) and checks each callback against its head.
//!
//! - Sends that may wait for the peer (a large one, or any queued behind one) are *outstanding*
//!   ([`OutSend`]): checked when they complete, in issue order per socket: every byte sent;
//!   -15 once a disconnect or close cut them (D9) or an earlier send of the connection failed;
//!   a net error only when the peer may be gone or a fault was armed.
//! - Armed faults mirror the seam's plan (per syscall, in arming order). Where the reactor
//!   makes the call during a command (send with nothing queued, connect to an IP literal,
//!   listen), the model takes the fault and predicts the exact mapped code; accept and read
//!   faults are taken when the reactor gets to them, and the `on_accept_error` (server paused)
//!   or `on_receive_error` that results is checked against the first unit not retried.
//!   Otherwise the model re-reads the seam's count ([`World::sync_fault`]).
//!
//! Events are checked against the same state in [`crate::events`].

use std::collections::{BTreeMap, VecDeque};
use std::net::IpAddr;
use std::ops::Range;
use std::time::Instant;

use chrome_sockets::fault_injection::{self, Syscall};
use chrome_sockets::{format_ip, LastError, ListenerId, Reactor, TimerId};
use socket2::Socket;

use crate::cmd::{EventKind, ManifestChoice, Pick};
use crate::expected::{ExpS, ExpT};
use crate::trace::{Got, Seen, Trace};

pub(crate) type Check = Box<dyn FnOnce(&mut World, &Got) -> Result<(), String>>;

pub(crate) struct Pending {
    pub(crate) desc: String,
    pub(crate) check: Check,
    pub(crate) immediate: bool,
    /// The exact result the model predicts, when it has one (for the [`Trace`]).
    pub(crate) predicted: Option<Got>,
    /// May still be pending at the end (a connect whose SYN the kernel dropped).
    pub(crate) may_stay: bool,
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Fifo {
    Call(u64, u64),
    RecvErr(i32, u64),
}

impl Fifo {
    pub(crate) fn stamp(&self) -> u64 {
        match *self {
            Fifo::Call(_, s) | Fifo::RecvErr(_, s) => s,
        }
    }
}

pub(crate) struct MListen {
    pub(crate) ip: IpAddr,
    /// Learned from `getInfo` after a listen on port 0.
    pub(crate) port: Option<u16>,
    /// Backlog 1 or 2: a connect may wait in a full backlog (its SYN dropped).
    pub(crate) small_backlog: bool,
    /// Which listen this is (a connect to an older one may be reset).
    pub(crate) gen: u64,
}

pub(crate) struct MServer {
    pub(crate) name: String,
    pub(crate) persistent: bool,
    pub(crate) paused: bool,
    pub(crate) listen: Option<MListen>,
    /// A `set_paused(false)` on this paused server whose callback has not run: no
    /// `on_accept` may come before it (Chrome replies before the accept it starts completes).
    pub(crate) resuming: Option<u64>,
    /// (turn, accepts in it): a full accept batch may leave an accept step queued.
    pub(crate) accepts: (u64, usize),
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum MConn {
    Idle,
    Connecting { seq: u64 },
    Connected { maybe_gone: bool },
}

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Link {
    /// Accepted, not yet known whose connection it is.
    Unknown,
    Peer(usize),
    /// The other end is a reactor socket (or nothing known).
    Reactor,
}

pub(crate) struct MTcp {
    pub(crate) name: String,
    pub(crate) persistent: bool,
    /// As the app set it; 0 or less: unset (reads use 4096). A received chunk is at most
    /// this long.
    pub(crate) buffer: i32,
    pub(crate) paused: bool,
    pub(crate) conn: MConn,
    /// Who is on the other end.
    pub(crate) link: Link,
    /// Bytes it sent (by every send the model counted), and bytes it received, in order.
    pub(crate) sent: Vec<u8>,
    pub(crate) received: Vec<u8>,
    /// A `set_paused(false)` on this paused, connected socket whose callback has not run: no
    /// read event may come before it (Chrome replies before the read it starts completes).
    pub(crate) resuming: Option<u64>,
    /// The last turn that delivered a full `buffer_size` chunk (a read step may be queued).
    pub(crate) full_chunk_turn: Option<u64>,
    /// A write failed, maybe while it was reading (before a later pause or disconnect the
    /// model already applied): an `on_receive_error` -100 may follow in this turn.
    pub(crate) late_recv_err: bool,
    /// The sequence number of the last call that paused or resumed it.
    pub(crate) paused_by: u64,
}

impl MTcp {
    /// A socket with no name, not persistent, the default buffer size, nothing sent or
    /// received and no call pending.
    pub(crate) fn new(paused: bool, conn: MConn, link: Link) -> MTcp {
        MTcp {
            name: String::new(),
            persistent: false,
            buffer: 0,
            paused,
            conn,
            link,
            sent: Vec::new(),
            received: Vec::new(),
            resuming: None,
            full_chunk_turn: None,
            late_recv_err: false,
            paused_by: 0,
        }
    }
}

pub(crate) struct Peer {
    pub(crate) sock: Option<Socket>,
    pub(crate) local_port: u16,
    /// Bytes written, in order.
    pub(crate) written: Vec<u8>,
    /// Bytes read from the reactor, in order.
    pub(crate) read: Vec<u8>,
    /// Bytes the mapped tcp socket sent (what `read` must be a prefix of).
    pub(crate) expect_in: Vec<u8>,
    pub(crate) tcp: Option<i32>,
    pub(crate) shut: bool,
    pub(crate) gone: bool,
}

#[derive(Clone, Copy, PartialEq, Debug)]
pub(crate) enum TState {
    Pending,
    Fired,
    Cleared,
    Dropped,
}

pub(crate) struct MTimer {
    pub(crate) id: TimerId,
    /// When it is due: not before the start (set before the call), at the latest the end.
    pub(crate) due: Range<Instant>,
    pub(crate) state: TState,
}

/// A send whose callback has not run: it may wait for the peer to read, so it is checked by
/// rule when it completes (in issue order per socket), not in the call FIFO.
pub(crate) struct OutSend {
    pub(crate) id: i32,
    pub(crate) len: usize,
    pub(crate) fate: Fate,
    /// The peer could go away or a fault could hit it (a net error is allowed), or a fault
    /// armed after [`World::fault_epoch`] reached this value.
    pub(crate) loose: (bool, u64),
}

/// What an outstanding send may still get besides its own net error when loose.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Fate {
    /// Every byte sent.
    Open,
    /// A disconnect or close came after it: -15 (D9), unless it had already completed.
    Cut,
    /// An earlier send of the same connection failed: -15.
    Failed,
}

/// `accept(2)` errnos the reactor retries silently (`docs/design.md` §3; those of [`ErrnoChoice`]).
///
/// [`ErrnoChoice`]: crate::cmd::ErrnoChoice
pub(crate) fn accept_retried(errno: i32) -> bool {
    matches!(errno, libc::EINTR | libc::ECONNABORTED | libc::EPROTO)
}

/// Read and send retry `EINTR` only.
pub(crate) fn eintr_retried(errno: i32) -> bool {
    errno == libc::EINTR
}

/// Listen and connect steps retry nothing.
pub(crate) fn never_retried(_: i32) -> bool {
    false
}

/// The reactor's state `S`: the model plus everything callbacks check against.
pub(crate) struct World {
    /// Print every command, callback and event as it happens.
    pub(crate) print: bool,
    /// What was observed so far.
    pub(crate) seen: Trace,
    pub(crate) manifest: ManifestChoice,
    pub(crate) turns: u64,
    pub(crate) next_seq: u64,
    pub(crate) pending: BTreeMap<u64, Pending>,
    pub(crate) fifo: VecDeque<Fifo>,
    pub(crate) servers: BTreeMap<i32, MServer>,
    pub(crate) server_issued: Vec<i32>,
    pub(crate) next_server: i32,
    pub(crate) tcps: BTreeMap<i32, MTcp>,
    pub(crate) tcp_issued: Vec<i32>,
    pub(crate) next_tcp: i32,
    /// Where both id counters start ([`Input::ids_from`](crate::Input::ids_from)).
    pub(crate) ids_from: i32,
    /// The last id before the counters wrap to 1 ([`Input::ids_up_to`](crate::Input::ids_up_to)).
    pub(crate) ids_up_to: i32,
    pub(crate) listen_gen: u64,
    pub(crate) peers: Vec<Peer>,
    pub(crate) timers: Vec<MTimer>,
    /// Fuzz listeners: event, id, registered.
    pub(crate) listeners: Vec<(EventKind, ListenerId, bool)>,
    /// Fuzz listeners (indexes) that still have to see the event being dispatched.
    pub(crate) dispatch_waiting: Vec<usize>,
    /// Set when a check fails inside a callback; reported by the executor.
    pub(crate) failure: Option<String>,
    /// Armed faults not yet known to be taken, mirroring the seam's plan: (syscall, errno,
    /// units left); per syscall, units are taken in arming order.
    pub(crate) faults: Vec<(Syscall, i32, usize)>,
    /// Counts `fault.arm` commands.
    pub(crate) fault_epoch: u64,
    /// A retried accept fault was armed: an accept step may stay queued past a short batch.
    pub(crate) accept_retry_armed: bool,
    /// Sends whose callback has not run, by sequence number.
    pub(crate) out_sends: BTreeMap<u64, OutSend>,
}

impl World {
    pub(crate) fn new(manifest: ManifestChoice, ids: (i32, i32), print: bool) -> World {
        World {
            print,
            seen: Trace::default(),
            manifest,
            turns: 0,
            next_seq: 0,
            pending: BTreeMap::new(),
            fifo: VecDeque::new(),
            servers: BTreeMap::new(),
            server_issued: Vec::new(),
            next_server: ids.0,
            tcps: BTreeMap::new(),
            tcp_issued: Vec::new(),
            next_tcp: ids.0,
            ids_from: ids.0,
            ids_up_to: ids.1,
            listen_gen: 0,
            peers: Vec::new(),
            timers: Vec::new(),
            listeners: Vec::new(),
            dispatch_waiting: Vec::new(),
            failure: None,
            faults: Vec::new(),
            fault_epoch: 0,
            accept_retry_armed: false,
            out_sends: BTreeMap::new(),
        }
    }

    /// The server id the reactor issues next (D12), or `None` when every id is live; the
    /// counter moves as the reactor's does.
    pub(crate) fn issue_server(&mut self) -> Option<i32> {
        let live = &self.servers;
        issue(&mut self.next_server, self.ids_up_to, live.len(), |id| {
            live.contains_key(&id)
        })
    }

    /// The tcp id the reactor issues next (D12), or `None` when every id is live.
    pub(crate) fn issue_tcp(&mut self) -> Option<i32> {
        let live = &self.tcps;
        issue(&mut self.next_tcp, self.ids_up_to, live.len(), |id| {
            live.contains_key(&id)
        })
    }

    /// Both counters back to their start (a new reactor).
    pub(crate) fn restart_ids(&mut self) {
        self.next_server = self.ids_from;
        self.next_tcp = self.ids_from;
    }

    pub(crate) fn fail(&mut self, msg: String) {
        if self.failure.is_none() {
            self.failure = Some(msg);
        }
    }

    pub(crate) fn log(&self, line: impl FnOnce() -> String) {
        if self.print {
            println!("{}", line());
        }
    }

    /// Registers an expected callback; returns its sequence number.
    pub(crate) fn expect(&mut self, desc: String, immediate: bool, check: Check) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        if immediate {
            self.fifo.push_back(Fifo::Call(seq, self.turns));
        }
        self.pending.insert(
            seq,
            Pending {
                desc,
                check,
                immediate,
                predicted: None,
                may_stay: false,
            },
        );
        seq
    }

    /// Registers an immediate callback whose result the model knows exactly.
    pub(crate) fn expect_exact(&mut self, desc: String, want: Got) -> u64 {
        self.expect_exact_then(desc, want, |_| {})
    }

    /// [`World::expect_exact`], running `first` on the model when the callback runs.
    pub(crate) fn expect_exact_then(
        &mut self,
        desc: String,
        want: Got,
        first: impl FnOnce(&mut World) + 'static,
    ) -> u64 {
        let predicted = Some(want.clone());
        let seq = self.expect(
            desc,
            true,
            Box::new(move |w, g| {
                first(w);
                ensure!(*g == want, "expected {want:?}");
                Ok(())
            }),
        );
        if let Some(p) = self.pending.get_mut(&seq) {
            p.predicted = predicted;
        }
        seq
    }

    pub(crate) fn complete(&mut self, seq: u64, g: Got) {
        let Some(p) = self.pending.remove(&seq) else {
            return self.fail(format!(
                "callback #{seq} ran but is not pending (twice, or after unload/drop): {g:?}"
            ));
        };
        self.log(|| format!("  callback #{seq} {}: {g:?}", p.desc));
        self.seen.push(Seen::Callback {
            seq,
            call: p.desc.clone(),
            got: g.clone(),
            predicted: p.predicted.clone(),
        });
        if p.immediate {
            let front = self.fifo.pop_front();
            if front.map(|f| matches!(f, Fifo::Call(s, _) if s == seq)) != Some(true) {
                return self.fail(format!(
                    "callback #{seq} ({}) ran out of order; queue head was {front:?}",
                    p.desc
                ));
            }
        }
        if let Err(e) = (p.check)(self, &g) {
            self.fail(format!("callback #{seq} ({}): got {g:?}: {e}", p.desc));
        }
    }

    /// The API callback that completes expected callback `seq`, its result converted by `conv`.
    pub(crate) fn callback<T: 'static>(
        seq: u64,
        conv: fn(T) -> Got,
    ) -> impl FnOnce(&mut Reactor<World>, &mut World, T) + 'static {
        move |_, w, res| w.complete(seq, conv(res))
    }

    /// [`World::callback`] for the calls that answer `Result<(), LastError>`.
    pub(crate) fn unit_callback(
        seq: u64,
    ) -> impl FnOnce(&mut Reactor<World>, &mut World, Result<(), LastError>) + 'static {
        World::callback(seq, |r| Got::from_result(r, |()| Got::Unit))
    }

    /// Removes a closed tcp socket: its queued -100 is dropped (D6), a pending connect gets
    /// "Socket not found" (D5, as Chrome answers it).
    pub(crate) fn close_tcp_model(&mut self, id: i32) {
        let t = self.tcps.remove(&id).expect("live");
        self.cut_sends(id);
        self.connect_overtaken(t.conn, Got::not_found());
        self.fifo
            .retain(|f| !matches!(f, Fifo::RecvErr(x, _) if *x == id));
    }

    /// A pending connect overtaken by a disconnect is answered -3 (D5) at this point of the
    /// queue.
    pub(crate) fn connect_aborted(&mut self, conn: MConn) {
        self.connect_overtaken(conn, Got::net(-3));
    }

    /// A pending connect is answered `answer` at this point of the queue.
    fn connect_overtaken(&mut self, conn: MConn, answer: Got) {
        if let MConn::Connecting { seq } = conn {
            let p = self.pending.get_mut(&seq).expect("connect pending");
            p.immediate = true;
            p.may_stay = false;
            p.predicted = Some(answer.clone());
            p.check = Box::new(move |_, g| {
                ensure!(
                    *g == answer,
                    "a connect overtaken by disconnect/close gets {answer:?}, not {g:?}"
                );
                Ok(())
            });
            self.fifo.push_back(Fifo::Call(seq, self.turns));
        }
    }

    pub(crate) fn pick(list: &[i32], next: i32, p: Pick) -> i32 {
        let i = p.0 as usize;
        match list.len() {
            n if n > 0 && i < 240 => list[i % n],
            _ => [next, 0, -1, i32::MAX][i % 4],
        }
    }

    pub(crate) fn server_port(&self, id: i32) -> Option<(IpAddr, u16)> {
        let l = self.servers.get(&id)?.listen.as_ref()?;
        Some((l.ip, l.port?))
    }

    pub(crate) fn exp_server(&self, id: i32) -> Option<ExpS> {
        let s = self.servers.get(&id)?;
        Some(ExpS {
            id,
            persistent: s.persistent,
            name: (!s.name.is_empty()).then(|| s.name.clone()),
            paused: s.paused,
            local: s.listen.as_ref().map(|l| (format_ip(l.ip), l.port)),
        })
    }

    pub(crate) fn exp_tcp(&self, id: i32) -> Option<ExpT> {
        let t = self.tcps.get(&id)?;
        Some(ExpT {
            id,
            persistent: t.persistent,
            name: (!t.name.is_empty()).then(|| t.name.clone()),
            buffer: (t.buffer > 0).then_some(t.buffer),
            paused: t.paused,
            connected: matches!(t.conn, MConn::Connected { .. }),
            connected_unsure: matches!(t.conn, MConn::Connected { .. })
                && self.sending(id)
                && self.send_loose(id, 0),
        })
    }

    /// Bytes a tcp socket sent: its peer must read them, in order.
    pub(crate) fn record_sent(&mut self, id: i32, data: &[u8]) {
        let t = self.tcps.get_mut(&id).expect("live");
        t.sent.extend_from_slice(data);
        if let Link::Peer(pi) = t.link {
            self.peers[pi].expect_in.extend_from_slice(data);
        }
    }
}

impl World {
    /// Takes one armed unit of `call`: its errno.
    fn take_unit(&mut self, call: Syscall) -> Option<i32> {
        let i = self.faults.iter().position(|f| f.0 == call)?;
        let (_, errno, left) = &mut self.faults[i];
        let errno = *errno;
        *left -= 1;
        if *left == 0 {
            self.faults.remove(i);
        }
        Some(errno)
    }

    /// Simulates one operation calling `call`: takes armed units in order, going on after
    /// `retried` errnos; the errno it fails with, if any unit is not retried.
    pub(crate) fn take_fault(&mut self, call: Syscall, retried: fn(i32) -> bool) -> Option<i32> {
        loop {
            let errno = self.take_unit(call)?;
            if !retried(errno) {
                return Some(errno);
            }
        }
    }

    /// Units of `call` the model still has armed.
    pub(crate) fn armed(&self, call: Syscall) -> usize {
        self.faults
            .iter()
            .filter(|f| f.0 == call)
            .map(|f| f.2)
            .sum()
    }

    /// Drops the units of `call` the seam took since (the reactor took them on its own
    /// schedule, e.g. a send flushed on writability); fails if the seam has more than the model.
    pub(crate) fn sync_fault(&mut self, call: Syscall) {
        let (seam, have) = (fault_injection::pending(call), self.armed(call));
        if seam > have {
            return self.fail(format!(
                "{call:?}: seam has {seam} faults armed, model {have}"
            ));
        }
        for _ in seam..have {
            self.take_unit(call);
        }
    }

    /// A disconnect or close: the socket's outstanding sends get -15 unless already done.
    pub(crate) fn cut_sends(&mut self, id: i32) {
        for s in self.out_sends.values_mut().filter(|s| s.id == id) {
            if s.fate == Fate::Open {
                s.fate = Fate::Cut;
            }
        }
    }

    /// Whether `id` has sends whose callback has not run.
    pub(crate) fn sending(&self, id: i32) -> bool {
        self.out_sends.values().any(|s| s.id == id)
    }

    /// Whether a send of `id` may fail now: its peer may be gone or half-closed (the read
    /// path then disconnects), or a fault was armed since the send was issued.
    pub(crate) fn send_loose(&self, id: i32, epoch: u64) -> bool {
        if self.fault_epoch > epoch {
            return true;
        }
        let Some(t) = self.tcps.get(&id) else {
            return true;
        };
        let peer_left = match t.link {
            Link::Peer(pi) => self.peers[pi].gone || self.peers[pi].shut,
            Link::Unknown | Link::Reactor => true,
        };
        peer_left || !matches!(t.conn, MConn::Connected { maybe_gone: false })
    }

    /// Checks the callback of outstanding send `seq`: issue order per socket; every byte
    /// sent, or -15 once cut (D9) or after an earlier failure, or a net error when loose.
    pub(crate) fn send_done(&mut self, seq: u64, g: &Got) -> Result<(), String> {
        let s = self
            .out_sends
            .remove(&seq)
            .ok_or("not an outstanding send")?;
        if let Some((&first, _)) = self.out_sends.iter().find(|(_, o)| o.id == s.id) {
            ensure!(
                first > seq,
                "completed before send #{first} of the same socket (issue order)"
            );
        }
        let loose = s.loose.0 || self.send_loose(s.id, s.loose.1);
        let ok = match g {
            Got::Sent(n) => *n == s.len && s.fate != Fate::Failed,
            g if *g == Got::net(-15) => s.fate != Fate::Open || loose,
            g if g.is_net_error() => s.fate != Fate::Failed && loose,
            _ => false,
        };
        ensure!(
            ok,
            "expected {} bytes sent ({:?}, may fail: {loose})",
            s.len,
            s.fate
        );
        if g.is_net_error() && *g != Got::net(-15) {
            self.write_failed(s.id, seq);
        }
        self.sync_fault(Syscall::Send);
        Ok(())
    }

    /// The write of outstanding send `seq` failed: the socket is disconnected, its later
    /// sends get -15, and a reading socket gets `on_receive_error` -100 after the -15s. When
    /// it was paused or resumed since the send, the failure may have come before that (the
    /// send was written at once): the -100 may or may not come.
    pub(crate) fn write_failed(&mut self, id: i32, seq: u64) {
        for s in self.out_sends.values_mut().filter(|s| s.id == id) {
            s.fate = Fate::Failed;
        }
        let Some(t) = self.tcps.get_mut(&id) else {
            return;
        };
        if !matches!(t.conn, MConn::Connected { .. }) {
            // A disconnect was called after the write had failed (the send was written at
            // once, the model had it queued): the -100 comes from the failure, before the
            // disconnect's callback, not after it.
            if let Some(i) = self
                .fifo
                .iter()
                .position(|f| matches!(f, Fifo::RecvErr(x, _) if *x == id))
            {
                self.fifo.remove(i);
                self.fifo.push_front(Fifo::RecvErr(id, self.turns - 1));
            } else {
                t.late_recv_err = true;
            }
            return;
        }
        t.conn = MConn::Idle;
        if t.paused_by > seq {
            t.paused = true;
            t.late_recv_err = true;
        } else if !t.paused {
            t.paused = true;
            self.fifo.push_front(Fifo::RecvErr(id, self.turns - 1));
        } else {
            // Paused since the send: if the write failed before that, it was reading.
            t.late_recv_err = true;
        }
    }
}

/// The id rule (deviation D12), written plainly: the counter issues `next` unless it is live,
/// moving on and wrapping from `last` to 1; with all of `1..=last` live, nothing.
fn issue(next: &mut i32, last: i32, live_count: usize, live: impl Fn(i32) -> bool) -> Option<i32> {
    if live_count >= last as usize {
        return None;
    }
    loop {
        let id = *next;
        *next = if id >= last { 1 } else { id + 1 };
        if !live(id) {
            return Some(id);
        }
    }
}
