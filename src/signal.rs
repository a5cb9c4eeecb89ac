//! Stopping a reactor on a signal with no timer and no thread
//! ([`Reactor::stop_on_signals`](crate::Reactor::stop_on_signals)).
//!
//! One handler serves the whole process ([`sys`]'s `on_signal`): it bumps the signal's
//! count and writes to one eventfd that is made once and never closed, so a handler running
//! on any thread at any moment can never write to a closed or reused fd. Every reactor that
//! stops on signals registers that eventfd with its own poll (one open file may sit in many
//! epoll sets; each write wakes them all), and on its readiness compares the counts of its
//! signals with the ones it saw last: a new one is a stop request. A reactor woken by a
//! signal it does not watch turns once and finds nothing.
//!
//! Dispositions are process-wide, so they are counted here under a lock the handler never
//! takes: the first reactor to watch a signal installs the handler and keeps the disposition
//! it replaced; the last one to stop watching (or to be dropped) puts that disposition back.

use std::io;
use std::sync::atomic::Ordering;
use std::sync::Mutex;

use crate::sys::{self, Disposition, MAX_SIGNAL, SIGNAL_COUNTS};

/// A signal whose handler is installed, with the number of reactors watching it and the
/// disposition to put back after the last one.
struct Installed {
    signal: i32,
    users: usize,
    previous: Disposition,
}

/// Every installed signal; the handler never takes this lock.
static INSTALLED: Mutex<Vec<Installed>> = Mutex::new(Vec::new());

/// One reactor's signal watch: its signals and the count of each it saw last. Dropping it
/// releases its signals.
pub(crate) struct SignalStop {
    seen: Vec<(i32, usize)>,
}

/// Signals a handler may not take: `SIGKILL` and `SIGSTOP` cannot be caught, and a handler
/// that returns from a fault (`SIGSEGV`, `SIGBUS`, `SIGILL`, `SIGFPE`) re-runs the faulting
/// instruction.
const REFUSED: [i32; 6] = [
    libc::SIGKILL,
    libc::SIGSTOP,
    libc::SIGSEGV,
    libc::SIGBUS,
    libc::SIGILL,
    libc::SIGFPE,
];

fn count(signal: i32) -> usize {
    SIGNAL_COUNTS[signal as usize].load(Ordering::SeqCst)
}

impl SignalStop {
    /// Installs the handler for each of `signals` not installed yet and returns the watch
    /// with the process's signal eventfd. Fails, having changed nothing, on a signal number
    /// outside 1..=64, one that cannot be handled, or an error of `eventfd`/`sigaction`.
    pub(crate) fn new(signals: &[i32]) -> io::Result<(SignalStop, std::os::fd::RawFd)> {
        let mut wanted: Vec<i32> = Vec::with_capacity(signals.len());
        for &signal in signals {
            if !(1..=MAX_SIGNAL).contains(&signal) || REFUSED.contains(&signal) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("signal {signal} cannot stop a reactor (not 1..=64, or one that cannot be handled)"),
                ));
            }
            if !wanted.contains(&signal) {
                wanted.push(signal);
            }
        }
        let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
        let fd = sys::signal_eventfd()?;
        let mut seen = Vec::with_capacity(wanted.len());
        for signal in wanted {
            let acquired = match installed.iter_mut().find(|i| i.signal == signal) {
                Some(i) => {
                    i.users += 1;
                    Ok(())
                }
                None => sys::set_stop_handler(signal).map(|previous| {
                    installed.push(Installed {
                        signal,
                        users: 1,
                        previous,
                    })
                }),
            };
            if let Err(e) = acquired {
                release(&mut installed, &seen);
                return Err(e);
            }
            // Read after the handler is in place: a signal from now on is a new one.
            seen.push((signal, count(signal)));
        }
        Ok((SignalStop { seen }, fd))
    }

    /// Whether one of the watched signals came since the last call (or since the watch was
    /// made).
    pub(crate) fn fired(&mut self) -> bool {
        let mut fired = false;
        for (signal, seen) in &mut self.seen {
            let now = count(*signal);
            if now != *seen {
                *seen = now;
                fired = true;
            }
        }
        fired
    }
}

impl Drop for SignalStop {
    fn drop(&mut self) {
        let mut installed = INSTALLED.lock().unwrap_or_else(|e| e.into_inner());
        release(&mut installed, &self.seen);
    }
}

/// Gives up one use of each signal in `seen`, putting back the previous disposition of each
/// signal no reactor watches any more.
fn release(installed: &mut Vec<Installed>, seen: &[(i32, usize)]) {
    for (signal, _) in seen {
        let Some(at) = installed.iter().position(|i| i.signal == *signal) else {
            continue;
        };
        installed[at].users -= 1;
        if installed[at].users == 0 {
            let gone = installed.swap_remove(at);
            // sigaction(2) fails only on an invalid signal or pointer, and this signal and
            // disposition were accepted when the handler was installed.
            if let Err(e) = sys::restore_disposition(gone.signal, &gone.previous) {
                log::error!("restoring the disposition of signal {}: {e}", gone.signal);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_signals_that_cannot_be_handled_and_numbers_out_of_range() {
        for signal in [0, -1, 65, libc::SIGKILL, libc::SIGSTOP, libc::SIGSEGV] {
            let err = SignalStop::new(&[signal]).err().expect("refused");
            assert_eq!(err.kind(), io::ErrorKind::InvalidInput, "signal {signal}");
        }
    }
}
