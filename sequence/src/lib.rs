//! Command sequences for [`chrome_sockets`], run against a real reactor on loopback while a
//! reference model predicts every callback and checks the invariants.
//!
//! Used by `tests/random_sequences.rs` (seeded sequences and `tests/sequences/*.txt`),
//! `examples/replay.rs` and the fuzz target `fuzz/fuzz_targets/command_sequence.rs`.
//!
//! - [`cmd`]: the command set, [`Input`] and [`Cmd`], and [`Input::from_bytes`] for fuzz bytes.
//! - [`text`]: the one-line-per-command text form (`Display` and `FromStr` of [`Input`]).
//! - [`values`]: the API argument each choice stands for.
//! - `model`, `expected`, `events` (private): the reference model, what `getInfo` /
//!   `getSockets` must report, and the event invariants.
//! - `exec` (private): [`run`], one function per command, grouped by family (servers, tcp
//!   sockets, peers, the app: listeners, timers, turns, lifecycle).
//! - [`trace`]: what a run observed, as plain data ([`Trace`]), for comparing runs.
//!
//! Adding a command kind: append a variant to [`Cmd`] (this changes what the fuzz seeds
//! decode to; see [`cmd`]), give it a row in the `cmd_text!` table in `text.rs` (its name and
//! `key=field` pairs, which drive both printing and parsing), and a function in the `exec`
//! family it belongs to, called from `Exec::step`; new argument choices get a `value()` in
//! [`values`]. A new kind of observation is a [`Seen`] variant.
//!
//! ```
//! use chrome_sockets_sequence::{run, Input, Options};
//!
//! let input: Input = "server.create name=a persistent=unset\ndrain\n".parse().unwrap();
//! let trace = run(&input, &Options::default());
//! assert_eq!(trace.callbacks().count(), 1);
//! ```

/// Returns `Err(format!(...))` from a check unless `$cond` holds.
macro_rules! ensure {
    ($cond:expr, $($fmt:tt)*) => {
        if !$cond {
            return Err(format!($($fmt)*));
        }
    };
}

pub mod cmd;
mod events;
mod exec;
mod expected;
mod model;
pub mod text;
pub mod trace;
pub mod values;

pub use cmd::*;
pub use exec::{fd_count, run, Options};
pub use trace::{Got, Seen, Step, Trace};

#[cfg(test)]
mod tests;
