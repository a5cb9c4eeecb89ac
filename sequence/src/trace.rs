//! What a run observed, as plain data: every callback result (with the model's exact
//! prediction where it has one) and every event, grouped by the command that was running.
//!
//! [`crate::run`] returns a [`Trace`]; a differential runner can execute the same [`Input`]
//! elsewhere (real Chrome), build a `Trace` of what it saw and compare the two step by step.
//!
//! [`Input`]: crate::Input

use chrome_sockets::{tcp, tcp_server, LastError, NetError};

use crate::cmd::Cmd;

/// What a callback received, in comparable form.
#[derive(Clone, Debug, PartialEq)]
pub enum Got {
    /// `Ok(())`.
    Unit,
    /// A create's new socket id.
    Created(i32),
    /// `tcpServer.getInfo`.
    SInfo(tcp_server::SocketInfo),
    /// `tcpServer.getSockets`.
    SList(Vec<tcp_server::SocketInfo>),
    /// `tcp.getInfo`.
    TInfo(tcp::SocketInfo),
    /// `tcp.getSockets`.
    TList(Vec<tcp::SocketInfo>),
    /// `tcp.send`'s `bytesSent`.
    Sent(usize),
    /// `runtime.lastError`: the message, and the net error code when there is one.
    Err(String, Option<i32>),
}

impl Got {
    /// Converts a callback's result with `ok` for the success value.
    pub fn from_result<T>(r: Result<T, LastError>, ok: impl FnOnce(T) -> Got) -> Got {
        match r {
            Ok(v) => ok(v),
            Err(e) => Got::Err(e.message().to_string(), e.code().map(|c| c.code())),
        }
    }

    /// "Socket not found" without a code.
    pub fn not_found() -> Got {
        Got::Err("Socket not found".into(), None)
    }

    /// A manifest refusal.
    pub fn no_permission() -> Got {
        Got::Err("Does not have permission".into(), None)
    }

    /// Net error `code` with its message.
    pub fn net(code: i32) -> Got {
        Got::Err(NetError::from_code(code).message(), Some(code))
    }

    /// Whether this is some net error with its own message (a kernel-decided failure).
    pub fn is_net_error(&self) -> bool {
        matches!(self, Got::Err(m, Some(c)) if *c < 0 && *m == NetError::from_code(*c).message())
    }
}

/// One thing the reactor did while a command (or the final drain) ran.
#[derive(Clone, Debug, PartialEq)]
pub enum Seen {
    /// Callback number `seq` (numbered in call order) ran.
    Callback {
        /// Its number.
        seq: u64,
        /// The call, e.g. `tcp.send 3 10 bytes`; `(harness)` marks the runner's own calls.
        call: String,
        /// What it received.
        got: Got,
        /// The model's exact prediction, when it has one (kernel-dependent results have none
        /// and are checked by rule).
        predicted: Option<Got>,
    },
    /// `tcpServer.onAccept`.
    Accept {
        /// The server.
        server: i32,
        /// The new tcp socket.
        client: i32,
    },
    /// `tcpServer.onAcceptError`.
    AcceptError {
        /// The server.
        server: i32,
        /// The net error.
        code: i32,
    },
    /// `tcp.onReceive`.
    Receive {
        /// The socket.
        socket: i32,
        /// The bytes.
        data: Vec<u8>,
    },
    /// `tcp.onReceiveError`.
    ReceiveError {
        /// The socket.
        socket: i32,
        /// The net error.
        code: i32,
    },
    /// Timer number `index` (in `set_timeout` order) fired.
    Timer {
        /// Its number.
        index: usize,
    },
}

/// What one command (or, with `cmd: None`, the final drain) led to.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Step {
    /// The command.
    pub cmd: Option<Cmd>,
    /// Callbacks and events, in the order they happened.
    pub seen: Vec<Seen>,
}

/// A run's observations, one [`Step`] per command plus the final drain.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trace {
    /// The steps, in order.
    pub steps: Vec<Step>,
}

impl Trace {
    /// Every callback result, in the order they ran.
    pub fn callbacks(&self) -> impl Iterator<Item = (&str, &Got)> {
        self.steps
            .iter()
            .flat_map(|s| &s.seen)
            .filter_map(|s| match s {
                Seen::Callback { call, got, .. } => Some((call.as_str(), got)),
                _ => None,
            })
    }

    pub(crate) fn begin(&mut self, cmd: Option<Cmd>) {
        self.steps.push(Step {
            cmd,
            seen: Vec::new(),
        });
    }

    pub(crate) fn push(&mut self, seen: Seen) {
        if self.steps.is_empty() {
            self.begin(None);
        }
        if let Some(s) = self.steps.last_mut() {
            s.seen.push(seen);
        }
    }
}
