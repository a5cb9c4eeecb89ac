//! The send path of a tcp socket: a FIFO of sends written in issue order, the front one
//! partly written when the socket would block, and the write quota counted across sockets.

use std::collections::VecDeque;
use std::io;
use std::os::fd::AsFd;

use super::entry::{Conn, PendingSend, TcpEntry};
use crate::error::{LastError, Result};
use crate::info::SendInfo;
use crate::net_error::NetError;
use crate::queue::{Io, Reply};
use crate::sys;

/// Chrome's per-app write quota: bytes handed to `send` and not yet written (the default of
/// [`ReactorBuilder::write_quota`](crate::ReactorBuilder::write_quota)).
pub const DEFAULT_WRITE_QUOTA: usize = 200 * 1024 * 1024;

/// Queue slots a socket keeps once its sends are all written; a larger queue is freed.
const KEPT_SENDS: usize = 8;

impl<R: 'static, S: 'static> PendingSend<R, S> {
    /// Answers the send with `code` and takes its unwritten bytes off the quota.
    pub(super) fn fail(self, code: NetError, cx: &mut Io<'_, R, S>) {
        *cx.write_pending -= self.data.len() - self.written;
        cx.queue.reply(self.callback, Err(LastError::net(code)));
    }
}

impl<R: 'static, S: 'static> TcpEntry<R, S> {
    /// Queues a send; the caller checked id, connection and quota.
    pub(crate) fn send(
        &mut self,
        key: usize,
        data: Vec<u8>,
        callback: Reply<R, S, Result<SendInfo>>,
        cx: &mut Io<'_, R, S>,
    ) {
        *cx.write_pending += data.len();
        let sends = &mut self.extra_mut().sends;
        sends.push_back(PendingSend {
            data,
            written: 0,
            callback,
        });
        if sends.len() == 1 {
            self.flush_sends(key, cx);
        }
    }

    /// Writes queued sends in order until the socket would block; each completed send's
    /// callback is queued with every byte counted.
    pub(super) fn flush_sends(&mut self, key: usize, cx: &mut Io<'_, R, S>) {
        loop {
            let Conn::Connected { stream, .. } = &self.conn else {
                return;
            };
            let Some(front) = self.extra.as_mut().and_then(|e| e.sends.front_mut()) else {
                // Everything is written. A queue that a burst grew gives its memory back (it
                // would otherwise keep its peak for the connection's life: 48 KiB per socket
                // after 1,000 queued sends); a `shutdown_send` waiting for that happens now.
                if let Some(e) = self
                    .extra
                    .as_mut()
                    .filter(|e| e.sends.capacity() > KEPT_SENDS)
                {
                    e.sends = VecDeque::new();
                }
                self.finish_shutdown(cx);
                return;
            };
            if front.written == front.data.len() {
                let Some(done) = self.sends_mut().and_then(|s| s.pop_front()) else {
                    return;
                };
                let info = SendInfo {
                    result_code: NetError::OK,
                    bytes_sent: done.data.len(),
                };
                cx.queue.reply(done.callback, Ok(info));
                continue;
            }
            match sys::send(stream.as_fd(), &front.data[front.written..]) {
                Ok(n) => {
                    front.written += n;
                    *cx.write_pending -= n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    if let Err(e) = self.ensure_registered(key, cx) {
                        self.write_failed(&e, cx);
                    }
                    return;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.write_failed(&e, cx);
                    return;
                }
            }
        }
    }

    /// A write failed: the send being written gets the error's code, the socket is
    /// disconnected (queued sends get -15), and a reading socket gets `on_receive_error` -100
    /// after that callback (Chrome's order) and is paused.
    fn write_failed(&mut self, error: &io::Error, cx: &mut Io<'_, R, S>) {
        let reading = !self.paused;
        if let Some(send) = self.sends_mut().and_then(|s| s.pop_front()) {
            send.fail(NetError::from_io_error(error), cx);
        }
        self.drop_connection(cx);
        if reading {
            self.lost_while_reading(NetError::CONNECTION_CLOSED, cx);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;
    use std::io::Read;
    use std::net::TcpListener;
    use std::rc::Rc;
    use std::time::{Duration, Instant};

    use crate::tcp::SocketProperties;
    use crate::{Reactor, TcpSocketId};

    /// Turns until `done` or 10 s pass (then fails).
    fn turn_until(r: &mut Reactor<()>, mut done: impl FnMut(&mut Reactor<()>) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !done(r) {
            assert!(Instant::now() < deadline, "timed out");
            r.turn(Some(Duration::from_millis(10)), &mut ()).unwrap();
        }
    }

    #[test]
    fn a_drained_send_queue_gives_back_the_memory_of_a_burst() {
        const SMALL: usize = 1000;
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = i32::from(listener.local_addr().unwrap().port());
        let mut r = Reactor::<()>::new().unwrap();
        let id = Rc::new(Cell::new(None::<TcpSocketId>));
        let set = id.clone();
        r.tcp()
            .create(SocketProperties::default(), move |_, _, info| {
                set.set(Some(info.unwrap().socket_id));
            });
        turn_until(&mut r, |_| id.get().is_some());
        let id = id.get().unwrap();
        let connected = Rc::new(Cell::new(false));
        let set = connected.clone();
        r.tcp().connect(id, "127.0.0.1", port, move |_, _, result| {
            result.unwrap();
            set.set(true);
        });
        turn_until(&mut r, |_| connected.get());
        let (mut peer, _) = listener.accept().unwrap();

        // A send larger than the socket buffers blocks; a burst of small sends queues behind it.
        let big = 16 << 20;
        let sent = Rc::new(Cell::new(0usize));
        for len in std::iter::once(big).chain([10; SMALL]) {
            let sent = sent.clone();
            r.tcp().send(id, vec![7u8; len], move |_, _, info| {
                assert_eq!(info.unwrap().bytes_sent, len);
                sent.set(sent.get() + 1);
            });
        }
        let capacity = |r: &mut Reactor<()>| {
            let key = r.tcps().key(id.raw()).unwrap();
            r.tcps()[key].extra.as_ref().unwrap().sends.capacity()
        };
        let peak = capacity(&mut r);
        assert!(peak > SMALL, "the burst is queued: capacity {peak}");

        peer.set_nonblocking(true).unwrap();
        let mut buf = vec![0u8; 1 << 20];
        let mut received = 0;
        let expected = big + 10 * SMALL;
        turn_until(&mut r, |_| {
            while let Ok(n) = peer.read(&mut buf) {
                if n == 0 {
                    break;
                }
                received += n;
            }
            received == expected && sent.get() == SMALL + 1
        });
        let after = capacity(&mut r);
        assert!(
            after <= 8,
            "a drained queue keeps {after} slots of {} bytes (peak {peak})",
            std::mem::size_of::<super::PendingSend<Reactor<()>, ()>>()
        );
    }
}
