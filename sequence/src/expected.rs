//! What `getInfo` / `getSockets` must report: the model's view of one socket ([`ExpS`],
//! [`ExpT`]), and the checks built from it.

use std::fmt;

use chrome_sockets::{tcp, tcp_server};

use crate::model::World;
use crate::trace::Got;

#[derive(Debug)]
pub(crate) struct ExpS {
    pub(crate) id: i32,
    pub(crate) persistent: bool,
    pub(crate) name: Option<String>,
    pub(crate) paused: bool,
    pub(crate) local: Option<(String, Option<u16>)>,
}

impl ExpS {
    pub(crate) fn check(&self, i: &tcp_server::SocketInfo) -> Result<(), String> {
        let local = match (&i.local_address, i.local_port) {
            (Some(a), Some(p)) => Some((a.clone(), p)),
            (None, None) => None,
            _ => return Err("address and port must come together".into()),
        };
        let ok = i.socket_id.raw() == self.id
            && i.persistent == self.persistent
            && i.name == self.name
            && i.paused == self.paused
            && match (&self.local, &local) {
                (None, None) => true,
                (Some((a, p)), Some((ga, gp))) => {
                    a == ga && *gp != 0 && p.map_or(true, |p| p == *gp)
                }
                _ => false,
            };
        ensure!(ok, "expected {self:?}");
        Ok(())
    }
}

#[derive(Debug)]
pub(crate) struct ExpT {
    pub(crate) id: i32,
    pub(crate) persistent: bool,
    pub(crate) name: Option<String>,
    pub(crate) buffer: Option<i32>,
    pub(crate) paused: bool,
    pub(crate) connected: bool,
    /// A send to a peer that may be gone (or with a send fault armed) is outstanding: its
    /// write may already have failed and disconnected the socket (D9), so `connected` may
    /// read either way; read as disconnected, the socket is also paused (a failed write
    /// pauses a reading socket, as a failed read does).
    pub(crate) connected_unsure: bool,
}

impl ExpT {
    pub(crate) fn check(&self, i: &tcp::SocketInfo) -> Result<(), String> {
        let c = if self.connected_unsure {
            i.connected
        } else {
            self.connected
        };
        let failed = self.connected && !c;
        let ok = i.socket_id.raw() == self.id
            && i.persistent == self.persistent
            && i.name == self.name
            && i.buffer_size == self.buffer
            && i.paused == (self.paused || failed)
            && i.connected == c
            && i.local_address.is_some() == c
            && i.local_port.is_some() == c
            && i.peer_address.is_some() == c
            && i.peer_port.is_some() == c;
        ensure!(ok, "expected {self:?} (addresses present iff connected)");
        Ok(())
    }
}

/// A socket as the model sees it, to compare with what `getInfo` reports.
pub(crate) trait Expected: fmt::Debug + Sized + 'static {
    /// The API's info type.
    type Info;
    /// The info in a `getInfo` result.
    fn info(g: &Got) -> Option<&Self::Info>;
    /// The list in a `getSockets` result.
    fn list(g: &Got) -> Option<&[Self::Info]>;
    /// Whether `i` is this socket.
    fn check(&self, i: &Self::Info) -> Result<(), String>;
}

/// `impl Expected` for a model socket type: its info type and the [`Got`] variants of
/// `getInfo` and `getSockets`.
macro_rules! expected {
    ($exp:ident: $info:ty, $one:ident, $all:ident) => {
        impl Expected for $exp {
            type Info = $info;
            fn info(g: &Got) -> Option<&Self::Info> {
                match g {
                    Got::$one(i) => Some(i),
                    _ => None,
                }
            }
            fn list(g: &Got) -> Option<&[Self::Info]> {
                match g {
                    Got::$all(l) => Some(l),
                    _ => None,
                }
            }
            fn check(&self, i: &Self::Info) -> Result<(), String> {
                $exp::check(self, i)
            }
        }
    };
}

expected!(ExpS: tcp_server::SocketInfo, SInfo, SList);
expected!(ExpT: tcp::SocketInfo, TInfo, TList);

impl World {
    /// A `getInfo` whose answer is `exp` (`None`: "Socket not found").
    pub(crate) fn expect_info<E: Expected>(&mut self, desc: String, exp: Option<E>) -> u64 {
        self.expect(
            desc,
            true,
            Box::new(move |_, g| match (&exp, E::info(g)) {
                (None, _) => {
                    ensure!(*g == Got::not_found(), "expected Socket not found");
                    Ok(())
                }
                (Some(e), Some(i)) => e.check(i),
                (Some(e), None) => Err(format!("expected {e:?}")),
            }),
        )
    }

    /// A `getSockets` whose answer is `exps`, in order.
    pub(crate) fn expect_list<E: Expected>(&mut self, desc: String, exps: Vec<E>) -> u64 {
        self.expect(
            desc,
            true,
            Box::new(move |_, g| {
                let list = E::list(g).ok_or("expected a list")?;
                ensure!(list.len() == exps.len(), "expected {exps:?}");
                for (e, i) in exps.iter().zip(list) {
                    e.check(i)?;
                }
                Ok(())
            }),
        )
    }
}
