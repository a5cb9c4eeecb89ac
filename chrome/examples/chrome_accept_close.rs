//! `cargo run --release -p chrome-oracle --example chrome_accept_close [CONNS] [IN_FLIGHT]`
//!
//! Chrome as an accept-and-close server (`bench-app/`) under a loopback load: prints
//! connections per second and Chrome's CPU per connection, summed over all its processes.

use std::time::Duration;

use chrome_oracle::{accept_close_load, ChromeAcceptServer};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let conns: u64 = args.next().map(|a| a.parse()).transpose()?.unwrap_or(2000);
    let in_flight: usize = args.next().map(|a| a.parse()).transpose()?.unwrap_or(1);
    let mut server = ChromeAcceptServer::launch(0)?;
    println!(
        "chrome launched in {:?}, {} processes, port {}",
        server.chrome().launch_time(),
        server.chrome().process_count(),
        server.port()
    );
    // Warm up, then let Chrome go quiet so the window measures the load only.
    accept_close_load(server.port(), 200, in_flight)?;
    std::thread::sleep(Duration::from_millis(500));
    let cpu_before = server.cpu_time();
    let run = accept_close_load(server.port(), conns, in_flight)?;
    let cpu = server.cpu_time().saturating_sub(cpu_before);
    let accepted = server.accepted()?;
    println!(
        "chrome accept-close: {} conns at {} in flight: {:.0} conn/s, {:.0} us CPU/conn \
         (all Chrome processes), {} errors, {} accepted in total",
        run.completed,
        in_flight,
        run.per_second(),
        cpu.as_secs_f64() * 1e6 / run.completed.max(1) as f64,
        run.errors,
        accepted
    );
    Ok(())
}
