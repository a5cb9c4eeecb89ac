//! `chrome.sockets.tcpServer`, one module per area: call results and lastErrors, pausing, and one port
//! shared by several servers (`reuse_port`).
//! Every test takes the binary's lock (`serial()`): some count fds.
mod util;

/// The areas, one file each in `tests/tcp_server/`.
mod tcp_server {
    mod calls;
    mod pause;
    mod shards;
}
