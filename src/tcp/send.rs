//! The send path of a tcp socket: a FIFO of sends written in issue order, the front one
//! partly written when the socket would block, and the write quota counted across sockets.

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
                // Everything is written: a `shutdown_send` waiting for that happens now.
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
