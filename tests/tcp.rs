//! `chrome.sockets.tcp`, one module per area: call results and socket state, data on the
//! wire, and peer and transport errors. Every test takes the binary's lock (through
//! `with_recorder` or `FdGuard`): they count fds.
mod util;

/// The areas, one file each in `tests/tcp/`.
mod tcp {
    mod adapter;
    mod calls;
    mod data;
    mod graceful;
    mod peer_errors;
    mod resolve;
}
