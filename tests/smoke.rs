//! The kit itself works: a server accepts, closes, and fds return to baseline.
mod util;
use util::*;

use chrome_sockets::Reactor;

#[test]
fn accept_close_round_trip_leaves_no_fd() {
    let _fds = FdGuard::new();
    let mut r: Reactor<usize> = Reactor::new().unwrap();
    let mut accepted = 0;
    r.tcp_server().on_accept().add_listener(|r, n, info| {
        *n += 1;
        r.tcp()
            .close(info.client_socket_id, |_, _, res| res.unwrap());
    });
    let (_id, addr) = listen_on_loopback(&mut r, &mut accepted);
    let clients: Vec<_> = (0..5).map(|_| connect(addr)).collect();
    turn_until(&mut r, &mut accepted, |n| *n == 5);
    for mut c in clients {
        use std::io::Read;
        let mut buf = [0u8; 1];
        assert_eq!(c.read(&mut buf).unwrap(), 0, "client sees EOF");
    }
}
