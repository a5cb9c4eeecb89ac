//! Chrome's `chrome.sockets.tcpServer` and `chrome.sockets.tcp` APIs for native code: a
//! single-threaded, synchronous event loop on raw [`mio`].
//!
//! One [`Reactor`] owns the OS poll and every socket. Its namespaces are views named like
//! Chrome's: [`reactor.tcp_server()`](Reactor::tcp_server) is `chrome.sockets.tcpServer`,
//! [`reactor.tcp()`](Reactor::tcp) is `chrome.sockets.tcp`, with Chrome's methods and events
//! in snake_case. Socket ids, results, error strings and net error codes are Chrome's; where
//! Chrome has a bug the crate does what Chrome's documentation promises (see [`deviations`]).
//!
//! **The sharp edge:** callbacks never run inside the call that takes them. Every call takes
//! effect at once and queues its callback; callbacks and events run, in order and exactly
//! once, during a [`Reactor::turn`] after the call returns (the same turn, when a callback
//! made the call and the turn's budget is not spent). Nothing happens unless you turn the
//! reactor (or [`run`](Reactor::run) it).
//!
//! # Quick start: accept and close
//! ```
//! use chrome_sockets::{ignore, tcp_server::SocketProperties, Reactor};
//! use std::net::TcpStream;
//!
//! #[derive(Default)]
//! struct App { port: Option<u16>, accepted: usize }
//!
//! let mut r: Reactor<App> = Reactor::new()?;
//! let mut app = App::default();
//! r.tcp_server().on_accept().add_listener(|r, app, info| {
//!     app.accepted += 1;
//!     r.tcp().close(info.client_socket_id, ignore); // a fresh id: cannot fail
//! });
//! r.tcp_server().create(SocketProperties::default(), |r, app, created| {
//!     let id = created.expect("create cannot fail").socket_id;
//!     r.tcp_server().listen(id, "127.0.0.1", 0, None, |_, _, result| result.expect("listen"));
//!     // `listen` took effect when it returned; `local_addr` (an extension) reads the port.
//!     app.port = r.tcp_server().local_addr(id).ok().map(|addr| addr.port());
//! });
//! while app.port.is_none() {
//!     r.turn(None, &mut app)?;
//! }
//! let _client = TcpStream::connect(("127.0.0.1", app.port.unwrap()))?;
//! while app.accepted == 0 {
//!     r.turn(None, &mut app)?;
//! }
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! More complete programs are in the [`cookbook`]: stopping on Ctrl-C, a line-framing echo
//! that ends gracefully, what a paused socket hears, and a `chrome.sockets.tcp` client
//! (create, connect, send, receive) on the same reactor as a server.
//!
//! # Sharing state with callbacks
//! Callbacks are `FnOnce(&mut Reactor<S>, &mut S, Result<T, LastError>)` and listeners
//! `FnMut(&mut Reactor<S>, &mut S, &Info)`. The first argument lets them make further calls;
//! the second is the application state `S` that [`Reactor::turn`] and [`Reactor::run`] lend
//! for the turn (calloop's shared-data pattern), so no globals and no `Rc<RefCell<_>>` are
//! needed. Use `Reactor<()>` (the default) when there is no state.
//!
//! # Errors
//! A failed call gives its callback `Err(`[`LastError`]`)`: Chrome's `lastError` message and,
//! where Chrome passes one, the [`NetError`] code. Match on [`LastError::kind`] (a
//! [`LastErrorKind`]) to tell errors apart; the message is for people and logs. Accept and read
//! failures arrive as events. Only the OS poll failing, or a turn started from inside a callback
//! ([`ReentrantTurn`]), comes back from a turn as `io::Error`. Every place the library closes
//! a connection, drops data or swallows an error, and who is told and how, is tabled in the
//! repository's `docs/failure-reporting.md`.
//!
//! ```
//! use chrome_sockets::{tcp_server::SocketProperties, LastErrorKind, NetError, Reactor};
//!
//! let taken = std::net::TcpListener::bind("127.0.0.1:0")?; // someone else has the port
//! let port = i32::from(taken.local_addr()?.port());
//! let mut r: Reactor<Option<u16>> = Reactor::new()?;
//! r.tcp_server().create(SocketProperties::new(), move |r, _, created| {
//!     let id = created.expect("create cannot fail").socket_id;
//!     r.tcp_server().listen(id, "127.0.0.1", port, None, move |r, bound, result| {
//!         match result.map_err(|e| e.kind()) {
//!             Ok(()) => *bound = r.tcp_server().local_addr(id).ok().map(|a| a.port()),
//!             // Taken: fall back to any free port.
//!             Err(LastErrorKind::Net(NetError::ADDRESS_IN_USE)) => {
//!                 r.tcp_server().listen(id, "127.0.0.1", 0, None, move |r, bound, result| {
//!                     result.expect("port 0 is always free");
//!                     *bound = r.tcp_server().local_addr(id).ok().map(|a| a.port());
//!                 });
//!             }
//!             Err(other) => panic!("listen: {other:?}"),
//!         }
//!     });
//! });
//! let mut bound = None;
//! while bound.is_none() {
//!     r.turn(None, &mut bound)?;
//! }
//! assert_ne!(bound, Some(port as u16));
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Embedding
//! [`Reactor`] implements `AsRawFd`/`AsFd` (the poll fd, readable when there is I/O),
//! [`Reactor::next_timeout`] says how long a host loop may sleep, `turn(Some(Duration::ZERO))`
//! never blocks, and [`Reactor::waker`] wakes a blocking turn from another thread.
//!
//! # Threads
//! Everything runs on the thread that turns the reactor. The one exception is name
//! resolution: a [`connect`](tcp::Tcp::connect) to a host name (not an IP literal) looks it
//! up on the reactor's resolver pool, the only threads the crate ever starts, and only once
//! a host name is used: at most 4 by default
//! ([`ReactorBuilder::resolver_threads`]), lookups beyond that queued, a thread idle for 5
//! seconds exiting. An app that connects only to IP literals (or only accepts) stays a
//! single-threaded process.
//!
//! # Memory per received byte
//! `buffer_size` (Chrome's `bufferSize`, 4096 by default, capped at 1 MiB) is the most one
//! `on_receive` carries, not what it costs: each read lands in one buffer the reactor reuses
//! and the event's `data` is a copy of exactly the bytes read. An app that keeps every
//! `on_receive` holds what it received, so a peer sending one byte at a time costs a byte per
//! byte. The reactor's read buffer is as large as the largest `buffer_size` read so far.
//!
//! # Ids
//! Server and tcp ids come from separate counters starting at 1. An id is never reused while
//! its socket lives, and not for 2^31 - 1 allocations of its kind after it was issued: at
//! `i32::MAX` a counter wraps to 1 and skips the ids still live (deviation D12), so a server
//! accepts forever. Until then a closed id answers "Socket not found"; a stale readiness event
//! never reaches a newer socket in a reused slot. Only if every id of a kind were live at once
//! (2^31 - 1 sockets) would `create` fail, and an accept pause its server, with -12
//! "net::ERR_INSUFFICIENT_RESOURCES". [`TimerId`]s and [`ListenerId`]s are unique in the
//! process: another reactor's ids find nothing.
//!
//! # Stability
//! The crate follows Cargo's semver rules (while at 0.x, a change of the second number is the
//! breaking one). What may grow without a breaking release:
//! - the dictionaries ([`tcp_server::SocketProperties`], [`tcp::SocketProperties`], both
//!   `CreateInfo`s and `SocketInfo`s, the event infos such as [`tcp_server::AcceptInfo`] and
//!   [`tcp::ReceiveInfo`], [`tcp::SendInfo`]) and [`TurnReport`] are `#[non_exhaustive]`
//!   structs: Chrome adds fields to its dictionaries (`tcp.connect` gained `dnsQueryType`) and
//!   this crate may add extensions, so a release may add fields. Outside the crate, read their
//!   public fields, but build a `SocketProperties` with `new()` (or `Default`) and its setters
//!   (or assign fields of one), and destructure with `..`;
//! - [`LastErrorKind`] and [`AcceptedSockets`] are `#[non_exhaustive]` enums: a release may
//!   add variants, so a `match` on them needs a `_` arm.
//!
//! What does not change without a breaking release: [`LastError::message`] is Chrome's exact
//! `lastError` string and [`NetError`] codes are Chrome's numbers; both change only if Chrome's
//! do, never to improve the wording. The `fault-injection` feature (its `fault_injection`
//! module, and the builder knobs it adds such as `ReactorBuilder::ids_from`) is for the crate's
//! own tests and outside this promise.
//!
//! ```compile_fail
//! // error[E0639]: a `#[non_exhaustive]` struct cannot be built with a literal out here.
//! use chrome_sockets::tcp::SocketProperties;
//! let props = SocketProperties { persistent: None, name: None, buffer_size: None };
//! ```
//! ```
//! let mut props = chrome_sockets::tcp::SocketProperties::new().name("peer");
//! props.buffer_size = Some(8192); // fields stay public: assigning works
//! ```

#![deny(
    missing_docs,
    missing_debug_implementations,
    rust_2018_idioms,
    unreachable_pub,
    unsafe_code
)]
#![warn(clippy::undocumented_unsafe_blocks)]
#![doc(test(attr(deny(warnings))))]

#[cfg(not(target_os = "linux"))]
compile_error!(
    "chrome-sockets supports Linux only for now: its syscalls (accept4 and socket flags, \
     MSG_NOSIGNAL, TCP_KEEPIDLE/TCP_KEEPINTVL, the sockaddr layout) are Linux's"
);

// Listed in dependency order: no file imports one below it, except that the namespace views
// (`tcp/view.rs`, `tcp_server/view.rs`) and `event.rs` use the reactor, which itself uses only
// the namespaces' `entry` files. No two files import each other.
#[macro_use]
mod macros;
mod address;
mod callbacks;
mod error;
mod event;
#[cfg(feature = "fault-injection")]
pub mod fault_injection;
mod ids;
mod info;
mod listeners;
mod net_error;
mod permission;
mod queue;
mod reactor;
mod resolver;
mod signal;
#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
mod sys;
pub mod tcp;
pub mod tcp_server;
mod timer;
mod waker;

pub mod cookbook;
pub mod deviations;

/// The README's Rust snippets, each a complete program, run as doctests by `cargo test`.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;

pub use address::format_ip;
pub use callbacks::ignore;
pub use error::{LastError, LastErrorKind, ReentrantTurn, Result};
pub use event::{Event, ListenerId};
pub use ids::{ServerSocketId, TcpSocketId};
pub use net_error::NetError;
pub use permission::{ManifestError, SocketsManifest};
pub use reactor::{
    AcceptedSockets, Reactor, ReactorBuilder, TurnReport, DEFAULT_ACCEPT_BATCH, DEFAULT_TURN_BUDGET,
};
pub use timer::TimerId;
pub use waker::Waker;
