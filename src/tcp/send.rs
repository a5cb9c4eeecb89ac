//! The send path of a tcp socket: a FIFO of sends written in issue order, the front one
//! partly written when the socket would block, and the write quota counted across sockets.

use std::collections::VecDeque;
use std::io;
use std::os::fd::AsFd;

use mio::net::TcpStream;

use super::entry::{Conn, PendingSend, TcpEntry};
use crate::error::{LastError, Result};
use crate::info::SendInfo;
use crate::net_error::NetError;
use crate::queue::{Io, Reply};
use crate::sys;

/// Chrome's per-app write quota: bytes handed to `send` and not yet written (the default of
/// [`ReactorBuilder::write_quota`](crate::ReactorBuilder::write_quota)).
pub const DEFAULT_WRITE_QUOTA: usize = 200 * 1024 * 1024;

impl<R: 'static, S: 'static> PendingSend<R, S> {
    /// Answers the send with `code` and takes its unwritten bytes off the quota.
    pub(super) fn fail(self, code: NetError, cx: &mut Io<'_, R, S>) {
        *cx.write_pending -= self.data.len() - self.written;
        cx.queue.reply(self.callback, Err(LastError::net(code)));
    }

    /// Answers the send, every byte written.
    fn succeed(self, cx: &mut Io<'_, R, S>) {
        let info = SendInfo {
            result_code: NetError::OK,
            bytes_sent: self.data.len(),
        };
        cx.queue.reply(self.callback, Ok(info));
    }

    /// Writes what is left of it until it is all out (`Ok(true)`) or the socket would block
    /// (`Ok(false)`), taking what is written off the quota.
    fn write_out(&mut self, stream: &TcpStream, write_pending: &mut usize) -> io::Result<bool> {
        while self.written < self.data.len() {
            match sys::send(stream.as_fd(), &self.data[self.written..]) {
                Ok(n) => {
                    self.written += n;
                    *write_pending -= n;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(false),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(true)
    }
}

impl<R: 'static, S: 'static> TcpEntry<R, S> {
    /// Sends `data`; the caller checked id, connection and quota. With nothing queued before
    /// it, it is written at once, and only what the socket does not take is queued: a socket
    /// whose sends all go out at once never allocates a queue.
    pub(crate) fn send(
        &mut self,
        key: usize,
        data: Vec<u8>,
        callback: Reply<R, S, Result<SendInfo>>,
        cx: &mut Io<'_, R, S>,
    ) {
        *cx.write_pending += data.len();
        let mut send = PendingSend {
            data,
            written: 0,
            callback,
        };
        let Conn::Connected { stream, .. } = &self.conn else {
            return send.fail(NetError::SOCKET_NOT_CONNECTED, cx);
        };
        if self.has_sends() {
            return self.extra_mut().sends.push_back(send);
        }
        match send.write_out(stream, cx.write_pending) {
            Ok(true) => send.succeed(cx),
            Ok(false) => match self.ensure_registered(key, cx) {
                Ok(()) => self.extra_mut().sends.push_back(send),
                Err(e) => self.write_failed(&e, Some(send), cx),
            },
            Err(e) => self.write_failed(&e, Some(send), cx),
        }
    }

    /// Writes queued sends in order until the socket would block; each completed send's
    /// callback is queued with every byte counted.
    pub(super) fn flush_sends(&mut self, key: usize, cx: &mut Io<'_, R, S>) {
        let (Conn::Connected { stream, .. }, Some(extra)) = (&self.conn, self.extra.as_deref_mut())
        else {
            return;
        };
        let outcome = loop {
            let Some(front) = extra.sends.front_mut() else {
                break Ok(true);
            };
            match front.write_out(stream, cx.write_pending) {
                Ok(true) => {
                    if let Some(done) = extra.sends.pop_front() {
                        done.succeed(cx);
                    }
                }
                other => break other,
            }
        };
        match outcome {
            Ok(true) => {
                // Everything is written: the queue gives its memory back (a socket keeps none
                // between bursts), and a `shutdown_send` waiting for the sends happens now.
                extra.sends = VecDeque::new();
                self.finish_shutdown(cx);
            }
            Ok(false) => {
                if let Err(e) = self.ensure_registered(key, cx) {
                    let front = self.sends_mut().and_then(|s| s.pop_front());
                    self.write_failed(&e, front, cx);
                }
            }
            Err(e) => {
                let front = self.sends_mut().and_then(|s| s.pop_front());
                self.write_failed(&e, front, cx);
            }
        }
    }

    /// A write failed: `send`, the one being written, gets the error's code, the socket is
    /// disconnected (queued sends get -15), and a reading socket gets `on_receive_error` -100
    /// after that callback (Chrome's order) and is paused.
    fn write_failed(
        &mut self,
        error: &io::Error,
        send: Option<PendingSend<R, S>>,
        cx: &mut Io<'_, R, S>,
    ) {
        let reading = !self.paused;
        if let Some(send) = send {
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
            after == 0,
            "a drained queue keeps {after} slots of {} bytes (peak {peak})",
            std::mem::size_of::<super::PendingSend<Reactor<()>, ()>>()
        );
    }

    #[test]
    fn sends_that_go_out_at_once_allocate_nothing_for_the_socket() {
        use crate::tcp_server::SocketProperties as ServerProperties;
        let mut r = Reactor::<()>::new().unwrap();
        let accepted = Rc::new(Cell::new(None::<TcpSocketId>));
        let set = accepted.clone();
        r.tcp_server()
            .on_accept()
            .add_listener(move |_, _, info| set.set(Some(info.client_socket_id)));
        let port = Rc::new(Cell::new(None::<u16>));
        let bound = port.clone();
        r.tcp_server()
            .create(ServerProperties::default(), move |r, _, info| {
                let id = info.unwrap().socket_id;
                r.tcp_server()
                    .listen(id, "127.0.0.1", 0, None, move |r, _, result| {
                        result.unwrap();
                        bound.set(Some(r.tcp_server().local_addr(id).unwrap().port()));
                    });
            });
        turn_until(&mut r, |_| port.get().is_some());
        let mut peer = std::net::TcpStream::connect(("127.0.0.1", port.get().unwrap())).unwrap();
        turn_until(&mut r, |_| accepted.get().is_some());
        let id = accepted.get().unwrap();

        // 100 small sends, each written at once: every byte arrives, nothing is queued.
        let sent = Rc::new(Cell::new(0usize));
        for i in 0..100u8 {
            let sent = sent.clone();
            r.tcp().send(id, vec![i; 64], move |_, _, info| {
                assert_eq!(info.unwrap().bytes_sent, 64);
                sent.set(sent.get() + 1);
            });
        }
        turn_until(&mut r, |_| sent.get() == 100);
        let mut got = vec![0u8; 6400];
        peer.read_exact(&mut got).unwrap();
        assert!(got
            .chunks(64)
            .enumerate()
            .all(|(i, c)| c.iter().all(|&b| b == i as u8)));
        let key = r.tcps().key(id.raw()).unwrap();
        assert!(
            r.tcps()[key].extra.is_none(),
            "an accepted socket whose sends all went out at once keeps no send queue"
        );
    }
}
