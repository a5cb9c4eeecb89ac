//! The backend-neutral vocabulary: [`Call`]s in, [`Record`]s out, socket ids as [`Sid`]s.

use std::fmt;

use serde_json::{json, Value};

/// A socket as a scenario names it.
///
/// Chrome's raw ids are not the library's: Chrome keeps counting across an app reload
/// (measured on Chromium 156: after `chrome.runtime.reload()` the next server and tcp ids are
/// 2, not 1), so one Chrome serving many scenarios hands out ids the library never would.
/// Records therefore name sockets by creation order within a session, per kind: `Nth(0)` is
/// the first server (or tcp) socket that appeared in a reply or event since the session
/// started, `Nth(1)` the second, and so on. `Raw` passes an id through untouched (for ids that
/// were never issued, e.g. to provoke "Socket not found").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Sid {
    /// The n-th socket of its kind (0-based), in order of first appearance.
    Nth(usize),
    /// A raw id given as is.
    Raw(i32),
}

impl fmt::Display for Sid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Sid::Nth(n) => write!(f, "#{n}"),
            Sid::Raw(raw) => write!(f, "raw{raw}"),
        }
    }
}

/// Which namespace an id belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Kind {
    /// `chrome.sockets.tcpServer`.
    Server,
    /// `chrome.sockets.tcp`.
    Tcp,
}

/// Data for `tcp.send`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Payload {
    /// These bytes.
    Bytes(Vec<u8>),
    /// `len` copies of `byte` (large sends without shipping the bytes through DevTools).
    Repeat {
        /// The byte.
        byte: u8,
        /// How many.
        len: usize,
    },
}

impl Payload {
    /// The bytes this payload stands for.
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Payload::Bytes(b) => b.clone(),
            Payload::Repeat { byte, len } => vec![*byte; *len],
        }
    }
}

/// Defines [`Call`] and its Chrome names from one list: `Variant { fields } => "ns.method"`.
macro_rules! calls {
    ($($variant:ident $({ $($field:ident: $ty:ty),* $(,)? })? => $name:literal,)*) => {
        /// One `chrome.sockets.tcpServer` / `chrome.sockets.tcp` call, with Chrome's arguments.
        #[derive(Clone, Debug, PartialEq, Eq)]
        #[allow(missing_docs)] // the fields are Chrome's parameters, named as in its API
        pub enum Call {
            $($variant $({ $($field: $ty),* })?,)*
        }

        impl Call {
            /// Chrome's name of the call, e.g. `"tcpServer.listen"`.
            pub fn name(&self) -> &'static str {
                match self {
                    $(Call::$variant { .. } => $name,)*
                }
            }
        }

        /// Every call's Chrome name.
        pub(crate) const CALL_NAMES: &[&str] = &[$($name),*];
    };
}

calls! {
    ServerCreate {
        name: Option<String>,
        persistent: Option<bool>,
    } => "tcpServer.create",
    ServerUpdate {
        server: Sid,
        name: Option<String>,
        persistent: Option<bool>,
    } => "tcpServer.update",
    ServerSetPaused {
        server: Sid,
        paused: bool,
    } => "tcpServer.setPaused",
    Listen {
        server: Sid,
        address: String,
        port: i32,
        backlog: Option<i32>,
    } => "tcpServer.listen",
    ServerDisconnect { server: Sid } => "tcpServer.disconnect",
    ServerClose { server: Sid } => "tcpServer.close",
    ServerGetInfo { server: Sid } => "tcpServer.getInfo",
    ServerGetSockets => "tcpServer.getSockets",
    TcpCreate {
        name: Option<String>,
        persistent: Option<bool>,
        buffer_size: Option<i32>,
    } => "tcp.create",
    TcpUpdate {
        socket: Sid,
        name: Option<String>,
        persistent: Option<bool>,
        buffer_size: Option<i32>,
    } => "tcp.update",
    TcpSetPaused {
        socket: Sid,
        paused: bool,
    } => "tcp.setPaused",
    SetKeepAlive {
        socket: Sid,
        enable: bool,
        delay: i32,
    } => "tcp.setKeepAlive",
    SetNoDelay {
        socket: Sid,
        no_delay: bool,
    } => "tcp.setNoDelay",
    Connect {
        socket: Sid,
        address: String,
        port: i32,
    } => "tcp.connect",
    TcpDisconnect { socket: Sid } => "tcp.disconnect",
    Send {
        socket: Sid,
        data: Payload,
    } => "tcp.send",
    TcpClose { socket: Sid } => "tcp.close",
    TcpGetInfo { socket: Sid } => "tcp.getInfo",
    TcpGetSockets => "tcp.getSockets",
}

impl Call {
    /// `tcpServer.create()` with no properties.
    pub fn server_create() -> Call {
        Call::ServerCreate {
            name: None,
            persistent: None,
        }
    }

    /// `tcp.create()` with no properties.
    pub fn tcp_create() -> Call {
        Call::TcpCreate {
            name: None,
            persistent: None,
            buffer_size: None,
        }
    }

    /// `tcpServer.listen(server, address, port)` without a backlog.
    pub fn listen(server: Sid, address: &str, port: i32) -> Call {
        Call::Listen {
            server,
            address: address.to_string(),
            port,
            backlog: None,
        }
    }

    /// `tcp.connect(socket, address, port)`.
    pub fn connect(socket: Sid, address: &str, port: i32) -> Call {
        Call::Connect {
            socket,
            address: address.to_string(),
            port,
        }
    }

    /// `tcp.send(socket, bytes)`.
    pub fn send(socket: Sid, bytes: &[u8]) -> Call {
        Call::Send {
            socket,
            data: Payload::Bytes(bytes.to_vec()),
        }
    }

    /// The namespace whose ids this call's result carries.
    pub fn kind(&self) -> Kind {
        kind_of(self.name())
    }

    /// The socket the call is about, if any.
    pub fn target(&self) -> Option<Sid> {
        match self {
            Call::ServerUpdate { server, .. }
            | Call::ServerSetPaused { server, .. }
            | Call::Listen { server, .. }
            | Call::ServerDisconnect { server }
            | Call::ServerClose { server }
            | Call::ServerGetInfo { server } => Some(*server),
            Call::TcpUpdate { socket, .. }
            | Call::TcpSetPaused { socket, .. }
            | Call::SetKeepAlive { socket, .. }
            | Call::SetNoDelay { socket, .. }
            | Call::Connect { socket, .. }
            | Call::TcpDisconnect { socket }
            | Call::Send { socket, .. }
            | Call::TcpClose { socket }
            | Call::TcpGetInfo { socket } => Some(*socket),
            Call::ServerCreate { .. }
            | Call::ServerGetSockets
            | Call::TcpCreate { .. }
            | Call::TcpGetSockets => None,
        }
    }
}

/// A failed call: `chrome.runtime.lastError.message` and, where Chrome passes one, the net
/// error code (the callback's integer argument, or `SendInfo.resultCode`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// `lastError.message`, e.g. "net::ERR_ADDRESS_IN_USE" or "Socket not found".
    pub message: String,
    /// The code the callback got, e.g. `Some(-147)`; `None` if it got none.
    pub code: Option<i32>,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.code {
            Some(code) => write!(f, "{} ({code})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl std::error::Error for Failure {}

/// One entry of a backend's log, in dispatch order. Backends record raw ids (`I = i32`) and
/// hand out records with ids normalised to [`Sid::Nth`] (the default `I`).
#[derive(Clone, Debug, PartialEq)]
pub enum Record<I = Sid> {
    /// Call number `call` (counted from 0 per session, in issue order) was issued.
    Issued {
        /// The call's number.
        call: usize,
        /// Its Chrome name.
        name: &'static str,
    },
    /// Call number `call`'s callback ran.
    Reply {
        /// The call's number.
        call: usize,
        /// Its Chrome name.
        name: &'static str,
        /// `Ok(value)` in Chrome's JSON shape (`null` for calls that only report success;
        /// `socketId` fields normalised to the creation-order index), or the failure.
        result: Result<Value, Failure>,
    },
    /// `tcpServer.onAccept`.
    Accept {
        /// The listening socket.
        server: I,
        /// The new tcp socket.
        client: I,
    },
    /// `tcpServer.onAcceptError`.
    AcceptError {
        /// The listening socket.
        server: I,
        /// `resultCode`.
        code: i32,
    },
    /// `tcp.onReceive`.
    Receive {
        /// The socket.
        socket: I,
        /// `data`.
        data: Vec<u8>,
    },
    /// `tcp.onReceiveError`.
    ReceiveError {
        /// The socket.
        socket: I,
        /// `resultCode`.
        code: i32,
    },
}

impl<I> Record<I> {
    /// Whether this is an event (not a call's issue or reply).
    pub fn is_event(&self) -> bool {
        !matches!(self, Record::Issued { .. } | Record::Reply { .. })
    }
}

/// A log entry with raw ids, as a backend produced it (before [`Ids`] normalises it).
pub(crate) type RawRecord = Record<i32>;

/// The namespace of a call named like `"tcpServer.listen"`.
pub(crate) fn kind_of(name: &str) -> Kind {
    if name.starts_with("tcpServer.") {
        Kind::Server
    } else {
        Kind::Tcp
    }
}

/// The raw id ↔ creation-order index mapping of one session.
#[derive(Clone, Debug, Default)]
pub struct Ids {
    servers: Vec<i32>,
    tcps: Vec<i32>,
}

impl Ids {
    fn table(&mut self, kind: Kind) -> &mut Vec<i32> {
        match kind {
            Kind::Server => &mut self.servers,
            Kind::Tcp => &mut self.tcps,
        }
    }

    /// The raw id a scenario's `sid` stands for, or `None` for an `Nth` not seen yet.
    pub fn raw(&self, kind: Kind, sid: Sid) -> Option<i32> {
        match sid {
            Sid::Raw(raw) => Some(raw),
            Sid::Nth(n) => match kind {
                Kind::Server => self.servers.get(n).copied(),
                Kind::Tcp => self.tcps.get(n).copied(),
            },
        }
    }

    /// The creation-order index of `raw`, assigning the next one on first sight.
    pub fn nth(&mut self, kind: Kind, raw: i32) -> Sid {
        let table = self.table(kind);
        match table.iter().position(|&r| r == raw) {
            Some(n) => Sid::Nth(n),
            None => {
                table.push(raw);
                Sid::Nth(table.len() - 1)
            }
        }
    }

    /// Rewrites every `socketId` in `value` (a create result, a socket info or a list of
    /// them) to its creation-order index, and sorts lists by it (Chrome's `getSockets` order
    /// is arbitrary).
    fn normalise_value(&mut self, kind: Kind, value: Value) -> Value {
        match value {
            Value::Object(mut map) => {
                if let Some(raw) = map.get("socketId").and_then(Value::as_i64) {
                    if let Ok(raw) = i32::try_from(raw) {
                        if let Sid::Nth(n) = self.nth(kind, raw) {
                            map.insert("socketId".into(), json!(n));
                        }
                    }
                }
                Value::Object(map)
            }
            Value::Array(items) => {
                let mut items: Vec<Value> = items
                    .into_iter()
                    .map(|v| self.normalise_value(kind, v))
                    .collect();
                items.sort_by_key(|v| v["socketId"].as_i64());
                Value::Array(items)
            }
            other => other,
        }
    }

    pub(crate) fn normalise(&mut self, raw: RawRecord) -> Record {
        match raw {
            RawRecord::Issued { call, name } => Record::Issued { call, name },
            RawRecord::Reply { call, name, result } => Record::Reply {
                call,
                name,
                result: result.map(|v| self.normalise_value(kind_of(name), v)),
            },
            RawRecord::Accept { server, client } => Record::Accept {
                server: self.nth(Kind::Server, server),
                client: self.nth(Kind::Tcp, client),
            },
            RawRecord::AcceptError { server, code } => Record::AcceptError {
                server: self.nth(Kind::Server, server),
                code,
            },
            RawRecord::Receive { socket, data } => Record::Receive {
                socket: self.nth(Kind::Tcp, socket),
                data,
            },
            RawRecord::ReceiveError { socket, code } => Record::ReceiveError {
                socket: self.nth(Kind::Tcp, socket),
                code,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_map_by_first_appearance_per_kind() {
        let mut ids = Ids::default();
        assert_eq!(ids.nth(Kind::Tcp, 7), Sid::Nth(0));
        assert_eq!(ids.nth(Kind::Server, 7), Sid::Nth(0));
        assert_eq!(ids.nth(Kind::Tcp, 3), Sid::Nth(1));
        assert_eq!(ids.nth(Kind::Tcp, 7), Sid::Nth(0));
        assert_eq!(ids.raw(Kind::Tcp, Sid::Nth(1)), Some(3));
        assert_eq!(ids.raw(Kind::Tcp, Sid::Nth(2)), None);
        assert_eq!(ids.raw(Kind::Server, Sid::Raw(-5)), Some(-5));
    }

    #[test]
    fn replies_get_creation_order_ids_and_sorted_lists() {
        let mut ids = Ids::default();
        ids.nth(Kind::Tcp, 9);
        let raw = RawRecord::Reply {
            call: 4,
            name: "tcp.getSockets",
            result: Ok(json!([{ "socketId": 12 }, { "socketId": 9 }])),
        };
        assert_eq!(
            ids.normalise(raw),
            Record::Reply {
                call: 4,
                name: "tcp.getSockets",
                result: Ok(json!([{ "socketId": 0 }, { "socketId": 1 }])),
            }
        );
        let accept = RawRecord::Accept {
            server: 40,
            client: 12,
        };
        assert_eq!(
            ids.normalise(accept),
            Record::Accept {
                server: Sid::Nth(0),
                client: Sid::Nth(1),
            }
        );
    }
}
