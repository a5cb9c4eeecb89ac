//! Socket options of `chrome.sockets.tcp`: `setKeepAlive` and `setNoDelay`.

use super::view::Tcp;
use crate::error::{LastError, Result};
use crate::ids::TcpSocketId;
use crate::net_error::NetError;
use crate::reactor::Reactor;
use crate::sys;

impl<S: 'static> Tcp<'_, S> {
    /// `SO_KEEPALIVE = enable`; with `enable` and a non-zero `delay` (seconds) also
    /// `TCP_KEEPIDLE = TCP_KEEPINTVL = delay`. Errors: unknown id -2 "Socket not found"; not
    /// connected or a refused option (e.g. negative delay) -2 "net::ERR_FAILED".
    ///
    /// ```
    /// # use chrome_sockets::{tcp::SocketProperties, Reactor};
    /// # let server = std::net::TcpListener::bind("127.0.0.1:0")?;
    /// # let port = i32::from(server.local_addr()?.port());
    /// let mut r: Reactor<Option<bool>> = Reactor::new()?;
    /// r.tcp().create(SocketProperties::new(), move |r, _, created| {
    ///     let id = created.unwrap().socket_id;
    ///     r.tcp().connect(id, "127.0.0.1", port, move |r, _, result| {
    ///         result.unwrap();
    ///         r.tcp().set_keep_alive(id, true, 30, |r, ok, result| {
    ///             *ok = Some(result.is_ok());
    ///             r.stop();
    ///         });
    ///     });
    /// });
    /// # r.set_timeout(std::time::Duration::from_secs(10), |r, _| r.stop()); // bounds `run`
    /// let mut ok = None;
    /// r.run(&mut ok)?;
    /// assert_eq!(ok, Some(true));
    /// # drop(server);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_keep_alive<F>(
        &mut self,
        socket_id: TcpSocketId,
        enable: bool,
        delay: i32,
        callback: F,
    ) where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<()>) + 'static,
    {
        let result = self.with_stream(socket_id, |stream| {
            sys::set_keep_alive(std::os::fd::AsFd::as_fd(stream), enable, delay)
        });
        self.r.reply_unit(callback, result);
    }

    /// `TCP_NODELAY = no_delay`. Errors as for [`set_keep_alive`](Tcp::set_keep_alive).
    ///
    /// ```
    /// # use chrome_sockets::{tcp::SocketProperties, Reactor};
    /// let mut r: Reactor<Option<String>> = Reactor::new()?;
    /// r.tcp().create(SocketProperties::new(), |r, _, created| {
    ///     let id = created.unwrap().socket_id;
    ///     // Not connected yet: Chrome answers -2.
    ///     r.tcp().set_no_delay(id, true, |r, msg, result| {
    ///         *msg = Some(result.unwrap_err().message().to_owned());
    ///         r.stop();
    ///     });
    /// });
    /// # r.set_timeout(std::time::Duration::from_secs(10), |r, _| r.stop()); // bounds `run`
    /// let mut msg = None;
    /// r.run(&mut msg)?;
    /// assert_eq!(msg.as_deref(), Some("net::ERR_FAILED"));
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn set_no_delay<F>(&mut self, socket_id: TcpSocketId, no_delay: bool, callback: F)
    where
        F: FnOnce(&mut Reactor<S>, &mut S, Result<()>) + 'static,
    {
        let result = self.with_stream(socket_id, |stream| stream.set_nodelay(no_delay));
        self.r.reply_unit(callback, result);
    }

    fn with_stream(
        &mut self,
        socket_id: TcpSocketId,
        f: impl FnOnce(&mio::net::TcpStream) -> std::io::Result<()>,
    ) -> Result<()> {
        match self.r.tcps().by_id(socket_id.raw()) {
            Some(entry) => entry.with_stream(f),
            None => Err(LastError::socket_not_found_with(NetError::FAILED)),
        }
    }
}
