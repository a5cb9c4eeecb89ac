//! Robustness, one module per area: bad arguments, errors injected at the syscall seam, and
//! security (permissions first, close-on-exec fds, ids never reused). Every test takes the
//! binary's lock (`serial()` or `FdGuard`): they count fds. Fault injection is per thread.
mod util;

/// The areas, one file each in `tests/robustness/`.
mod robustness {
    mod bad_args;
    mod injected_errors;
    mod security;
}
