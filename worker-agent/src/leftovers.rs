//! Cleaning up after a previous run of this agent that did not end well
//! (SIGKILL, a crash, a power cut), before registering: nothing of its tasks
//! may still run when the coordinator is told they are dead.
//!
//! Normally there is nothing to do: a supervisor kills its task as soon as
//! the agent dies. What can be left is a supervisor still busy killing, or,
//! when a supervisor itself was killed, its task's processes. The records
//! in the state folder name each attempt's supervisor (checked by its start
//! time, so a reused pid is not mistaken for it) and cgroup; every cgroup
//! under the agent's own folder is killed as well, recorded or not.

use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::isolation::Isolation;
use crate::statedir::Record;
use crate::supervisor::SUPERVISE;
use crate::{cgroup, proctree};

/// How long killing a leftover tree may be retried.
const PATIENCE: Duration = Duration::from_secs(10);

/// What a sweep found and removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Swept {
    /// Attempts recorded as running.
    pub(crate) attempts: usize,
    /// Processes killed (supervisors and what they held).
    pub(crate) processes: usize,
    /// Task cgroups removed.
    pub(crate) cgroups: usize,
}

/// Kills and removes whatever a previous run of this agent left behind.
pub(crate) fn sweep(isolation: &Isolation) -> Swept {
    let mut swept = Swept::default();
    for record in isolation.state.take_records() {
        swept.attempts += 1;
        swept.processes += kill_supervisor(&record);
        if let Some(dir) = record.cgroup.as_deref().filter(|dir| dir.exists()) {
            swept.processes += usize::from(cgroup::populated(dir));
            match cgroup::kill_and_remove(dir) {
                Ok(()) => swept.cgroups += 1,
                Err(error) => {
                    tracing::warn!(cgroup = %dir.display(), %error, "failed to remove a leftover cgroup");
                }
            }
        }
    }
    if let Some(cgroups) = &isolation.cgroups {
        for dir in cgroups.existing() {
            swept.processes += usize::from(cgroup::populated(&dir));
            match cgroup::kill_and_remove(&dir) {
                Ok(()) => swept.cgroups += 1,
                Err(error) => {
                    tracing::warn!(cgroup = %dir.display(), %error, "failed to remove a leftover cgroup");
                }
            }
        }
    }
    if !isolation.keep_work_dirs {
        for dir in isolation.state.work_dirs() {
            if let Err(error) = std::fs::remove_dir_all(&dir) {
                tracing::warn!(dir = %dir.display(), %error, "failed to remove a leftover working directory");
            }
        }
    }
    swept
}

/// Kills a recorded supervisor that still runs, and every process below
/// it; answers how many processes were signalled.
fn kill_supervisor(record: &Record) -> usize {
    let pid = record.supervisor_pid;
    let ours = |pid: i32| {
        proctree::stat(pid)
            .is_some_and(|stat| !stat.zombie && stat.start_time == record.supervisor_start)
            && proctree::cmdline(pid).contains(SUPERVISE)
    };
    if !ours(pid) {
        return 0;
    }
    let mut killed = 0;
    let deadline = Instant::now() + PATIENCE;
    // Below it first, then itself: while it lives, what it held stays its
    // children and in sight.
    loop {
        let below = proctree::descendants(pid);
        if below.is_empty() || Instant::now() >= deadline {
            break;
        }
        killed = killed.max(proctree::signal_each(&below, Signal::SIGKILL));
        std::thread::sleep(Duration::from_millis(20));
    }
    killed + usize::from(proctree::send(pid, Signal::SIGKILL))
}
