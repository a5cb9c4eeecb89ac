//! The command set: an [`Input`] is a reactor configuration plus a list of [`Cmd`]s, each
//! naming its arguments by small choice enums (which [`crate::values`] turns into the values
//! passed to the API). [`Input::from_bytes`] decodes fuzz bytes with `arbitrary`: the
//! derived variant and field order, and the variant counts, *are* the byte format (an enum
//! picks its variant as a `u32` scaled by its variant count). Any change to these types makes
//! the checked-in seeds (`fuzz/seeds/`) decode to other sequences: still valid inputs, but
//! worth re-minimising, and `tests/sequences/*.txt` (the text form) are unaffected.

use arbitrary::{Arbitrary, Unstructured};

/// Most commands one input runs (longer inputs are cut).
pub const MAX_CMDS: usize = 64;

/// One fuzz input: how the reactor is built, then the commands.
#[derive(Arbitrary, Clone, Debug, PartialEq, Eq)]
pub struct Input {
    /// The reactor's manifest.
    pub manifest: ManifestChoice,
    /// `accept_batch` is `1 + batch % 4`.
    pub batch: u8,
    /// Both socket id counters start at this id (`ReactorBuilder::ids_from`; 1 normally).
    /// Fuzz bytes choose `i32::MAX - 3` when bit 2 of the `batch` byte is set, so half of
    /// the fuzzed sequences cross the wrap from `i32::MAX` to 1 (deviation D12).
    pub ids_from: i32,
    /// Both socket id counters wrap to 1 after this id (`ReactorBuilder::ids_up_to`;
    /// `i32::MAX` normally). Only the text form sets it: with a small space an id comes back
    /// after a few allocations, which the fuzzer's stale-event checks do not allow for.
    pub ids_up_to: i32,
    /// The commands, in order.
    pub cmds: Vec<Cmd>,
}

/// The first id of a counter that starts [`Input::ids_from`] near the wrap.
pub const IDS_NEAR_WRAP: i32 = i32::MAX - 3;

impl Input {
    /// Decodes fuzz bytes: the reactor options, then commands until the bytes run out (at
    /// most [`MAX_CMDS`]). Never fails; missing bytes read as zeros.
    pub fn from_bytes(data: &[u8]) -> Input {
        let mut u = Unstructured::new(data);
        let manifest = ManifestChoice::arbitrary(&mut u).unwrap_or(ManifestChoice::None);
        let batch = u8::arbitrary(&mut u).unwrap_or(0);
        let mut cmds = Vec::new();
        while !u.is_empty() && cmds.len() < MAX_CMDS {
            match Cmd::arbitrary(&mut u) {
                Ok(c) => cmds.push(c),
                Err(_) => break,
            }
        }
        Input {
            manifest,
            batch,
            ids_from: if batch & 4 != 0 { IDS_NEAR_WRAP } else { 1 },
            ids_up_to: i32::MAX,
            cmds,
        }
    }
}

/// A deterministic byte source (xorshift64*) for [`Input::from_bytes`]: the seeded random
/// sequences of the tests.
pub fn seeded_bytes(seed: u64, n: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x >> 12;
            x ^= x << 25;
            x ^= x >> 27;
            (x.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 56) as u8
        })
        .collect()
}

/// Which sockets manifest the reactor gets.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ManifestChoice {
    /// No manifest: everything allowed.
    None,
    /// listen and connect only to the host string "127.0.0.1", any port.
    Loopback4,
    /// listen anywhere; no connect pattern (every connect denied).
    ListenOnly,
    /// connect anywhere; no listen pattern (every listen denied).
    ConnectOnly,
}

/// Picks an id: below 240, index `n % count` into the ids issued so far (live or closed);
/// otherwise (or when none was issued) one never issued: the next one, 0, -1 or `i32::MAX`.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pick(pub u8);

/// A socket `name` property (see [`NameChoice::value`]).
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum NameChoice {
    Unset,
    Empty,
    A,
    B,
}

/// A `persistent` property.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagChoice {
    Unset,
    False,
    True,
}

/// A tcp `bufferSize` property, including invalid ones (0, negative).
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum BufChoice {
    Unset,
    Zero,
    Negative,
    One,
    Seven,
    Default,
}

/// The address a `tcpServer.listen` asks for: valid, non-local and malformed.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListenAddr {
    V4Loopback,
    V4Short,
    V4Octal,
    V4Any,
    V6Loopback,
    V6Any,
    NonLocal,
    HostName,
    Empty,
    Bracketed,
    Zoned,
    Garbage,
}

/// The port a `tcpServer.listen` asks for.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum PortChoice {
    Zero,
    /// The port of a server picked like an id (0 when it has none).
    OfServer(Pick),
    /// The local port of a peer (a port held by a connected socket).
    OfPeer(Pick),
    Minus1,
    P65536,
    P70000,
    Min,
}

/// The backlog a `tcpServer.listen` asks for (`Default`: none given).
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum BacklogChoice {
    Default,
    One,
    Two,
    B128,
    Max,
    Zero,
    Minus1,
}

/// How a `tcp.connect` names its peer.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectHost {
    V4,
    V4Short,
    Localhost,
    V6,
    Mapped,
    /// A name with a NUL byte: refused before any lookup (-105).
    NulName,
}

/// The port a `tcp.connect` asks for.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConnectPort {
    /// The port of a live listening server, else a port nothing listens on.
    OfServer(Pick),
    /// A port that is bound and not listening (refused).
    Refused,
    Zero,
    Minus1,
    P65536,
}

/// One of the four events a listener can be added to.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    Accept,
    AcceptError,
    Receive,
    ReceiveError,
}

/// A timer delay.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DelayChoice {
    Zero,
    Ms1,
    Ms3,
}

/// The delay of a `tcp.setKeepAlive`, in seconds (including out-of-range ones).
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeepAliveDelay {
    Zero,
    One,
    D45,
    Minus1,
    D40000,
}

/// The timeout of one reactor turn.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum TurnTimeout {
    Zero,
    Ms1,
    Ms5,
}

/// One step of a sequence.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cmd {
    ServerCreate {
        name: NameChoice,
        persistent: FlagChoice,
    },
    ServerUpdate {
        id: Pick,
        name: NameChoice,
        persistent: FlagChoice,
    },
    ServerSetPaused {
        id: Pick,
        paused: bool,
    },
    ServerListen {
        id: Pick,
        addr: ListenAddr,
        port: PortChoice,
        backlog: BacklogChoice,
    },
    ServerDisconnect {
        id: Pick,
    },
    ServerClose {
        id: Pick,
    },
    ServerGetInfo {
        id: Pick,
    },
    ServerGetSockets,
    TcpCreate {
        name: NameChoice,
        persistent: FlagChoice,
        buffer: BufChoice,
    },
    TcpUpdate {
        id: Pick,
        name: NameChoice,
        persistent: FlagChoice,
        buffer: BufChoice,
    },
    TcpSetPaused {
        id: Pick,
        paused: bool,
    },
    TcpSetKeepAlive {
        id: Pick,
        enable: bool,
        delay: KeepAliveDelay,
    },
    TcpSetNoDelay {
        id: Pick,
        no_delay: bool,
    },
    TcpConnect {
        id: Pick,
        host: ConnectHost,
        port: ConnectPort,
    },
    TcpDisconnect {
        id: Pick,
    },
    /// Sends `len % 65` bytes.
    TcpSend {
        id: Pick,
        len: u8,
    },
    TcpClose {
        id: Pick,
    },
    TcpGetInfo {
        id: Pick,
    },
    TcpGetSockets,
    AddListener {
        event: EventKind,
    },
    /// Removes listener number `which` of those added (or a never-issued one).
    RemoveListener {
        which: Pick,
    },
    /// A client connects to a server's port (v4 or v6 loopback, whichever the listener takes).
    PeerConnect {
        server: Pick,
        v6: bool,
    },
    /// A peer writes `len % 33 + 1` bytes.
    PeerWrite {
        peer: Pick,
        len: u8,
    },
    /// A peer reads what has arrived and checks it against what the reactor sent it.
    PeerRead {
        peer: Pick,
    },
    PeerShutdown {
        peer: Pick,
    },
    PeerClose {
        peer: Pick,
    },
    /// Close with `SO_LINGER` 0: the reactor's side sees a reset.
    PeerReset {
        peer: Pick,
    },
    SetTimeout {
        delay: DelayChoice,
    },
    ClearTimeout {
        which: Pick,
    },
    Turn {
        timeout: TurnTimeout,
    },
    /// Turns (bounded) until every callback that can run has run.
    Drain,
    SuspendApp,
    UnloadApp,
    DropReactor,
    /// Arms a fault: the next `times % 3 + 1` calls of `syscall` fail with `errno`.
    FaultArm {
        syscall: SyscallChoice,
        errno: ErrnoChoice,
        times: u8,
    },
    /// Sends a large buffer (it queues when the peer does not read).
    TcpSendBig {
        id: Pick,
        size: BigSize,
    },
    /// A peer reads everything, turning the reactor, until the sends of its tcp socket
    /// completed (bounded).
    PeerDrain {
        peer: Pick,
    },
    /// Shrinks a peer's receive buffer (`SO_RCVBUF`), if its tcp socket is known and has not
    /// sent anything yet (with data in flight loopback crawls; see [`RcvbufChoice`]).
    PeerSetRcvbuf {
        peer: Pick,
        size: RcvbufChoice,
    },
}

/// A syscall of the reactor that [`Cmd::FaultArm`] makes fail.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyscallChoice {
    Accept,
    Read,
    Send,
    Connect,
    Socket,
    Bind,
    Listen,
}

/// The errno an armed fault fails with (`Eintr`, `Econnaborted` and `Eproto` are retried by
/// some paths: accept retries all three, read and send retry `EINTR`).
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrnoChoice {
    Enobufs,
    Enomem,
    Emfile,
    Econnreset,
    Epipe,
    Etimedout,
    Eaddrinuse,
    Eacces,
    Eintr,
    Econnaborted,
    Eproto,
}

/// The size of a [`Cmd::TcpSendBig`]; `OverQuota` is one byte over the 200 MiB write quota.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum BigSize {
    K64,
    K256,
    M1,
    M4,
    OverQuota,
}

/// A peer's `SO_RCVBUF` (set on a connected socket). Below 16 KiB, or shrunk while data is in
/// flight, loopback falls back to zero-window probing and moves a few KiB to a few hundred
/// KiB a second, too slow for a bounded run.
#[derive(Arbitrary, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RcvbufChoice {
    B16k,
    B64k,
    B256k,
}
