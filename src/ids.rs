//! Socket ids, the id → slab-key tables, and mio token packing.
//!
//! Three words are never mixed in this crate:
//! - **id**: Chrome's socket id ([`ServerSocketId`], [`TcpSocketId`]), what the application sees;
//! - **key**: the index of an entry in one of the reactor's slabs (reused after a close);
//! - **token**: the `mio::Token` a registered fd carries, packing kind, id and key.
//!
//! Ids come from one counter per kind and start at 1. At `i32::MAX` a counter wraps to 1 and
//! skips the ids still live (deviation D12; Linux PIDs do the same), so **an id is never
//! reused while its socket lives, and not for 2^31 - 1 allocations of its kind after it was
//! issued**: the counter has to go once round the whole id space before it comes back to it.
//!
//! Slab keys *are* reused, so every entry stores its id and every lookup through a token or a
//! key (a readiness event, a queued accept or read step) compares it. That compare is what
//! keeps a stale readiness event off a socket that took over a closed socket's slot, and it
//! still suffices after the wrap, without a per-slot generation: a stale event or step names
//! `(key, id)` of a socket closed earlier, and the entry now in slot `key` carries a different
//! id unless the counter issued `id` again in between, which takes 2^31 - 1 allocations of that
//! kind. A readiness event lives one turn (the turn queues a step for it and the step runs
//! when the FIFO reaches it); 2^31 - 1 allocations between queueing and running would need
//! 2^31 sockets created inside that turn's callbacks (tens of GiB of queued callbacks and
//! entries), so the compare cannot be fooled in practice. `tests/reactor/ids.rs` provokes the
//! stale event across the wrap.

use std::fmt;

use mio::Token;
use slab::Slab;

macro_rules! socket_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
        pub struct $name(i32);

        impl $name {
            /// Wraps Chrome's raw integer id. Any value is accepted: an id that was never
            /// issued, or was closed, simply gets "Socket not found" from every call.
            pub const fn from_raw(raw: i32) -> Self {
                $name(raw)
            }

            /// Chrome's raw integer id.
            pub const fn raw(self) -> i32 {
                self.0
            }
        }

        impl From<i32> for $name {
            fn from(raw: i32) -> Self {
                $name(raw)
            }
        }

        impl From<$name> for i32 {
            fn from(id: $name) -> i32 {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

socket_id!(
    /// The id of a `chrome.sockets.tcpServer` socket, issued by
    /// [`TcpServer::create`](crate::tcp_server::TcpServer::create).
    ///
    /// ```
    /// use chrome_sockets::ServerSocketId;
    /// let id = ServerSocketId::from_raw(7);
    /// assert_eq!(i32::from(id), 7);
    /// ```
    ServerSocketId
);

socket_id!(
    /// The id of a `chrome.sockets.tcp` socket, issued by
    /// [`Tcp::create`](crate::tcp::Tcp::create) or by an accept.
    ///
    /// Server ids and tcp ids come from separate counters, so the same number can name a
    /// server and a tcp socket at once; each namespace only looks in its own table.
    TcpSocketId
);

/// One kind's id counter and its id → slab-key table.
///
/// Invariants: `1 <= next <= last`; every id in `keys` lies in `1..=last`; `wraps` counts the
/// times `next` went from `last` back to 1; an id is issued only if it is not in `keys`.
/// `last` is `i32::MAX` (smaller only in unit tests). The table is an [`IdMap`] (lookups,
/// inserts and removes are O(1) and sit on the accept and close path); the rare callers that
/// need id order get it from [`IdTable::keys`].
#[derive(Debug)]
pub(crate) struct IdTable {
    next: i32,
    last: i32,
    wraps: u64,
    keys: IdMap,
}

impl IdTable {
    pub(crate) fn new() -> Self {
        IdTable {
            next: 1,
            last: i32::MAX,
            wraps: 0,
            keys: IdMap::default(),
        }
    }

    /// Issues the next id that is not live: after `last` comes 1 again, and live ids are
    /// skipped. `None` only when every id is live (2^31 - 1 sockets of one kind at once,
    /// which memory and fd limits rule out long before).
    ///
    /// Cost: before the first wrap no id can be live ahead of the counter, so there is no
    /// lookup at all; after it, one lookup plus one per live id skipped. A run of k
    /// consecutive live ids costs k lookups once per 2^31 - 1 allocations, so the work is
    /// bounded by the number of live ids and O(1) amortized.
    #[inline]
    pub(crate) fn allocate(&mut self) -> Option<i32> {
        if self.keys.len >= self.last as usize {
            return None;
        }
        // Terminates: fewer than `last` ids are live, so one of 1..=last is free.
        loop {
            let id = self.next;
            if self.next == self.last {
                self.next = 1;
                self.wraps += 1;
            } else {
                self.next += 1;
            }
            if self.wraps == 0 || self.keys.get(id).is_none() {
                return Some(id);
            }
        }
    }

    /// Test knobs to reach the wrap: ids run up to `last` (at least 1) before wrapping to 1,
    /// and `first` (clamped to `1..=last`) is the next id issued. Only on an empty table.
    #[cfg(feature = "fault-injection")]
    pub(crate) fn start_at(&mut self, first: i32, last: i32) {
        debug_assert!(self.keys.len == 0);
        self.last = last.max(1);
        self.next = first.clamp(1, self.last);
    }

    /// How many times the counter wrapped from `i32::MAX` back to 1.
    #[cfg(feature = "fault-injection")]
    pub(crate) fn wraps(&self) -> u64 {
        self.wraps
    }

    #[inline]
    pub(crate) fn insert(&mut self, id: i32, key: usize) {
        debug_assert!(id > 0 && id <= self.last);
        self.keys.insert(id, key);
    }

    #[inline]
    pub(crate) fn get(&self, id: i32) -> Option<usize> {
        self.keys.get(id)
    }

    #[inline]
    pub(crate) fn remove(&mut self, id: i32) -> Option<usize> {
        self.keys.remove(id)
    }

    /// Slab keys in id order (sorts: for `get_sockets` and app suspend/unload, not hot paths).
    pub(crate) fn keys(&self) -> impl Iterator<Item = usize> {
        let mut pairs: Vec<(i32, u32)> = self.keys.pairs().collect();
        pairs.sort_unstable_by_key(|&(id, _)| id);
        pairs.into_iter().map(|(_, key)| key as usize)
    }
}

/// One slot of an [`IdMap`]: an id (0 = empty; issued ids start at 1) and its slab key.
#[derive(Clone, Copy, Debug, Default)]
struct Slot {
    id: i32,
    key: u32,
}

/// An open-addressing map from issued ids (> 0) to slab keys (at most [`MAX_KEY`], so they
/// fit a `u32`): 8 bytes a slot, at most half the slots used, linear probing from a
/// Fibonacci hash of the id (one multiplication: ids are issued by the reactor, not chosen by
/// a peer, so no keyed hash is needed) and backward-shift deletion, so there are no
/// tombstones and a probe stops at the first empty slot.
///
/// Invariant: `slots.len()` is 0 or a power of two at least 16; `len < slots.len() / 2` after
/// every insert; every live entry is reachable from its home slot without crossing an empty
/// slot.
#[derive(Debug, Default)]
pub(crate) struct IdMap {
    slots: Vec<Slot>,
    len: usize,
}

impl IdMap {
    #[inline]
    fn home(&self, id: i32) -> usize {
        let bits = self.slots.len().trailing_zeros();
        ((id as u32).wrapping_mul(0x9e37_79b9) >> (32 - bits)) as usize
    }

    #[inline]
    fn mask(&self) -> usize {
        self.slots.len() - 1
    }

    /// The slot holding `id`, if any.
    #[inline]
    fn find(&self, id: i32) -> Option<usize> {
        if id <= 0 || self.len == 0 {
            return None;
        }
        let mask = self.mask();
        let mut i = self.home(id);
        loop {
            let slot = self.slots[i];
            if slot.id == id {
                return Some(i);
            }
            if slot.id == 0 {
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    #[inline]
    pub(crate) fn get(&self, id: i32) -> Option<usize> {
        self.find(id).map(|i| self.slots[i].key as usize)
    }

    /// Maps a new `id` (> 0, not present) to `key` (at most [`MAX_KEY`]).
    #[inline]
    pub(crate) fn insert(&mut self, id: i32, key: usize) {
        debug_assert!(id > 0 && key <= MAX_KEY && self.find(id).is_none());
        if (self.len + 1) * 2 > self.slots.len() {
            self.grow();
        }
        self.place(Slot {
            id,
            key: key as u32,
        });
        self.len += 1;
    }

    #[inline]
    fn place(&mut self, slot: Slot) {
        let mask = self.mask();
        let mut i = self.home(slot.id);
        while self.slots[i].id != 0 {
            i = (i + 1) & mask;
        }
        self.slots[i] = slot;
    }

    fn grow(&mut self) {
        let size = (self.slots.len() * 2).max(16);
        let old = std::mem::replace(&mut self.slots, vec![Slot::default(); size]);
        for slot in old.into_iter().filter(|s| s.id != 0) {
            self.place(slot);
        }
    }

    #[inline]
    pub(crate) fn remove(&mut self, id: i32) -> Option<usize> {
        let found = self.find(id)?;
        let key = self.slots[found].key as usize;
        // Backward shift: move later entries of the probe run into the hole when the hole
        // lies between their home slot and where they sit, so no run is ever broken.
        let mask = self.mask();
        let mut hole = found;
        let mut j = found;
        loop {
            j = (j + 1) & mask;
            let slot = self.slots[j];
            if slot.id == 0 {
                break;
            }
            let home = self.home(slot.id);
            if (j.wrapping_sub(home) & mask) >= (j.wrapping_sub(hole) & mask) {
                self.slots[hole] = slot;
                hole = j;
            }
        }
        self.slots[hole] = Slot::default();
        self.len -= 1;
        Some(key)
    }

    /// Every (id, key), in no particular order.
    fn pairs(&self) -> impl Iterator<Item = (i32, u32)> + '_ {
        self.slots
            .iter()
            .filter(|s| s.id != 0)
            .map(|s| (s.id, s.key))
    }
}

/// An entry of a [`Table`]: it knows its own id, so a lookup by slab key can check it.
pub(crate) trait Identified {
    /// Chrome's raw socket id of this entry.
    fn id(&self) -> i32;
}

/// One kind's sockets: the entries in a slab plus the id → key table.
///
/// Invariant: an id is in `ids` exactly while its entry is in `slab` at the key it maps to,
/// and that entry's [`Identified::id`] is the id. Lookups by key (from a token or a queued
/// task) compare the id, so a reused slot never answers for an older socket.
#[derive(Debug)]
pub(crate) struct Table<E> {
    ids: IdTable,
    slab: Slab<E>,
}

impl<E: Identified> Table<E> {
    pub(crate) fn new() -> Self {
        Table {
            ids: IdTable::new(),
            slab: Slab::new(),
        }
    }

    /// Issues the next free id and stores `make(id)` under it. `None` (and nothing stored,
    /// no id used up) when every id is live or no token could carry the slab key.
    #[inline]
    pub(crate) fn insert(&mut self, make: impl FnOnce(i32) -> E) -> Option<(i32, usize)> {
        let key = self.slab.vacant_key();
        if key > MAX_KEY {
            return None;
        }
        let id = self.ids.allocate()?;
        self.slab.insert(make(id));
        self.ids.insert(id, key);
        Some((id, key))
    }

    /// The id counter (for the `fault-injection` knobs).
    #[cfg(feature = "fault-injection")]
    pub(crate) fn ids(&mut self) -> &mut IdTable {
        &mut self.ids
    }

    /// The slab key of a live id.
    pub(crate) fn key(&self, id: i32) -> Option<usize> {
        self.ids.get(id)
    }

    /// The entry at `key` if it is still the socket `id`.
    pub(crate) fn get(&self, key: usize, id: i32) -> Option<&E> {
        self.slab.get(key).filter(|e| e.id() == id)
    }

    /// The entry at `key` if it is still the socket `id`.
    pub(crate) fn get_mut(&mut self, key: usize, id: i32) -> Option<&mut E> {
        self.slab.get_mut(key).filter(|e| e.id() == id)
    }

    /// The entry of a live id.
    pub(crate) fn by_id(&self, id: i32) -> Option<&E> {
        self.key(id).map(|key| &self.slab[key])
    }

    /// Removes a live id and hands its entry back.
    #[inline]
    pub(crate) fn remove(&mut self, id: i32) -> Option<E> {
        let key = self.ids.remove(id)?;
        Some(self.slab.remove(key))
    }

    /// Slab keys of the live entries, in id order (sorts: not for hot paths).
    pub(crate) fn keys(&self) -> impl Iterator<Item = usize> {
        self.ids.keys()
    }

    /// Slab keys of the live entries `keep` picks, in id order (sorts: not for hot paths).
    pub(crate) fn keys_where(&self, keep: impl Fn(&E) -> bool) -> Vec<usize> {
        self.keys().filter(|&key| keep(&self.slab[key])).collect()
    }

    /// The live entries, in id order (sorts: not for hot paths).
    pub(crate) fn iter(&self) -> impl Iterator<Item = &E> {
        self.keys().map(|key| &self.slab[key])
    }

    pub(crate) fn len(&self) -> usize {
        self.slab.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.slab.is_empty()
    }
}

impl<E> std::ops::Index<usize> for Table<E> {
    type Output = E;

    fn index(&self, key: usize) -> &E {
        &self.slab[key]
    }
}

impl<E> std::ops::IndexMut<usize> for Table<E> {
    fn index_mut(&mut self, key: usize) -> &mut E {
        &mut self.slab[key]
    }
}

/// What a token names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    Server {
        id: i32,
        key: usize,
    },
    Tcp {
        id: i32,
        key: usize,
    },
    Waker,
    /// The process's signal eventfd ([`Reactor::stop_on_signals`](crate::Reactor::stop_on_signals)).
    Signal,
}

const _: () = assert!(usize::BITS == 64, "token packing needs a 64-bit usize");

const TCP_BIT: usize = 1 << 63;
const KEY_MASK: usize = u32::MAX as usize;

/// Largest slab key a token can carry; `u32::MAX` itself stays unused so that no packed
/// token equals [`WAKER_TOKEN`].
pub(crate) const MAX_KEY: usize = (u32::MAX - 1) as usize;

/// The token reserved for the reactor's waker.
pub(crate) const WAKER_TOKEN: Token = Token(usize::MAX);

/// The token reserved for the signal eventfd: a server token with id 0 and key `u32::MAX`,
/// which packing never produces (ids start at 1, keys stop at [`MAX_KEY`]).
pub(crate) const SIGNAL_TOKEN: Token = Token(KEY_MASK);

#[inline]
pub(crate) fn server_token(id: i32, key: usize) -> Token {
    debug_assert!(id > 0 && key <= MAX_KEY);
    Token(((id as usize) << 32) | key)
}

#[inline]
pub(crate) fn tcp_token(id: i32, key: usize) -> Token {
    debug_assert!(id > 0 && key <= MAX_KEY);
    Token(TCP_BIT | ((id as usize) << 32) | key)
}

#[inline]
pub(crate) fn decode(token: Token) -> Source {
    if token == WAKER_TOKEN {
        return Source::Waker;
    }
    if token == SIGNAL_TOKEN {
        return Source::Signal;
    }
    let key = token.0 & KEY_MASK;
    let id = ((token.0 & !TCP_BIT) >> 32) as i32;
    if token.0 & TCP_BIT != 0 {
        Source::Tcp { id, key }
    } else {
        Source::Server { id, key }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_start_at_one_and_only_grow() {
        let mut t = IdTable::new();
        let a = t.allocate().unwrap();
        t.insert(a, 0);
        t.remove(a);
        let b = t.allocate().unwrap();
        assert_eq!((a, b), (1, 2));
    }

    #[test]
    fn the_counter_wraps_from_i32_max_to_1_and_skips_live_ids() {
        let mut t = IdTable::new();
        t.next = i32::MAX - 1;
        // Ids 1 and 3 are live (issued long ago); 2 was closed.
        t.keys.insert(1, 10);
        t.keys.insert(3, 30);
        let a = t.allocate().unwrap();
        t.insert(a, 0);
        let b = t.allocate().unwrap();
        t.insert(b, 1);
        assert_eq!((a, b, t.wraps), (i32::MAX - 1, i32::MAX, 1));
        assert_eq!(t.allocate(), Some(2));
        assert_eq!(t.allocate(), Some(4));
        // i32::MAX - 1 closes; the counter reaches it again only after a full round.
        t.remove(i32::MAX - 1);
        t.next = i32::MAX - 2;
        assert_eq!(t.allocate(), Some(i32::MAX - 2));
        assert_eq!(t.allocate(), Some(i32::MAX - 1));
        assert_eq!(t.allocate(), Some(2), "i32::MAX is live, 1 is live");
        assert_eq!(t.wraps, 2);
    }

    /// A small id space (`last` = 8) shows the whole cycle: skip runs of live ids, refuse
    /// only when every id is live, and issue again after a close.
    #[test]
    fn a_full_id_space_refuses_and_a_close_frees_exactly_that_id() {
        let mut t = IdTable::new();
        t.last = 8;
        let mut issued = Vec::new();
        for key in 0..8 {
            let id = t.allocate().unwrap();
            t.insert(id, key);
            issued.push(id);
        }
        assert_eq!(issued, (1..=8).collect::<Vec<_>>());
        assert_eq!(t.allocate(), None, "every id live");
        assert_eq!(t.wraps, 1);
        t.remove(5);
        assert_eq!(t.allocate(), Some(5), "a run of 7 live ids skipped");
        t.insert(5, 4);
        assert_eq!(t.allocate(), None);
        for id in [2, 7] {
            t.remove(id);
        }
        // The counter stands after 5: 7 comes before 2.
        assert_eq!(t.allocate(), Some(7));
        assert_eq!(t.allocate(), Some(2));
        assert_eq!(t.allocate(), Some(7), "not inserted, so still free");
    }

    /// What an idle connection costs at a million of them: the id map's share (8-byte slots,
    /// at most half used) is 2^21 slots for 1,000,000 ids, 16.8 bytes each, all of them still
    /// found; with the 72-byte slab entry that makes the 89 bytes per connection of
    /// `docs/performance.md`, "Performance at scale".
    #[test]
    fn a_million_ids_cost_the_id_map_under_17_bytes_each() {
        const N: i32 = 1_000_000;
        let mut map = IdMap::default();
        for id in 1..=N {
            map.insert(id, id as usize);
        }
        assert_eq!(map.slots.len(), 1 << 21);
        assert!(map.slots.len() * std::mem::size_of::<Slot>() <= 17 * N as usize);
        assert!((1..=N)
            .step_by(997)
            .all(|id| map.get(id) == Some(id as usize)));
        assert_eq!(map.get(N + 1), None);
    }

    #[test]
    fn tokens_round_trip_and_never_equal_the_waker() {
        for &(id, key) in &[(1, 0), (i32::MAX, MAX_KEY), (12345, 77)] {
            assert_eq!(decode(server_token(id, key)), Source::Server { id, key });
            assert_eq!(decode(tcp_token(id, key)), Source::Tcp { id, key });
            assert_ne!(tcp_token(id, key), WAKER_TOKEN);
            assert_ne!(server_token(id, key), SIGNAL_TOKEN);
            assert_ne!(tcp_token(id, key), SIGNAL_TOKEN);
        }
        assert_eq!(decode(WAKER_TOKEN), Source::Waker);
    }

    #[test]
    fn keys_iterate_in_id_order() {
        let mut t = IdTable::new();
        for key in [5, 3, 9] {
            let id = t.allocate().unwrap();
            t.insert(id, key);
        }
        assert_eq!(t.keys().collect::<Vec<_>>(), vec![5, 3, 9]);
    }

    #[test]
    fn keys_stay_in_id_order_across_many_ids_and_removals() {
        let mut t = IdTable::new();
        for key in (0..1000).rev() {
            let id = t.allocate().unwrap();
            t.insert(id, key);
        }
        for id in (1..=1000).step_by(3) {
            assert_eq!(t.remove(id), Some(1000 - id as usize));
        }
        let keys: Vec<_> = t.keys().collect();
        let expected: Vec<usize> = (1..=1000)
            .filter(|id| (id - 1) % 3 != 0)
            .map(|id| 1000 - id)
            .collect();
        assert_eq!(keys, expected);
        assert_eq!(t.get(1), None);
        assert_eq!(t.get(2), Some(998));
    }

    /// The map against `std`'s, over inserts and removes in a pseudo-random order, with runs
    /// of ids that share a home slot and wrap around the end of the slots.
    #[test]
    fn id_map_matches_a_btree_map() {
        use std::collections::BTreeMap;
        let mut map = IdMap::default();
        let mut model = BTreeMap::new();
        let mut next = 1;
        let mut x: u64 = 0x2545_f491_4f6c_dd1d;
        for step in 0..50_000usize {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let live: Vec<i32> = model.keys().copied().collect();
            if x % 3 != 0 || live.is_empty() {
                map.insert(next, step % 1000);
                model.insert(next, step % 1000);
                next += 1 + (x % 64 == 0) as i32 * 15;
            } else {
                let id = live[(x as usize >> 8) % live.len()];
                assert_eq!(map.remove(id), model.remove(&id));
            }
            if step % 997 == 0 {
                for id in (next - 3000).max(-1)..next + 2 {
                    assert_eq!(map.get(id), model.get(&id).copied(), "id {id}");
                }
                assert_eq!(map.remove(0), None);
                assert_eq!(map.get(-5), None);
            }
            if model.len() > 300 {
                let drop: Vec<i32> = model.keys().copied().step_by(2).collect();
                for id in drop {
                    assert_eq!(map.remove(id), model.remove(&id));
                }
            }
        }
        let mut pairs: Vec<_> = map.pairs().map(|(i, k)| (i, k as usize)).collect();
        pairs.sort_unstable();
        assert_eq!(pairs, model.into_iter().collect::<Vec<_>>());
    }
}
