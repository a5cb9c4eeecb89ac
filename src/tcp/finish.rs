//! Finishing a connection without losing data, and giving up on a slow connect: the
//! extensions of `chrome.sockets.tcp` that Chrome does not have (`shutdown_send`, `end`,
//! `connect_timeout`; the views' docs describe them).

use std::mem;
use std::net::Shutdown;

use super::entry::{Conn, TcpEntry};
use crate::error::{LastError, Result};
use crate::net_error::NetError;
use crate::queue::{Io, Reply};

impl<R: 'static, S: 'static> TcpEntry<R, S> {
    /// Whether the socket takes sends: connected, and `shutdown_send` not called on it.
    pub(crate) fn can_send(&self) -> bool {
        self.is_connected() && !self.send_closed
    }

    /// Sends the FIN once every queued send is written (at once when none is), then answers
    /// `callback`; the caller checked [`can_send`](Self::can_send).
    pub(crate) fn shutdown_send(
        &mut self,
        callback: Reply<R, S, Result<()>>,
        cx: &mut Io<'_, R, S>,
    ) {
        self.send_closed = true;
        self.extra_mut().shutdown = Some(callback);
        if !self.has_sends() {
            self.finish_shutdown(cx);
        }
    }

    /// The queued sends are all written: a pending `shutdown_send` shuts the write side.
    pub(super) fn finish_shutdown(&mut self, cx: &mut Io<'_, R, S>) {
        let Some(callback) = self.take_shutdown() else {
            return;
        };
        let result = match &self.conn {
            Conn::Connected { stream, .. } => stream
                .shutdown(Shutdown::Write)
                .map_err(|e| LastError::net(NetError::from_io_error(&e))),
            _ => Err(LastError::net(NetError::SOCKET_NOT_CONNECTED)),
        };
        cx.queue.reply_unit(callback, result);
    }

    /// A new `connect` starts: returns its attempt number.
    pub(crate) fn next_connect_attempt(&mut self) -> u64 {
        let extra = self.extra_mut();
        extra.connect_attempt += 1;
        extra.connect_attempt
    }

    /// The attempt number the next `connect` will get.
    pub(crate) fn upcoming_connect_attempt(&self) -> u64 {
        self.extra.as_ref().map_or(0, |e| e.connect_attempt) + 1
    }

    /// A connect timeout for `attempt` expired: if that connect is still in progress, it is
    /// abandoned (its fd closed) and its callback gets -118 `CONNECTION_TIMED_OUT`.
    pub(crate) fn connect_timed_out(&mut self, attempt: u64, cx: &mut Io<'_, R, S>) {
        let waiting = self
            .extra
            .as_ref()
            .is_some_and(|e| e.connect_attempt == attempt && e.connect.is_some());
        if !waiting {
            return;
        }
        match mem::replace(&mut self.conn, Conn::Idle) {
            Conn::Connecting { stream, .. } => self.close_stream(stream, cx),
            Conn::Resolving { .. } | Conn::Idle => {}
            connected @ Conn::Connected { .. } => {
                // Not reached (a connected socket has no connect callback); keep it as is.
                self.conn = connected;
                return;
            }
        }
        if let Some(callback) = self.take_connect() {
            let e = LastError::net(NetError::CONNECTION_TIMED_OUT);
            cx.queue.reply(callback, Err(e));
        }
    }
}
