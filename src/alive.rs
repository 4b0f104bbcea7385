//! Whether a daemon runs on this ledger: the heartbeat a running daemon writes, and whether
//! the process that wrote it still runs. Below the daemon, so `backfill`, `retract`, the
//! review release and `status` ask it without depending on the daemon itself.
//!
//! The heartbeat is written every [`HEARTBEAT`] and counts as a running
//! daemon for [`HEARTBEAT_STALE`]. A daemon killed without its shutdown (SIGKILL, the OOM
//! killer, power loss) cannot clear it, and for those 150 s a `backfill` would queue its work
//! for nobody. So the heartbeat also names the process: its pid, when it started, and the
//! machine it runs on (host name, boot id and pid namespace). When that machine is this one
//! and the pid is not running, or runs a process started at another time (the pid was
//! reused), the daemon is gone, however fresh its heartbeat.
//!
//! Limits: only Linux has `/proc` to ask. A heartbeat written on another machine or boot, in
//! another pid namespace (a container), by an older birdbridge, or read where `/proc` is not
//! there or hides other users' processes (`hidepid`) is judged by its age alone, as before.
//! The systemd unit's `ProtectProc=invisible` only narrows the daemon's own view, and the
//! daemon reads only its own entry.

use chrono::{DateTime, Duration, Utc};

use crate::store::{Heartbeat, Ledger, StoreError};

/// How often the daemon says it is alive (a durable write: rare, for an idle daemon's sake).
pub const HEARTBEAT: Duration = Duration::seconds(60);
/// A heartbeat older than this means no daemon runs.
pub const HEARTBEAT_STALE: Duration = Duration::seconds(150);

/// The heartbeat this process writes.
pub fn this_process() -> Heartbeat {
    let pid = std::process::id();
    Heartbeat {
        pid,
        host: this_host(),
        started: start_time(pid),
    }
}

/// The pid of the daemon running on the ledger: its heartbeat is fresh and, where this
/// machine can tell, its process still runs.
///
/// # Errors
/// Ledger failures.
pub fn running_daemon(ledger: &Ledger, now: DateTime<Utc>) -> Result<Option<u32>, StoreError> {
    Ok(ledger
        .live_daemon(now - HEARTBEAT_STALE)?
        .filter(|beat| !is_gone(beat))
        .map(|beat| beat.pid))
}

/// Whether the process that wrote `beat` certainly no longer runs.
fn is_gone(beat: &Heartbeat) -> bool {
    let (Some(host), Some(here)) = (&beat.host, this_host()) else {
        return false;
    };
    if *host != here {
        return false;
    }
    let listed = |pid: u32| std::path::Path::new(&format!("/proc/{pid}")).exists();
    if !listed(beat.pid) {
        // A `/proc` mounted with `hidepid` hides other users' processes: a missing entry
        // means "gone" only where init's entry can be seen.
        return listed(1);
    }
    match (beat.started, start_time(beat.pid)) {
        (Some(then), Some(now)) => then != now,
        _ => false,
    }
}

/// This machine, boot and pid namespace, as one string; `None` without `/proc`.
fn this_host() -> Option<String> {
    let read = |path: &str| {
        std::fs::read_to_string(path)
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
    };
    let hostname = read("/proc/sys/kernel/hostname")?;
    let boot = read("/proc/sys/kernel/random/boot_id")?;
    let namespace = std::fs::read_link("/proc/self/ns/pid").ok()?;
    Some(format!("{hostname} {boot} {}", namespace.display()))
}

/// When process `pid` started, in clock ticks since boot.
fn start_time(pid: u32) -> Option<u64> {
    parse_start_time(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?)
}

/// Field 22 (`starttime`) of a `/proc/<pid>/stat` line. The second field, the command name,
/// is in parentheses and may hold spaces and parentheses itself, so fields are counted after
/// the last `)`.
fn parse_start_time(stat: &str) -> Option<u64> {
    let (_, rest) = stat.rsplit_once(')')?;
    // `rest` starts with field 3 (the state); field 22 is the 20th after the name.
    rest.split_whitespace().nth(19)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_time_is_read_after_the_command_name() {
        let stat = "4242 (a (b) c) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 \
                    987654 1000000 200 18446744073709551615";
        assert_eq!(parse_start_time(stat), Some(987_654));
        assert_eq!(parse_start_time("4242 (x) S 1"), None);
    }

    #[test]
    fn this_process_runs_and_a_reused_pid_does_not() {
        let me = this_process();
        if me.host.is_none() {
            // Not Linux: only the age rule applies.
            return;
        }
        assert!(me.started.is_some());
        assert!(!is_gone(&me));
        let reused = Heartbeat {
            started: me.started.map(|s| s + 1),
            ..me.clone()
        };
        assert!(is_gone(&reused));
        let elsewhere = Heartbeat {
            host: Some("another machine".into()),
            ..reused
        };
        assert!(!is_gone(&elsewhere), "another machine: the age rule");
        let older = Heartbeat {
            host: None,
            pid: u32::MAX,
            started: None,
        };
        assert!(
            !is_gone(&older),
            "an older birdbridge's heartbeat: the age rule"
        );
    }
}
