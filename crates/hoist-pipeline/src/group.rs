//! The process groups of step commands. A step's shell runs as the leader of a group of its
//! own, so that everything it started can be signalled at once: when the step's work is dropped
//! (Ctrl+C, SIGTERM) the whole group is killed, not just the shell. A hoist that is SIGKILLed
//! cannot do that, so the group's id and its leader's start time are recorded in the history
//! while the command runs, and the next run that takes over the deploy lock kills a recorded
//! group that is still alive.

use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal, kill_process_group, test_kill_process_group};

/// A running step command's group, as the history records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Group {
    /// The group's id: its leader's pid.
    pub pgid: i32,
    /// The leader's start time (clock ticks after boot, `/proc/PID/stat` field 22), which tells
    /// a pid reused by an unrelated process from the leader.
    pub started: u64,
}

impl Group {
    /// The group led by the just-spawned process `pid`.
    pub fn of_leader(pid: u32) -> Option<Group> {
        let pgid = i32::try_from(pid).ok()?;
        Some(Group {
            pgid,
            started: start_time(pgid)?,
        })
    }
}

/// What to do about a recorded group, given what `/proc` says about its id now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Signal the group: its leader is the recorded process, or the leader is gone (Linux does
    /// not hand out a pid while a group of that id has members, so members are still ours).
    Kill,
    /// Leave it: the id is not a group hoist may signal (init, hoist's own group, a pid reused
    /// by another process).
    Leave,
}

/// Whether a recorded group may be killed: `leader_started` is the start time of the process
/// that has the group's id now (`None` when there is none), `own_pgid` hoist's own group.
pub fn verdict(recorded: Group, leader_started: Option<u64>, own_pgid: i32) -> Verdict {
    // The record comes from a file: 0, 1 and negative ids would signal far more than a step.
    if recorded.pgid <= 1 || recorded.pgid == own_pgid {
        return Verdict::Leave;
    }
    match leader_started {
        Some(started) if started != recorded.started => Verdict::Leave,
        _ => Verdict::Kill,
    }
}

/// The start time of process `pid`, from `/proc/PID/stat` (`None` when there is no such
/// process).
pub fn start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// hoist's own process group.
fn own_pgid() -> i32 {
    rustix::process::getpgrp().as_raw_nonzero().get()
}

/// SIGKILLs group `pgid`; a group that no longer exists is fine.
pub fn kill(pgid: i32) {
    if pgid <= 1 || pgid == own_pgid() {
        return;
    }
    if let Some(pid) = Pid::from_raw(pgid) {
        let _ = kill_process_group(pid, Signal::KILL);
    }
}

/// Kills a recorded group that is still ours and waits (up to `patience`) until it is gone.
/// Returns whether one was killed.
pub fn reap(recorded: Group, patience: Duration) -> bool {
    if verdict(recorded, start_time(recorded.pgid), own_pgid()) == Verdict::Leave {
        return false;
    }
    let Some(pid) = Pid::from_raw(recorded.pgid) else {
        return false;
    };
    if test_kill_process_group(pid).is_err() {
        return false;
    }
    kill(recorded.pgid);
    let deadline = Instant::now() + patience;
    while test_kill_process_group(pid).is_ok() && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Kills the group when dropped: a step whose work is dropped midway leaves nothing running.
#[derive(Debug)]
pub struct KillOnDrop {
    pgid: Option<i32>,
}

impl KillOnDrop {
    pub fn new(pgid: i32) -> KillOnDrop {
        KillOnDrop { pgid: Some(pgid) }
    }

    /// The command ended by itself: nothing to kill.
    pub fn disarm(&mut self) {
        self.pgid = None;
    }
}

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pgid) = self.pgid {
            kill(pgid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const REC: Group = Group {
        pgid: 4242,
        started: 777,
    };

    #[test]
    fn the_recorded_leader_or_no_leader_is_killed() {
        assert_eq!(verdict(REC, Some(777), 10), Verdict::Kill);
        assert_eq!(verdict(REC, None, 10), Verdict::Kill);
    }

    #[test]
    fn a_reused_pid_init_and_our_own_group_are_left_alone() {
        assert_eq!(verdict(REC, Some(778), 10), Verdict::Leave);
        for pgid in [-5, 0, 1] {
            let g = Group { pgid, ..REC };
            assert_eq!(verdict(g, None, 10), Verdict::Leave, "{pgid}");
        }
        assert_eq!(verdict(REC, Some(777), 4242), Verdict::Leave);
    }

    #[test]
    fn our_own_start_time_is_read_from_proc() {
        let me = std::process::id() as i32;
        let first = start_time(me).unwrap();
        assert_eq!(start_time(me), Some(first));
        assert!(start_time(i32::MAX).is_none());
    }
}
