//! The reactor itself, one module per area: socket ids, timers, the timing rules of
//! callbacks and events, and embedding in another event loop. No test here counts fds, so
//! they run in parallel.
mod util;

/// The areas, one file each in `tests/reactor/`.
mod reactor {
    mod embedding;
    mod ids;
    mod timers;
    mod timing;
}
