//! The few OS calls the harness needs that std does not offer: wiring the DevTools pipe to
//! fds 3 and 4 of the child, killing Chromium's whole process group, and summing the CPU time
//! of that group from `/proc`. Every `unsafe` block of the crate is in this file.

use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::time::Duration;

/// A spawned process with the DevTools pipe: `to_child` is its fd 3, `from_child` its fd 4.
pub(crate) struct Piped {
    pub(crate) child: Child,
    pub(crate) to_child: File,
    pub(crate) from_child: File,
}

/// Spawns `cmd` in a new process group (its pgid is its pid) with a pipe it reads on fd 3 and
/// another it writes on fd 4 (`--remote-debugging-pipe`).
pub(crate) fn spawn_with_pipe(mut cmd: Command) -> io::Result<Piped> {
    let (child_reads, to_child) = io::pipe()?;
    let (from_child, child_writes) = io::pipe()?;
    let child_reads = OwnedFd::from(child_reads);
    let child_writes = OwnedFd::from(child_writes);
    let r = child_reads.as_raw_fd();
    let w = child_writes.as_raw_fd();
    cmd.process_group(0);
    // SAFETY: the closure runs in the forked child before exec and calls only dup, dup2 and
    // fcntl, which are async-signal-safe; it touches no memory shared with the parent. `r`
    // and `w` stay open in the parent (owned by `child_reads`/`child_writes`) until after
    // `spawn` returns, so they are open in the child when the closure runs.
    unsafe {
        cmd.pre_exec(move || {
            // dup2(r, 3) would close `w` if `w` were 3: move it out of the way first.
            let w = if w == 3 { libc::dup(w) } else { w };
            if w < 0 || libc::dup2(r, 3) < 0 || libc::dup2(w, 4) < 0 {
                return Err(io::Error::last_os_error());
            }
            // dup2 onto itself keeps FD_CLOEXEC: clear it on both explicitly.
            if libc::fcntl(3, libc::F_SETFD, 0) < 0 || libc::fcntl(4, libc::F_SETFD, 0) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    let child = cmd.spawn()?;
    drop(child_reads);
    drop(child_writes);
    Ok(Piped {
        child,
        to_child: File::from(OwnedFd::from(to_child)),
        from_child: File::from(OwnedFd::from(from_child)),
    })
}

/// Sends SIGKILL to every process of the group `pgid`.
pub(crate) fn kill_group(pgid: u32) {
    let Ok(pgid) = i32::try_from(pgid) else {
        return;
    };
    if pgid <= 1 {
        return;
    }
    // SAFETY: kill(2) with a negative pid signals a process group; it takes plain integers
    // and touches no memory. `pgid > 1` rules out "every process" (-1) and our own group (0).
    unsafe {
        libc::kill(-pgid, libc::SIGKILL);
    }
}

fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf reads a configuration value; no pointers are involved.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    u64::try_from(ticks).ok().filter(|&t| t > 0).unwrap_or(100)
}

/// User + system CPU time of every live process whose process group is `pgid`, summed, and
/// how many processes that was. Read from `/proc/<pid>/stat` (fields 5 `pgrp`, 14 `utime`,
/// 15 `stime`, in clock ticks).
pub fn group_cpu_time(pgid: u32) -> (Duration, usize) {
    let mut ticks = 0u64;
    let mut processes = 0;
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return (Duration::ZERO, 0);
    };
    for entry in dir.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // The command name (field 2) is in parentheses and may contain spaces: split after it.
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        // rest starts at field 3 (state): pgrp is field 5 -> index 2; utime 14 -> 11; stime 15 -> 12.
        let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        if field(2) != Some(u64::from(pgid)) {
            continue;
        }
        ticks += field(11).unwrap_or(0) + field(12).unwrap_or(0);
        processes += 1;
    }
    let per_second = clock_ticks_per_second();
    let nanos = u128::from(ticks) * 1_000_000_000 / u128::from(per_second);
    (
        Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX)),
        processes,
    )
}
