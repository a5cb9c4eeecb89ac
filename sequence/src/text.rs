//! The text form: one command a line, `name key=value ...`, the form `tests/sequences/*.txt`
//! are written in and `replay --print` turns fuzz inputs into. `#` starts a comment (at the
//! start of a line or after a space; `#N` picks stay). The first line may be
//! `reactor manifest=<m> batch=<n>`, optionally followed by `ids_from=<first>` and
//! `ids_up_to=<last>` (the socket id counters' start and wrap point, deviation D12). [`Input`]'s `Display` and `FromStr` read each other back.

use std::fmt;

use crate::cmd::*;

macro_rules! tokens {
    ($ty:ident { $($variant:ident = $text:literal),* $(,)? }) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(match self { $($ty::$variant => $text),* })
            }
        }
        impl std::str::FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok($ty::$variant),)*
                    _ => Err(format!("bad {}: {s:?}", stringify!($ty))),
                }
            }
        }
    };
}

tokens!(ManifestChoice { None = "none", Loopback4 = "loopback4", ListenOnly = "listen-only", ConnectOnly = "connect-only" });
tokens!(NameChoice { Unset = "unset", Empty = "empty", A = "a", B = "b" });
tokens!(FlagChoice { Unset = "unset", False = "false", True = "true" });
tokens!(BufChoice { Unset = "unset", Zero = "0", Negative = "-5", One = "1", Seven = "7", Default = "4096" });
tokens!(ListenAddr {
    V4Loopback = "127.0.0.1", V4Short = "127.1", V4Octal = "0177.0.0.1", V4Any = "0.0.0.0",
    V6Loopback = "::1", V6Any = "::", NonLocal = "192.0.2.1", HostName = "localhost",
    Empty = "empty", Bracketed = "[::1]", Zoned = "fe80::1%lo", Garbage = "not-an-ip",
});
tokens!(BacklogChoice { Default = "default", One = "1", Two = "2", B128 = "128", Max = "max", Zero = "0", Minus1 = "-1" });
tokens!(ConnectHost { V4 = "127.0.0.1", V4Short = "127.1", Localhost = "localhost", V6 = "::1", Mapped = "::ffff:127.0.0.1", NulName = "nul-name" });
tokens!(EventKind { Accept = "on_accept", AcceptError = "on_accept_error", Receive = "on_receive", ReceiveError = "on_receive_error" });
tokens!(DelayChoice { Zero = "0ms", Ms1 = "1ms", Ms3 = "3ms" });
tokens!(KeepAliveDelay { Zero = "0", One = "1", D45 = "45", Minus1 = "-1", D40000 = "40000" });
tokens!(TurnTimeout { Zero = "0ms", Ms1 = "1ms", Ms5 = "5ms" });
tokens!(SyscallChoice {
    Accept = "accept", Read = "read", Send = "send", Connect = "connect", Socket = "socket",
    Bind = "bind", Listen = "listen",
});
tokens!(ErrnoChoice {
    Enobufs = "ENOBUFS", Enomem = "ENOMEM", Emfile = "EMFILE", Econnreset = "ECONNRESET",
    Epipe = "EPIPE", Etimedout = "ETIMEDOUT", Eaddrinuse = "EADDRINUSE", Eacces = "EACCES",
    Eintr = "EINTR", Econnaborted = "ECONNABORTED", Eproto = "EPROTO",
});
tokens!(BigSize { K64 = "64k", K256 = "256k", M1 = "1m", M4 = "4m", OverQuota = "over-quota" });
tokens!(RcvbufChoice { B16k = "16k", B64k = "64k", B256k = "256k" });

impl fmt::Display for Pick {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

impl std::str::FromStr for Pick {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        s.strip_prefix('#')
            .and_then(|n| n.parse().ok())
            .map(Pick)
            .ok_or_else(|| format!("bad pick {s:?} (want #N)"))
    }
}

/// `Display` and `FromStr` for a port choice: fixed words, and `<prefix>#N` picks.
macro_rules! port_tokens {
    ($ty:ident { $($variant:ident = $text:literal),* } picks { $($pick:ident = $prefix:literal),* }) => {
        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $($ty::$variant => f.write_str($text),)*
                    $($ty::$pick(p) => write!(f, "{}{p}", $prefix),)*
                }
            }
        }
        impl std::str::FromStr for $ty {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => return Ok($ty::$variant),)*
                    _ => {}
                }
                $(if let Some(p) = s.strip_prefix($prefix) {
                    return Ok($ty::$pick(p.parse()?));
                })*
                Err(format!("bad {}: {s:?}", stringify!($ty)))
            }
        }
    };
}

port_tokens!(PortChoice {
    Zero = "0", Minus1 = "-1", P65536 = "65536", P70000 = "70000", Min = "min"
} picks { OfServer = "server", OfPeer = "peer" });
port_tokens!(ConnectPort {
    Refused = "refused", Zero = "0", Minus1 = "-1", P65536 = "65536"
} picks { OfServer = "server" });

/// A length field shown as what it means, `len % M + OFF`, and read back from `OFF..M + OFF`.
struct Len<const M: u8, const OFF: u8>(u8);

/// `tcp.send`'s `len`: the bytes sent.
type SendLen = Len<65, 0>;
/// `peer.write`'s `len`: the bytes written.
type WriteLen = Len<33, 1>;
/// `fault.arm`'s `times`: how many calls fail.
type Times = Len<3, 1>;

impl<const M: u8, const OFF: u8> fmt::Display for Len<M, OFF> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0 % M + OFF)
    }
}

impl<const M: u8, const OFF: u8> std::str::FromStr for Len<M, OFF> {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let n: u8 = s.parse().map_err(|e| format!("{e}"))?;
        match n.checked_sub(OFF) {
            Some(v) if v < M => Ok(Len(v)),
            _ => Err(format!("len {n} out of range {OFF}..={}", M - 1 + OFF)),
        }
    }
}

/// One table gives each command's name and its `key=field` pairs, in order, for both
/// directions; `as T` shows and reads a field through `T`.
macro_rules! cmd_text {
    ($($variant:ident $name:literal { $($field:ident = $key:literal $(as $via:ident)?),* })*) => {
        impl fmt::Display for Cmd {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match *self {
                    $(Cmd::$variant { $($field),* } => {
                        f.write_str($name)?;
                        $(write!(f, " {}={}", $key, cmd_text!(@show $field $(, $via)?))?;)*
                        Ok(())
                    })*
                }
            }
        }

        fn cmd_from_args(name: &str, a: &Args) -> Result<Cmd, String> {
            Ok(match name {
                $($name => Cmd::$variant { $($field: cmd_text!(@get a, $key $(, $via)?)),* },)*
                _ => return Err(format!("unknown command {name:?}")),
            })
        }
    };
    (@show $field:ident) => { $field };
    (@show $field:ident, $via:ident) => { $via { 0: $field } };
    (@get $a:ident, $key:literal) => { $a.get($key)? };
    (@get $a:ident, $key:literal, $via:ident) => { $a.get::<$via, _>($key)?.0 };
}

cmd_text! {
    ServerCreate "server.create" { name = "name", persistent = "persistent" }
    ServerUpdate "server.update" { id = "id", name = "name", persistent = "persistent" }
    ServerSetPaused "server.set_paused" { id = "id", paused = "paused" }
    ServerListen "server.listen" {
        id = "id", addr = "address", port = "port", backlog = "backlog"
    }
    ServerDisconnect "server.disconnect" { id = "id" }
    ServerClose "server.close" { id = "id" }
    ServerGetInfo "server.get_info" { id = "id" }
    ServerGetSockets "server.get_sockets" {}
    TcpCreate "tcp.create" { name = "name", persistent = "persistent", buffer = "buffer_size" }
    TcpUpdate "tcp.update" {
        id = "id", name = "name", persistent = "persistent", buffer = "buffer_size"
    }
    TcpSetPaused "tcp.set_paused" { id = "id", paused = "paused" }
    TcpSetKeepAlive "tcp.set_keep_alive" { id = "id", enable = "enable", delay = "delay" }
    TcpSetNoDelay "tcp.set_no_delay" { id = "id", no_delay = "no_delay" }
    TcpConnect "tcp.connect" { id = "id", host = "address", port = "port" }
    TcpDisconnect "tcp.disconnect" { id = "id" }
    TcpSend "tcp.send" { id = "id", len = "len" as SendLen }
    TcpClose "tcp.close" { id = "id" }
    TcpGetInfo "tcp.get_info" { id = "id" }
    TcpGetSockets "tcp.get_sockets" {}
    AddListener "add_listener" { event = "event" }
    RemoveListener "remove_listener" { which = "listener" }
    PeerConnect "peer.connect" { server = "server", v6 = "v6" }
    PeerWrite "peer.write" { peer = "peer", len = "len" as WriteLen }
    PeerRead "peer.read" { peer = "peer" }
    PeerShutdown "peer.shutdown" { peer = "peer" }
    PeerClose "peer.close" { peer = "peer" }
    PeerReset "peer.reset" { peer = "peer" }
    SetTimeout "set_timeout" { delay = "delay" }
    ClearTimeout "clear_timeout" { which = "timer" }
    Turn "turn" { timeout = "timeout" }
    Drain "drain" {}
    SuspendApp "suspend_app" {}
    UnloadApp "unload_app" {}
    DropReactor "drop_reactor" {}
    FaultArm "fault.arm" { syscall = "syscall", errno = "errno", times = "times" as Times }
    TcpSendBig "tcp.send_big" { id = "id", size = "size" }
    PeerDrain "peer.drain" { peer = "peer" }
    PeerSetRcvbuf "peer.set_rcvbuf" { peer = "peer", size = "size" }
}

struct Args<'a> {
    pairs: Vec<(&'a str, &'a str)>,
}

impl<'a> Args<'a> {
    /// `key=value ...` words.
    fn parse(words: impl Iterator<Item = &'a str>) -> Result<Args<'a>, String> {
        let pairs = words
            .map(|w| {
                w.split_once('=')
                    .ok_or_else(|| format!("{w:?} is not key=value"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Args { pairs })
    }

    fn has(&self, key: &str) -> bool {
        self.pairs.iter().any(|(k, _)| *k == key)
    }

    fn get<T: std::str::FromStr<Err = E>, E: fmt::Display>(&self, key: &str) -> Result<T, String> {
        let (_, v) = self
            .pairs
            .iter()
            .find(|(k, _)| *k == key)
            .ok_or_else(|| format!("missing {key}="))?;
        v.parse().map_err(|e| format!("{key}: {e}"))
    }
}

fn parse_cmd(line: &str) -> Result<Cmd, String> {
    let mut words = line.split_whitespace();
    let name = words.next().ok_or("empty line")?;
    cmd_from_args(name, &Args::parse(words)?)
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "reactor manifest={} batch={}{}{}",
            self.manifest,
            1 + self.batch % 4,
            match self.ids_from {
                1 => String::new(),
                n => format!(" ids_from={n}"),
            },
            match self.ids_up_to {
                i32::MAX => String::new(),
                n => format!(" ids_up_to={n}"),
            },
        )?;
        for c in &self.cmds {
            writeln!(f, "{c}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for Input {
    type Err = String;
    /// Parses the text form; errors name the line.
    fn from_str(text: &str) -> Result<Input, String> {
        let mut input = Input {
            manifest: ManifestChoice::None,
            batch: 0,
            ids_from: 1,
            ids_up_to: i32::MAX,
            cmds: Vec::new(),
        };
        for (n, raw) in text.lines().enumerate() {
            // `#` starts a comment at the start of a line or after a space; `#N` picks stay.
            let line = match raw.trim_start().starts_with('#') {
                true => "",
                false => raw.split(" # ").next().unwrap_or(""),
            };
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let err = |e: String| format!("line {}: {e}: {raw:?}", n + 1);
            if let Some(rest) = line.strip_prefix("reactor ") {
                let a = Args::parse(rest.split_whitespace()).map_err(err)?;
                input.manifest = a.get("manifest").map_err(err)?;
                let batch: u8 = a.get("batch").map_err(err)?;
                if !(1..=4).contains(&batch) {
                    return Err(err("batch must be 1..=4".into()));
                }
                input.batch = batch - 1;
                if a.has("ids_from") {
                    input.ids_from = a.get("ids_from").map_err(err)?;
                }
                if a.has("ids_up_to") {
                    input.ids_up_to = a.get("ids_up_to").map_err(err)?;
                }
                if input.ids_up_to < 1 || !(1..=input.ids_up_to).contains(&input.ids_from) {
                    return Err(err("want 1 <= ids_from <= ids_up_to".into()));
                }
                continue;
            }
            input.cmds.push(parse_cmd(line).map_err(err)?);
        }
        Ok(input)
    }
}
