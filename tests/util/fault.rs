//! Fault injection and "did the reactor do any work" measures: the [`Faults`] guard, turn
//! counters and the thread's CPU time.

use std::io::Read;
use std::time::Duration;

use chrome_sockets::fault_injection::{self, Syscall};
use chrome_sockets::{Reactor, TurnReport};

/// Arms this thread's fault injection and clears it when dropped, even if the test fails
/// half-way. Fault injection is per thread, so tests of one binary cannot disturb each other.
pub struct Faults;

impl Faults {
    /// Makes the next `times` calls of `call` on this thread fail with `errno`.
    pub fn inject(&self, call: Syscall, errno: i32, times: usize) {
        fault_injection::inject(call, errno, times);
    }

    /// Faults of `call` armed and not yet hit.
    pub fn pending(&self, call: Syscall) -> usize {
        fault_injection::pending(call)
    }
}

impl Drop for Faults {
    fn drop(&mut self) {
        fault_injection::clear();
    }
}

/// Runs `n` turns with a 10 ms timeout and adds up what they did. An idle reactor reports
/// zero: any non-zero count means it found work, which is how "no busy loop" is measured
/// (counts, not clocks).
pub fn idle_work<S: 'static>(r: &mut Reactor<S>, state: &mut S, n: usize) -> TurnReport {
    let mut total = TurnReport::default();
    for _ in 0..n {
        let t = r
            .turn(Some(Duration::from_millis(10)), state)
            .expect("turn");
        total.events += t.events;
        total.tasks += t.tasks;
        total.timers += t.timers;
    }
    total
}

/// The calling thread's CPU time, read from an fd opened up front (so it still works when
/// the process is out of fds).
pub struct ThreadCpu(std::fs::File);

impl ThreadCpu {
    /// Opens `/proc/thread-self/stat` of the calling thread.
    pub fn open() -> Self {
        ThreadCpu(std::fs::File::open("/proc/thread-self/stat").expect("stat"))
    }

    /// User + system time so far, in clock ticks (10 ms).
    pub fn ticks(&mut self) -> u64 {
        use std::io::Seek;
        let mut stat = String::new();
        self.0.rewind().unwrap();
        self.0.read_to_string(&mut stat).unwrap();
        // The command name is in parentheses and may contain spaces; utime and stime are
        // fields 14 and 15 of the line, 12 and 13 after "(comm) ".
        let rest = &stat[stat.rfind(')').expect("comm") + 2..];
        let fields: Vec<&str> = rest.split_whitespace().collect();
        fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
    }
}
