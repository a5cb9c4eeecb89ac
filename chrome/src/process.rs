//! The few OS services the harness needs beyond plain `Command`: wiring the DevTools pipe to
//! fds 3 and 4 of the child, killing Chromium's whole process group, and summing the CPU time
//! of that group from `/proc`. No `unsafe`: the pipe reaches fds 3/4 through a `/bin/sh`
//! trampoline, the group through `Command::process_group` and `rustix`.

use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A spawned process with the DevTools pipe: `to_child` is its fd 3, `from_child` its fd 4.
pub(crate) struct Piped {
    pub(crate) child: Child,
    pub(crate) to_child: File,
    pub(crate) from_child: File,
}

/// Moves the pipe from stdin/stdout to fds 3/4, gives the program a null stdin/stdout and
/// execs it (`$0` is the program, `$@` its arguments): the pid stays the same.
const TRAMPOLINE: &str = r#"exec 3<&0 4>&1 </dev/null >/dev/null; exec "$0" "$@""#;

/// Spawns `program args` in a new process group (its pgid is its pid) with a pipe it reads on
/// fd 3 and another it writes on fd 4 (`--remote-debugging-pipe`), its stderr to `stderr`.
/// The pipe's child ends are the shell's stdin and stdout, which the shell moves to 3 and 4
/// before it execs the program; every other fd of ours is close-on-exec (std's default).
pub(crate) fn spawn_with_pipe(program: &Path, args: &[String], stderr: File) -> io::Result<Piped> {
    let (child_reads, to_child) = io::pipe()?;
    let (from_child, child_writes) = io::pipe()?;
    let child = Command::new("/bin/sh")
        .arg("-c")
        .arg(TRAMPOLINE)
        .arg(program)
        .args(args)
        .stdin(Stdio::from(child_reads))
        .stdout(Stdio::from(child_writes))
        .stderr(stderr)
        .process_group(0)
        .spawn()?;
    Ok(Piped {
        child,
        to_child: File::from(OwnedFd::from(to_child)),
        from_child: File::from(OwnedFd::from(from_child)),
    })
}

/// Sends SIGKILL to every process of the group `pgid`.
pub(crate) fn kill_group(pgid: u32) {
    let Some(pid) = i32::try_from(pgid)
        .ok()
        .filter(|&p| p > 1)
        .and_then(rustix::process::Pid::from_raw)
    else {
        return;
    };
    // `pgid > 1` rules out "every process" and our own group; a group already gone is fine.
    let _ = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL);
}

fn clock_ticks_per_second() -> u64 {
    Some(rustix::param::clock_ticks_per_second())
        .filter(|&t| t > 0)
        .unwrap_or(100)
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
