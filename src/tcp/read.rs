//! The read path of a tcp socket: one `buffer_size` chunk at a time, each returned to the
//! turn's dispatcher as an outcome, so that a listener's pause or close between two chunks
//! stops the next read (D8).

use std::io;

use super::entry::{Conn, TcpEntry};
use crate::ids::TcpSocketId;
use crate::info::{ReceiveErrorInfo, ReceiveInfo};
use crate::net_error::NetError;
use crate::queue::{Io, Task};
use crate::sys;

/// Read size when `buffer_size` is unset or not positive (Chrome's `kDefaultBufferSize`).
const DEFAULT_BUFFER_SIZE: usize = 4096;
/// Largest read the reactor allocates for one `on_receive`, whatever `buffer_size` says.
const MAX_READ_SIZE: usize = 1 << 20;
/// Chunks one read step may deliver before other sockets get their turn.
pub(crate) const READS_PER_STEP: usize = 16;

/// What one [`TcpEntry::read_one`] did.
#[derive(Debug)]
pub(crate) enum Read {
    /// Bytes for `on_receive`. `more`: the chunk filled the buffer, so more may be waiting
    /// (a short read drained the socket unless the peer's FIN is known to be pending).
    Data { info: ReceiveInfo, more: bool },
    /// EOF or a read error: the socket is now disconnected and paused; `on_receive_error`.
    Lost(ReceiveErrorInfo),
    /// Interrupted by a signal: read again.
    Again,
    /// Nothing to read now (would block), or the socket is paused or not connected.
    Done,
}

impl<R: 'static, S: 'static> TcpEntry<R, S> {
    /// Queues one read step unless one is queued already.
    pub(crate) fn queue_read(&mut self, key: usize, cx: &mut Io<'_, R, S>) {
        if !self.read_queued {
            self.read_queued = true;
            cx.queue.push(Task::Read { key, id: self.id });
        }
    }

    /// The queued read step starts: another may be queued from now on.
    pub(crate) fn begin_read_step(&mut self) {
        self.read_queued = false;
    }

    /// Unpaused and connected: a read step that used up its chunks comes back next turn.
    pub(crate) fn is_reading(&self) -> bool {
        !self.paused && self.is_connected()
    }

    /// Reading and registered: after a panic cut a turn short, a read is re-armed.
    pub(crate) fn needs_rearm(&self) -> bool {
        self.is_reading() && self.registered
    }

    /// Whether reading may go on after a chunk that did not fill the buffer.
    pub(crate) fn read_closed(&self) -> bool {
        self.read_closed
    }

    fn read_size(&self) -> usize {
        if self.buffer_size <= 0 {
            DEFAULT_BUFFER_SIZE
        } else {
            (self.buffer_size as usize).min(MAX_READ_SIZE)
        }
    }

    /// Reads one chunk, unless paused or not connected.
    pub(crate) fn read_one(&mut self, cx: &mut Io<'_, R, S>) -> Read {
        if self.paused {
            return Read::Done;
        }
        let size = self.read_size();
        let Conn::Connected { stream, .. } = &mut self.conn else {
            return Read::Done;
        };
        let mut data = vec![0; size];
        match sys::read(stream, &mut data) {
            Ok(0) => self.connection_lost(NetError::CONNECTION_CLOSED, cx),
            Ok(n) => {
                data.truncate(n);
                let info = ReceiveInfo {
                    socket_id: TcpSocketId::from_raw(self.id),
                    data,
                };
                // A short read drained the socket buffer: the next byte or FIN is a new edge.
                // A FIN already reported arrives with no new edge, so then read on until EOF.
                Read::Data {
                    info,
                    more: n == size,
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => Read::Done,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => Read::Again,
            Err(e) => self.connection_lost(NetError::from_io_error(&e), cx),
        }
    }

    /// EOF or a read error: disconnect and pause; `on_receive_error` carries `code` (-100
    /// for EOF, the error's own code otherwise, D7).
    fn connection_lost(&mut self, code: NetError, cx: &mut Io<'_, R, S>) -> Read {
        self.drop_connection(cx);
        self.paused = true;
        Read::Lost(ReceiveErrorInfo {
            socket_id: TcpSocketId::from_raw(self.id),
            result_code: code,
        })
    }
}
