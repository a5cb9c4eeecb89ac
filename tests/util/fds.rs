//! fd accounting from `/proc/self`: counts by kind, the fd table, fd flags, and [`FdGuard`],
//! the one way a test checks that everything it opened is closed again.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::MutexGuard;
use std::time::{Duration, Instant};

use super::{serial, PATIENCE};

/// Number of open fds of this process (as [`fd_table`] lists them).
pub fn open_fds() -> usize {
    fd_table().len()
}

/// A fresh `Reactor<()>` with the one socket `make` creates, and [`fds_by_kind`] right after:
/// the count a test's failing calls must leave unchanged.
pub fn one_socket_and_fds<I>(
    make: impl FnOnce(&mut chrome_sockets::Reactor<()>) -> I,
) -> (chrome_sockets::Reactor<()>, I, BTreeMap<String, usize>) {
    let mut r = chrome_sockets::Reactor::new().expect("reactor");
    let id = make(&mut r);
    let before = fds_by_kind();
    (r, id, before)
}

/// Open fds of this process by kind ("socket", "anon_inode:[eventpoll]", "pipe", ...).
pub fn fds_by_kind() -> BTreeMap<String, usize> {
    let mut kinds = BTreeMap::new();
    for target in fd_table().into_values() {
        let kind = match target.split_once(':') {
            Some(("anon_inode", rest)) => format!("anon_inode:{rest}"),
            Some((k, _)) => k.to_string(),
            None => "file".to_string(),
        };
        *kinds.entry(kind).or_insert(0) += 1;
    }
    kinds
}

/// Waits (bounded) until the process's fd count by kind equals `before`; panics otherwise.
/// Helper threads (host-name resolution) may hold an fd for a moment after a drop.
#[track_caller]
pub fn assert_fds_back_to(before: &BTreeMap<String, usize>) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        let now = fds_by_kind();
        if &now == before {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "fd leak: before {before:?}, after {now:?}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Runs the rest of a test alone in its binary (fd counts are process-wide) and, when
/// dropped, checks that every fd opened since [`FdGuard::new`] is closed again. Declare it
/// first: locals declared after it (reactor, sockets, peers) are dropped before it checks.
pub struct FdGuard {
    before: BTreeMap<String, usize>,
    _serial: MutexGuard<'static, ()>,
}

impl FdGuard {
    /// Takes the binary's lock, then a snapshot of the open fds.
    pub fn new() -> Self {
        super::init();
        let serial = serial();
        FdGuard {
            before: fds_by_kind(),
            _serial: serial,
        }
    }

    /// The snapshot taken at [`FdGuard::new`].
    pub fn before(&self) -> &BTreeMap<String, usize> {
        &self.before
    }
}

impl Drop for FdGuard {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            assert_fds_back_to(&self.before);
        }
    }
}

/// Runs `body` under an [`FdGuard`].
#[track_caller]
pub fn without_fd_leak(body: impl FnOnce()) {
    let fds = FdGuard::new();
    body();
    assert_fds_back_to(fds.before());
}

/// The open fds of this process with what they point at ("socket:[123]", ...), without
/// the directory fd the listing itself uses.
pub fn fd_table() -> BTreeMap<i32, String> {
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .flatten()
        .filter_map(|e| {
            let fd: i32 = e.file_name().to_str()?.parse().ok()?;
            let target = std::fs::read_link(e.path()).ok()?;
            let target = target.to_string_lossy().into_owned();
            (!target.starts_with("/proc/")).then_some((fd, target))
        })
        .collect()
}

/// Fds opened between two [`fd_table`] snapshots (still open in `after`).
pub fn new_fds(before: &BTreeMap<i32, String>, after: &BTreeMap<i32, String>) -> BTreeSet<i32> {
    after
        .iter()
        .filter(|(fd, target)| before.get(fd) != Some(target))
        .map(|(fd, _)| *fd)
        .collect()
}

/// The `flags:` field of `/proc/self/fdinfo/<fd>` (octal, as the kernel prints it).
pub fn fd_flags(fd: i32) -> u32 {
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{fd}")).expect("fdinfo");
    let line = info
        .lines()
        .find_map(|l| l.strip_prefix("flags:"))
        .expect("flags line");
    u32::from_str_radix(line.trim(), 8).expect("octal flags")
}

/// `O_NONBLOCK` as `/proc/self/fdinfo` prints it.
pub const O_NONBLOCK: u32 = 0o4000;
/// `O_CLOEXEC` as `/proc/self/fdinfo` prints it.
pub const O_CLOEXEC: u32 = 0o2000000;
