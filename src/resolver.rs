//! The resolver pool: host-name lookups for `connect`, on at most
//! [`ReactorBuilder::resolver_threads`](crate::ReactorBuilder::resolver_threads) helper
//! threads (4 by default, libuv's figure), the only threads this crate ever starts.
//!
//! - A lookup is queued (FIFO) and a thread is started only when every running one is busy
//!   and fewer than the limit run; beyond the limit, lookups wait in the queue. A thread that
//!   finds no work for [`DEFAULT_RESOLVER_IDLE`] exits, so a reactor that stops connecting to
//!   host names goes back to its one thread.
//! - Threads only resolve (`getaddrinfo`, through std's `ToSocketAddrs`): the answer goes
//!   into the pool's shared list and the reactor's waker wakes the poll; the reactor's thread
//!   takes the answers and does everything else (connect, callbacks).
//! - The connect in progress holds a [`Ticket`]; dropping it (`close`, `disconnect`, a
//!   connect timeout, the answer arriving) marks the lookup unwanted. A lookup still queued
//!   is then skipped, and any answer whose ticket is gone is discarded: the answer carries
//!   the lookup's sequence number, unique per reactor, which only the ticket's connect
//!   matches, so it can never reach a socket that took over the id or the slab slot.
//! - Dropping the reactor never blocks: it empties the queue and tells the threads to exit.
//!   A thread inside `getaddrinfo` finishes that lookup (the C library gives no way to
//!   interrupt it), drops its answer and exits; until then it holds the pool's shared state
//!   and the reactor's waker (one eventfd), nothing else.
//! - A thread counts itself out of the pool just before it returns, so for the few
//!   microseconds it takes to finish exiting the OS may still list it while a thread started
//!   after it runs; at most `threads` ever do lookups at once.

use std::collections::VecDeque;
use std::fmt;
use std::io;
use std::mem;
use std::net::{SocketAddr, ToSocketAddrs};
use std::panic;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// Default most resolver threads alive at once.
pub(crate) const DEFAULT_RESOLVER_THREADS: usize = 4;

/// How long a resolver thread waits for work before it exits.
pub(crate) const DEFAULT_RESOLVER_IDLE: Duration = Duration::from_secs(5);

/// A finished lookup on its way back to the reactor's thread.
#[derive(Debug)]
pub(crate) struct Resolution {
    /// The tcp socket whose connect asked for it.
    pub(crate) tcp_id: i32,
    /// The lookup's sequence number (its [`Ticket::seq`]).
    pub(crate) seq: u64,
    /// The addresses, or why there are none; `None` when the lookup was skipped because its
    /// ticket was dropped before a thread took it.
    pub(crate) result: Option<io::Result<Vec<SocketAddr>>>,
}

/// The connect's hold on its lookup: dropping it makes the lookup unwanted (skipped if not
/// started, its answer discarded either way).
#[derive(Debug)]
pub(crate) struct Ticket {
    seq: u64,
    wanted: Arc<AtomicBool>,
}

impl Ticket {
    /// The sequence number the lookup's answer carries.
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.wanted.store(false, Ordering::Relaxed);
    }
}

/// One queued lookup.
struct Job {
    tcp_id: i32,
    seq: u64,
    host: String,
    port: u16,
    wanted: Arc<AtomicBool>,
}

/// What the reactor and its resolver threads share, under one lock.
#[derive(Default)]
struct State {
    /// Lookups no thread has taken yet, oldest first.
    jobs: VecDeque<Job>,
    /// Finished lookups the reactor has not taken yet.
    answers: Vec<Resolution>,
    /// Threads alive (started and not yet past their last use of this state).
    threads: usize,
    /// Threads waiting for work.
    idle: usize,
    /// The reactor is gone: threads exit after the lookup in hand.
    closed: bool,
}

struct Shared {
    state: Mutex<State>,
    /// Signalled when a job is queued or the reactor is gone.
    work: Condvar,
    waker: Arc<mio::Waker>,
    idle_timeout: Duration,
}

impl Shared {
    /// The state; a thread that panicked while holding the lock left it consistent (every
    /// change under the lock is a single push, pop or counter step).
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The reactor's side of the pool.
pub(crate) struct Resolver {
    shared: Arc<Shared>,
    max_threads: usize,
    /// Lookups queued and not yet answered (answers taken by the reactor count down).
    pending: usize,
    next_seq: u64,
}

impl Resolver {
    /// A pool of at most `max_threads` threads (at least 1), whose answers wake the poll
    /// through `waker`; no thread starts before the first lookup.
    pub(crate) fn new(waker: Arc<mio::Waker>, max_threads: usize, idle_timeout: Duration) -> Self {
        Resolver {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                work: Condvar::new(),
                waker,
                idle_timeout,
            }),
            max_threads: max_threads.max(1),
            pending: 0,
            next_seq: 0,
        }
    }

    /// Whether a lookup is still out (queued, running, or answered and not yet taken).
    pub(crate) fn is_busy(&self) -> bool {
        self.pending > 0
    }

    /// The answers that came back since the last call, oldest first.
    pub(crate) fn take_answers(&mut self) -> Vec<Resolution> {
        if self.pending == 0 {
            return Vec::new();
        }
        let answers = mem::take(&mut self.shared.lock().answers);
        self.pending -= answers.len();
        answers
    }

    /// Queues a lookup of `host` for tcp socket `tcp_id`, starting a thread if every running
    /// one is busy and fewer than the limit run.
    ///
    /// # Errors
    /// Starting a thread failed and no thread runs that could take the lookup later; nothing
    /// stays queued then. (When threads run, the lookup waits for one of them instead.)
    pub(crate) fn start(&mut self, tcp_id: i32, host: &str, port: u16) -> io::Result<Ticket> {
        let seq = self.next_seq;
        self.next_seq += 1;
        let wanted = Arc::new(AtomicBool::new(true));
        let mut state = self.shared.lock();
        state.jobs.push_back(Job {
            tcp_id,
            seq,
            host: host.to_owned(),
            port,
            wanted: wanted.clone(),
        });
        if state.idle > 0 {
            self.shared.work.notify_one();
        }
        if state.jobs.len() > state.idle && state.threads < self.max_threads {
            match spawn(&self.shared) {
                Ok(()) => state.threads += 1,
                Err(e) if state.threads == 0 => {
                    state.jobs.pop_back();
                    return Err(e);
                }
                Err(e) => log::debug!(
                    "cannot start another resolver thread ({e}); the lookup waits for one of the {} running",
                    state.threads
                ),
            }
        }
        drop(state);
        self.pending += 1;
        Ok(Ticket { seq, wanted })
    }
}

impl Drop for Resolver {
    /// Empties the queue and tells the threads to exit; waits for none of them.
    fn drop(&mut self) {
        let jobs = {
            let mut state = self.shared.lock();
            state.closed = true;
            mem::take(&mut state.jobs)
        };
        self.shared.work.notify_all();
        drop(jobs);
    }
}

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Resolver")
            .field("max_threads", &self.max_threads)
            .field("pending", &self.pending)
            .finish()
    }
}

/// Starts one resolver thread (through the fault seam, so a failed start is testable).
fn spawn(shared: &Arc<Shared>) -> io::Result<()> {
    #[cfg(feature = "fault-injection")]
    if let Some(e) = crate::fault_injection::take(crate::fault_injection::Syscall::SpawnThread) {
        return Err(e);
    }
    let shared = shared.clone();
    std::thread::Builder::new()
        .name("chrome-sockets-resolve".into())
        .spawn(move || work(&shared))
        .map(drop)
}

/// Resolves `host`; a panic inside the lookup (none is known) becomes an error, so the
/// thread lives on and the connect still gets its answer (-105).
fn lookup(host: &str, port: u16) -> io::Result<Vec<SocketAddr>> {
    panic::catch_unwind(|| (host, port).to_socket_addrs().map(|addrs| addrs.collect()))
        .unwrap_or_else(|_| Err(io::Error::new(io::ErrorKind::Other, "the lookup panicked")))
}

/// A resolver thread: takes lookups from the queue until the reactor is gone or no work
/// came for the idle timeout.
fn work(shared: &Shared) {
    let mut state = shared.lock();
    loop {
        if let Some(job) = state.jobs.pop_front() {
            drop(state);
            let result = job
                .wanted
                .load(Ordering::Relaxed)
                .then(|| lookup(&job.host, job.port));
            state = shared.lock();
            if state.closed {
                continue;
            }
            state.answers.push(Resolution {
                tcp_id: job.tcp_id,
                seq: job.seq,
                result,
            });
            // Only the first answer since the reactor last took them needs a wake-up: the
            // others are taken with it.
            if state.answers.len() == 1 {
                drop(state);
                // The eventfd write fails only when its counter is full, which means a
                // wake-up is already pending; the answer is taken with it.
                if let Err(e) = shared.waker.wake() {
                    log::debug!("resolver wake-up: {e}");
                }
                state = shared.lock();
            }
            continue;
        }
        if state.closed {
            break;
        }
        state.idle += 1;
        let (guard, waited) = shared
            .work
            .wait_timeout(state, shared.idle_timeout)
            .unwrap_or_else(PoisonError::into_inner);
        state = guard;
        state.idle -= 1;
        if waited.timed_out() && state.jobs.is_empty() {
            break;
        }
    }
    state.threads -= 1;
}
