//! Ready-made callbacks.

use crate::error::Result;
use crate::reactor::Reactor;

/// A callback that does nothing, for a call whose result cannot matter to the program: pass
/// `chrome_sockets::ignore` where a call wants a callback, instead of `|_, _, _| {}`.
///
/// It drops errors too, so use it only where no error can tell the program anything it needs:
/// `set_paused` or `close` of an id an `on_accept` listener was just given (the only possible
/// error, "Socket not found", cannot happen before the listener returns), or a `send` on a
/// socket whose `on_receive_error` listener already handles a lost connection (a failed write
/// also ends reading with -100 there). Where an error would mean something, handle it in a
/// closure; a log line alone is not handling it, so the crate offers no `log_error`.
///
/// Like a closure that captures nothing, `ignore` is zero-sized: queueing it allocates nothing.
/// Name it at each call (`use chrome_sockets::ignore;`); a `let f = ignore;` binding is one
/// instantiation, whose result type then fits only one kind of call.
///
/// ```
/// use chrome_sockets::{ignore, tcp_server::SocketProperties, Reactor};
///
/// let mut r: Reactor = Reactor::new()?;
/// r.tcp_server().on_accept().add_listener(|r, _, info| {
///     // The id was just handed over: these cannot fail.
///     r.tcp().set_paused(info.client_socket_id, false, ignore);
/// });
/// r.tcp_server().create(SocketProperties::new(), |r, _, created| {
///     let id = created.expect("create cannot fail").socket_id;
///     r.tcp_server().close(id, ignore);
/// });
/// r.run(&mut ())?; // returns: the only socket is closed
/// # Ok::<(), std::io::Error>(())
/// ```
pub fn ignore<S, T>(_: &mut Reactor<S>, _: &mut S, _: Result<T>) {}
