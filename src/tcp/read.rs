//! The read path of a tcp socket: one `buffer_size` chunk at a time, each returned to the
//! turn's dispatcher as an outcome, so that a listener's pause or close between two chunks
//! stops the next read (D8).
//!
//! Every read lands in the reactor's one read buffer (as large as the largest `buffer_size`
//! read so far, zeroed once when it grows, never per read), and the bytes read are copied
//! into a `Vec` of exactly their length: an `on_receive` of n bytes holds n bytes, whatever
//! `buffer_size` is, so an app that keeps what a one-byte-at-a-time peer sends keeps one
//! byte per byte (not `buffer_size` bytes per byte, as a buffer allocated per read and
//! truncated would).

use std::io;

use super::entry::{Conn, TcpEntry};
use crate::ids::TcpSocketId;
use crate::info::{ReceiveErrorInfo, ReceiveInfo};
use crate::net_error::NetError;
use crate::queue::{Io, Task};
use crate::sys;

/// Read size when `buffer_size` is unset or not positive (Chrome's `kDefaultBufferSize`).
const DEFAULT_BUFFER_SIZE: usize = 4096;
/// Largest read for one `on_receive`, whatever `buffer_size` says (and so the most the
/// reactor's read buffer grows to).
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

    /// Reads one chunk of at most `buffer_size` bytes into `buf` (the reactor's read buffer,
    /// grown here to that size if it is smaller), unless paused or not connected; the
    /// `on_receive` gets a copy of exactly the bytes read.
    pub(crate) fn read_one(&mut self, buf: &mut Vec<u8>, cx: &mut Io<'_, R, S>) -> Read {
        if self.paused {
            return Read::Done;
        }
        let size = self.read_size();
        let Conn::Connected { stream, .. } = &mut self.conn else {
            return Read::Done;
        };
        if buf.len() < size {
            // Zeroed once, when the buffer grows; reads reuse it as it is.
            buf.resize(size, 0);
        }
        match sys::read(stream, &mut buf[..size]) {
            Ok(0) => self.connection_lost(NetError::CONNECTION_CLOSED, cx),
            Ok(n) => {
                let info = ReceiveInfo {
                    socket_id: TcpSocketId::from_raw(self.id),
                    data: buf[..n].to_vec(),
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
