//! Helpers for scenarios that run on both backends: one shared Chrome per test binary and
//! small readers of [`Record`] lists.

use std::ops::{Deref, DerefMut};
use std::sync::{Mutex, MutexGuard};

use serde_json::Value;

use crate::backend::{Backend, ChromeBackend};
use crate::chrome::Error;
use crate::vocab::{Call, Failure, Record, Sid};

static SHARED: Mutex<Option<ChromeBackend>> = Mutex::new(None);

/// The test binary's one Chrome, locked for the caller and reset to a fresh session (the app
/// reloaded: no sockets, call numbers and [`Sid`]s from 0). Launched on first use; it exits
/// by itself when the test process ends (Chromium quits when its DevTools pipe closes).
/// Chromium missing: [`Error::ChromiumMissing`], whose message is one line.
pub fn shared_chrome() -> Result<SharedChrome, Error> {
    let mut guard = SHARED.lock().unwrap_or_else(|p| p.into_inner());
    let mut backend = match guard.take() {
        Some(b) => b,
        None => ChromeBackend::launch()?,
    };
    // A Chrome that cannot be reset is dropped here (killed); the next user launches anew.
    backend.reset()?;
    *guard = Some(backend);
    Ok(SharedChrome(guard))
}

/// [`shared_chrome`]'s lock; derefs to the [`ChromeBackend`].
#[derive(Debug)]
pub struct SharedChrome(MutexGuard<'static, Option<ChromeBackend>>);

impl Deref for SharedChrome {
    type Target = ChromeBackend;
    fn deref(&self) -> &ChromeBackend {
        self.0
            .as_ref()
            .expect("shared_chrome stores a backend before locking it out")
    }
}

impl DerefMut for SharedChrome {
    fn deref_mut(&mut self) -> &mut ChromeBackend {
        self.0
            .as_mut()
            .expect("shared_chrome stores a backend before locking it out")
    }
}

/// The reply to call number `call`, if it came.
pub fn reply(records: &[Record], call: usize) -> Option<&Result<Value, Failure>> {
    records.iter().find_map(|r| match r {
        Record::Reply {
            call: c, result, ..
        } if *c == call => Some(result),
        _ => None,
    })
}

/// The events among `records`, in order.
pub fn events(records: &[Record]) -> Vec<Record> {
    records.iter().filter(|r| r.is_event()).cloned().collect()
}

/// `records` made comparable across backends: replies sorted by call number (Chrome may
/// answer calls of one batch out of order), events after them in dispatch order, issue
/// markers dropped, and port numbers (which differ between two servers) replaced by 0.
pub fn comparable(records: &[Record]) -> Vec<Record> {
    let mut replies: Vec<Record> = records
        .iter()
        .filter(|r| matches!(r, Record::Reply { .. }))
        .cloned()
        .collect();
    replies.sort_by_key(|r| match r {
        Record::Reply { call, .. } => *call,
        _ => usize::MAX,
    });
    for r in &mut replies {
        if let Record::Reply { result: Ok(v), .. } = r {
            mask_ports(v);
        }
    }
    replies.extend(events(records));
    replies
}

/// Replaces every `localPort`/`peerPort` in `v` (an info or a list of them) by 0: the two
/// backends' servers and peers have their own port numbers.
pub fn mask_ports(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for key in ["localPort", "peerPort"] {
                if let Some(p) = map.get_mut(key) {
                    *p = Value::from(0);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_ports),
        _ => {}
    }
}

/// Creates a server (it becomes `Sid::Nth(next server)`), listens on 127.0.0.1:0 and
/// returns its port. Settles between steps: Chrome's `getInfo` issued in the same task as
/// `listen` may run before the listen completes (measured) and see no port.
pub fn listening_server(b: &mut dyn Backend) -> Result<(Sid, u16), Error> {
    let created = b.run(vec![Call::server_create()])?;
    let server = created
        .iter()
        .find_map(|r| match r {
            Record::Reply {
                result: Ok(v),
                name: "tcpServer.create",
                ..
            } => v["socketId"].as_u64().map(|n| Sid::Nth(n as usize)),
            _ => None,
        })
        .ok_or_else(|| Error::Scenario(format!("{}: create answered {created:?}", b.name())))?;
    let listened = b.run(vec![Call::listen(server, "127.0.0.1", 0)])?;
    if !listened
        .iter()
        .any(|r| matches!(r, Record::Reply { result: Ok(_), .. }))
    {
        return Err(Error::Scenario(format!(
            "{}: listen answered {listened:?}",
            b.name()
        )));
    }
    let port = server_port(b, server)?;
    Ok((server, port))
}

/// The local port `getInfo` reports for `server`.
pub fn server_port(b: &mut dyn Backend, server: Sid) -> Result<u16, Error> {
    let info = b.run(vec![Call::ServerGetInfo { server }])?;
    info.iter()
        .find_map(|r| match r {
            Record::Reply { result: Ok(v), .. } => v["localPort"].as_u64(),
            _ => None,
        })
        .and_then(|p| u16::try_from(p).ok())
        .ok_or_else(|| Error::Scenario(format!("{}: getInfo answered {info:?}", b.name())))
}

/// The tcp socket created by a `tcp.create` among `records`.
pub fn created_tcp(records: &[Record]) -> Option<Sid> {
    records.iter().find_map(|r| match r {
        Record::Reply {
            result: Ok(v),
            name: "tcp.create",
            ..
        } => v["socketId"].as_u64().map(|n| Sid::Nth(n as usize)),
        _ => None,
    })
}

/// The client socket of the first `onAccept` among `records`.
pub fn accepted(records: &[Record]) -> Option<Sid> {
    records.iter().find_map(|r| match r {
        Record::Accept { client, .. } => Some(*client),
        _ => None,
    })
}
