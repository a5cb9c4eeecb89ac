//! The text form: one command a line, `name key=value ...`, the form `tests/sequences/*.txt`
//! are written in and `replay --print` turns fuzz inputs into. `#` starts a comment (at the
//! start of a line or after a space; `#N` picks stay). The first line may be
//! `reactor manifest=<m> batch=<n>`. [`Input`]'s `Display` and `FromStr` read each other back.

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

impl fmt::Display for PortChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PortChoice::Zero => f.write_str("0"),
            PortChoice::OfServer(p) => write!(f, "server{p}"),
            PortChoice::OfPeer(p) => write!(f, "peer{p}"),
            PortChoice::Minus1 => f.write_str("-1"),
            PortChoice::P65536 => f.write_str("65536"),
            PortChoice::P70000 => f.write_str("70000"),
            PortChoice::Min => f.write_str("min"),
        }
    }
}

impl std::str::FromStr for PortChoice {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "0" => PortChoice::Zero,
            "-1" => PortChoice::Minus1,
            "65536" => PortChoice::P65536,
            "70000" => PortChoice::P70000,
            "min" => PortChoice::Min,
            _ => {
                if let Some(p) = s.strip_prefix("server") {
                    PortChoice::OfServer(p.parse()?)
                } else if let Some(p) = s.strip_prefix("peer") {
                    PortChoice::OfPeer(p.parse()?)
                } else {
                    return Err(format!("bad listen port {s:?}"));
                }
            }
        })
    }
}

impl fmt::Display for ConnectPort {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectPort::OfServer(p) => write!(f, "server{p}"),
            ConnectPort::Refused => f.write_str("refused"),
            ConnectPort::Zero => f.write_str("0"),
            ConnectPort::Minus1 => f.write_str("-1"),
            ConnectPort::P65536 => f.write_str("65536"),
        }
    }
}

impl std::str::FromStr for ConnectPort {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s {
            "refused" => ConnectPort::Refused,
            "0" => ConnectPort::Zero,
            "-1" => ConnectPort::Minus1,
            "65536" => ConnectPort::P65536,
            _ => match s.strip_prefix("server") {
                Some(p) => ConnectPort::OfServer(p.parse()?),
                None => return Err(format!("bad connect port {s:?}")),
            },
        })
    }
}

impl fmt::Display for Cmd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use Cmd::*;
        match *self {
            ServerCreate { name, persistent } => {
                write!(f, "server.create name={name} persistent={persistent}")
            }
            ServerUpdate {
                id,
                name,
                persistent,
            } => {
                write!(
                    f,
                    "server.update id={id} name={name} persistent={persistent}"
                )
            }
            ServerSetPaused { id, paused } => {
                write!(f, "server.set_paused id={id} paused={paused}")
            }
            ServerListen {
                id,
                addr,
                port,
                backlog,
            } => write!(
                f,
                "server.listen id={id} address={addr} port={port} backlog={backlog}"
            ),
            ServerDisconnect { id } => write!(f, "server.disconnect id={id}"),
            ServerClose { id } => write!(f, "server.close id={id}"),
            ServerGetInfo { id } => write!(f, "server.get_info id={id}"),
            ServerGetSockets => write!(f, "server.get_sockets"),
            TcpCreate {
                name,
                persistent,
                buffer,
            } => write!(
                f,
                "tcp.create name={name} persistent={persistent} buffer_size={buffer}"
            ),
            TcpUpdate {
                id,
                name,
                persistent,
                buffer,
            } => write!(
                f,
                "tcp.update id={id} name={name} persistent={persistent} buffer_size={buffer}"
            ),
            TcpSetPaused { id, paused } => write!(f, "tcp.set_paused id={id} paused={paused}"),
            TcpSetKeepAlive { id, enable, delay } => {
                write!(
                    f,
                    "tcp.set_keep_alive id={id} enable={enable} delay={delay}"
                )
            }
            TcpSetNoDelay { id, no_delay } => {
                write!(f, "tcp.set_no_delay id={id} no_delay={no_delay}")
            }
            TcpConnect { id, host, port } => {
                write!(f, "tcp.connect id={id} address={host} port={port}")
            }
            TcpDisconnect { id } => write!(f, "tcp.disconnect id={id}"),
            TcpSend { id, len } => write!(f, "tcp.send id={id} len={}", len % 65),
            TcpClose { id } => write!(f, "tcp.close id={id}"),
            TcpGetInfo { id } => write!(f, "tcp.get_info id={id}"),
            TcpGetSockets => write!(f, "tcp.get_sockets"),
            AddListener { event } => write!(f, "add_listener event={event}"),
            RemoveListener { which } => write!(f, "remove_listener listener={which}"),
            PeerConnect { server, v6 } => write!(f, "peer.connect server={server} v6={v6}"),
            PeerWrite { peer, len } => write!(f, "peer.write peer={peer} len={}", len % 33 + 1),
            PeerRead { peer } => write!(f, "peer.read peer={peer}"),
            PeerShutdown { peer } => write!(f, "peer.shutdown peer={peer}"),
            PeerClose { peer } => write!(f, "peer.close peer={peer}"),
            PeerReset { peer } => write!(f, "peer.reset peer={peer}"),
            SetTimeout { delay } => write!(f, "set_timeout delay={delay}"),
            ClearTimeout { which } => write!(f, "clear_timeout timer={which}"),
            Turn { timeout } => write!(f, "turn timeout={timeout}"),
            Drain => write!(f, "drain"),
            SuspendApp => write!(f, "suspend_app"),
            UnloadApp => write!(f, "unload_app"),
            DropReactor => write!(f, "drop_reactor"),
        }
    }
}

struct Args<'a> {
    pairs: Vec<(&'a str, &'a str)>,
}

impl<'a> Args<'a> {
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
    let mut pairs = Vec::new();
    for w in words {
        pairs.push(
            w.split_once('=')
                .ok_or_else(|| format!("{w:?} is not key=value"))?,
        );
    }
    let a = Args { pairs };
    use Cmd::*;
    let len = |max: u8| -> Result<u8, String> {
        let n: u8 = a.get("len")?;
        if n >= max {
            return Err(format!("len {n} out of range"));
        }
        Ok(n)
    };
    Ok(match name {
        "server.create" => ServerCreate {
            name: a.get("name")?,
            persistent: a.get("persistent")?,
        },
        "server.update" => ServerUpdate {
            id: a.get("id")?,
            name: a.get("name")?,
            persistent: a.get("persistent")?,
        },
        "server.set_paused" => ServerSetPaused {
            id: a.get("id")?,
            paused: a.get("paused")?,
        },
        "server.listen" => ServerListen {
            id: a.get("id")?,
            addr: a.get("address")?,
            port: a.get("port")?,
            backlog: a.get("backlog")?,
        },
        "server.disconnect" => ServerDisconnect { id: a.get("id")? },
        "server.close" => ServerClose { id: a.get("id")? },
        "server.get_info" => ServerGetInfo { id: a.get("id")? },
        "server.get_sockets" => ServerGetSockets,
        "tcp.create" => TcpCreate {
            name: a.get("name")?,
            persistent: a.get("persistent")?,
            buffer: a.get("buffer_size")?,
        },
        "tcp.update" => TcpUpdate {
            id: a.get("id")?,
            name: a.get("name")?,
            persistent: a.get("persistent")?,
            buffer: a.get("buffer_size")?,
        },
        "tcp.set_paused" => TcpSetPaused {
            id: a.get("id")?,
            paused: a.get("paused")?,
        },
        "tcp.set_keep_alive" => TcpSetKeepAlive {
            id: a.get("id")?,
            enable: a.get("enable")?,
            delay: a.get("delay")?,
        },
        "tcp.set_no_delay" => TcpSetNoDelay {
            id: a.get("id")?,
            no_delay: a.get("no_delay")?,
        },
        "tcp.connect" => TcpConnect {
            id: a.get("id")?,
            host: a.get("address")?,
            port: a.get("port")?,
        },
        "tcp.disconnect" => TcpDisconnect { id: a.get("id")? },
        "tcp.send" => TcpSend {
            id: a.get("id")?,
            len: len(65)?,
        },
        "tcp.close" => TcpClose { id: a.get("id")? },
        "tcp.get_info" => TcpGetInfo { id: a.get("id")? },
        "tcp.get_sockets" => TcpGetSockets,
        "add_listener" => AddListener {
            event: a.get("event")?,
        },
        "remove_listener" => RemoveListener {
            which: a.get("listener")?,
        },
        "peer.connect" => PeerConnect {
            server: a.get("server")?,
            v6: a.get("v6")?,
        },
        "peer.write" => {
            let n = len(34)?;
            if n == 0 {
                return Err("peer.write len must be 1..=33".into());
            }
            PeerWrite {
                peer: a.get("peer")?,
                len: n - 1,
            }
        }
        "peer.read" => PeerRead {
            peer: a.get("peer")?,
        },
        "peer.shutdown" => PeerShutdown {
            peer: a.get("peer")?,
        },
        "peer.close" => PeerClose {
            peer: a.get("peer")?,
        },
        "peer.reset" => PeerReset {
            peer: a.get("peer")?,
        },
        "set_timeout" => SetTimeout {
            delay: a.get("delay")?,
        },
        "clear_timeout" => ClearTimeout {
            which: a.get("timer")?,
        },
        "turn" => Turn {
            timeout: a.get("timeout")?,
        },
        "drain" => Drain,
        "suspend_app" => SuspendApp,
        "unload_app" => UnloadApp,
        "drop_reactor" => DropReactor,
        _ => return Err(format!("unknown command {name:?}")),
    })
}

impl fmt::Display for Input {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "reactor manifest={} batch={}",
            self.manifest,
            1 + self.batch % 4
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
                let mut pairs = Vec::new();
                for w in rest.split_whitespace() {
                    pairs.push(w.split_once('=').ok_or_else(|| err(format!("{w:?}")))?);
                }
                let a = Args { pairs };
                input.manifest = a.get("manifest").map_err(err)?;
                let batch: u8 = a.get("batch").map_err(err)?;
                if !(1..=4).contains(&batch) {
                    return Err(err("batch must be 1..=4".into()));
                }
                input.batch = batch - 1;
                continue;
            }
            input.cmds.push(parse_cmd(line).map_err(err)?);
        }
        Ok(input)
    }
}
