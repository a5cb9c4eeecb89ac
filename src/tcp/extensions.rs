//! The **extensions** of the [`Tcp`] view (Chrome has none of these): [`Tcp::connect_timeout`],
//! [`Tcp::shutdown_send`] and [`Tcp::end`]. Nothing Chrome-compatible changes because of them.

use std::time::Duration;

use super::view::Tcp;
use crate::error::{LastError, Result};
use crate::ids::TcpSocketId;
use crate::net_error::NetError;
use crate::reactor::Reactor;

impl<S: 'static> Tcp<'_, S> {
    /// **Extension** (Chrome has none): [`connect`](Self::connect) that gives up after
    /// `timeout`. If the connect (name resolution included) has not completed by then, its fd
    /// is closed and the callback gets -118 `net::ERR_CONNECTION_TIMED_OUT`; the socket is
    /// left unconnected and may `connect` again. Otherwise exactly as `connect`.
    ///
    /// ```
    /// # use chrome_sockets::{tcp::SocketProperties, Reactor};
    /// # use std::time::Duration;
    /// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let port = i32::from(server.local_addr()?.port());
    /// let mut r: Reactor<Option<bool>> = Reactor::new()?;
    /// r.tcp().create(SocketProperties::new(), move |r, _, created| {
    ///     let id = created.unwrap().socket_id;
    ///     let timeout = Duration::from_secs(5);
    ///     r.tcp().connect_timeout(id, "127.0.0.1", port, timeout, |r, ok, result| {
    ///         *ok = Some(result.is_ok());
    ///         r.stop();
    ///     });
    /// });
    /// let mut ok = None;
    /// r.run(&mut ok)?; // the timer is cleared when the connect completes: `run` returns
    /// assert_eq!(ok, Some(true));
    /// # drop(server);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn connect_timeout<F>(
        &mut self,
        socket_id: TcpSocketId,
        peer_address: &str,
        peer_port: i32,
        timeout: Duration,
        callback: F,
    ) where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<()>) + 'static,
    {
        super::connect::connect_timeout(
            self.r,
            socket_id,
            peer_address,
            peer_port,
            timeout,
            callback,
        );
    }

    /// **Extension** (Chrome has none; tokio's `shutdown`, the half-close of Node's `end()`):
    /// sends the FIN once every send queued so far is written. The callback comes after the
    /// FIN was handed to the kernel; the peer then reads EOF after the last byte. Reading goes
    /// on (the peer may still send); later sends fail with -15.
    ///
    /// # Errors
    /// unknown id "Socket not found"; not connected, or called twice -15; a queued send that
    /// failed, or a `disconnect`/`close` before the sends were written, -15 (the sends carry
    /// their own errors).
    ///
    /// ```
    /// # use chrome_sockets::{tcp::SocketProperties, Reactor};
    /// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let port = i32::from(server.local_addr()?.port());
    /// let mut r: Reactor = Reactor::new()?;
    /// r.tcp().create(SocketProperties::new(), move |r, _, created| {
    ///     let id = created.unwrap().socket_id;
    ///     r.tcp().connect(id, "127.0.0.1", port, move |r, _, result| {
    ///         result.unwrap();
    ///         r.tcp().send(id, "request", |_, _, sent| assert!(sent.is_ok()));
    ///         r.tcp().shutdown_send(id, |r, _, result| {
    ///             result.unwrap();
    ///             r.stop();
    ///         });
    ///     });
    /// });
    /// r.run(&mut ())?;
    /// let (mut peer, _) = server.accept()?;
    /// let mut got = String::new();
    /// std::io::Read::read_to_string(&mut peer, &mut got)?; // ends at the FIN
    /// assert_eq!(got, "request");
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn shutdown_send<F>(&mut self, socket_id: TcpSocketId, callback: F)
    where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<()>) + 'static,
    {
        let key = self.r.tcps().key(socket_id.raw());
        match key.map(|key| (key, self.r.tcps()[key].can_send())) {
            None => self
                .r
                .reply_unit(callback, Err(LastError::socket_not_found())),
            Some((_, false)) => {
                let e = LastError::net(NetError::SOCKET_NOT_CONNECTED);
                self.r.reply_unit(callback, Err(e));
            }
            Some((key, true)) => {
                let (entry, mut cx) = self.r.tcp_io(key);
                entry.shutdown_send(Box::new(callback), &mut cx);
            }
        }
    }

    /// **Extension** (Chrome has none; Node's `end()`): closes the socket once every send
    /// queued so far is written, so nothing sent is lost. It is
    /// [`shutdown_send`](Self::shutdown_send) (the FIN goes out after the last byte) followed,
    /// when that completes or fails, by [`close`](Self::close); the callback gets
    /// `shutdown_send`'s result, and the id is invalid from then on. Until then the socket
    /// stays open and readable. (Bytes the peer sends that were never read make the kernel
    /// answer the close with a reset, as with any close.)
    ///
    /// ```
    /// # use chrome_sockets::{tcp::SocketProperties, Reactor};
    /// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let port = i32::from(server.local_addr()?.port());
    /// let peer = std::thread::spawn(move || {
    ///     let (mut peer, _) = server.accept().unwrap();
    ///     let mut got = Vec::new();
    ///     std::io::Read::read_to_end(&mut peer, &mut got).unwrap(); // ends at the FIN
    ///     got.len()
    /// });
    /// let mut r: Reactor = Reactor::new()?;
    /// r.tcp().create(SocketProperties::new(), move |r, _, created| {
    ///     let id = created.unwrap().socket_id;
    ///     r.tcp().connect(id, "127.0.0.1", port, move |r, _, result| {
    ///         result.unwrap();
    ///         r.tcp().send(id, vec![7; 8 << 20], |_, _, _| {}); // 8 MiB
    ///         r.tcp().end(id, |_, _, result| result.unwrap());
    ///     });
    /// });
    /// r.run(&mut ())?; // returns once the socket is closed
    /// assert_eq!(peer.join().unwrap(), 8 << 20);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn end<F>(&mut self, socket_id: TcpSocketId, callback: F)
    where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<()>) + 'static,
    {
        self.shutdown_send(socket_id, move |r, s, result| {
            r.close_tcp(socket_id.raw());
            callback(r, s, result);
        });
    }
}
