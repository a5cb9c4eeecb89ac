//! Finishing a connection without losing data: the half-close behind the extensions
//! `shutdown_send` and `end` of `chrome.sockets.tcp` (Chrome has neither; the view's docs
//! describe them).

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
}
