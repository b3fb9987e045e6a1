//! A cgroup (v2) per task: every process a task starts stays in its cgroup
//! whatever it does (`setsid`, double forks, daemons), so killing the
//! cgroup kills the whole task and nothing else, and a cgroup left behind by
//! a crash names exactly the processes to kill.
//!
//! The agent's tasks live under one folder of its own next to it in the
//! hierarchy, `<the agent's cgroup>/switchyard-<instance>/task-<id>-<attempt>`,
//! where `<instance>` is derived from the agent's state folder, so two
//! agents on one machine never touch each other's tasks. It needs the
//! agent's cgroup to be writable (root on a host without systemd, or a
//! systemd unit with `Delegate=yes`).

use std::io;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use crate::proctree;

/// How long removing an emptied cgroup may be retried: the kernel may
/// report it busy for a moment after its last process is reaped.
const REMOVE_PATIENCE: Duration = Duration::from_secs(5);

/// The folder under which this agent's task cgroups live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cgroups {
    root: PathBuf,
}

/// Why cgroups cannot be used here.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Unavailable {
    #[error("no cgroup v2 hierarchy is mounted")]
    NoHierarchy,
    #[error("this process's cgroup v2 path is unknown (/proc/self/cgroup has no `0::` line)")]
    NoPath,
    #[error("cannot create {path}: {source} (run as root, or under systemd with Delegate=yes)")]
    NotWritable { path: PathBuf, source: io::Error },
}

impl Cgroups {
    /// The folder for the agent whose state lives in `state_dir`, created if
    /// need be; an error when this machine or this process cannot have one.
    pub(crate) fn discover(state_dir: &Path) -> Result<Self, Unavailable> {
        let mount = cgroup2_mount().ok_or(Unavailable::NoHierarchy)?;
        let own = own_cgroup().ok_or(Unavailable::NoPath)?;
        let base = mount.join(own.trim_start_matches('/'));
        let root = base.join(format!("switchyard-{}", instance(state_dir)));
        match std::fs::create_dir(&root) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(source) => return Err(Unavailable::NotWritable { path: root, source }),
        }
        Ok(Self { root })
    }

    /// The cgroup of one attempt (not created yet).
    pub(crate) fn for_attempt(&self, task: i64, attempt: i32) -> PathBuf {
        self.root.join(format!("task-{task}-{attempt}"))
    }

    /// Where this agent's task cgroups live.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// Removes the agent's folder when no task cgroup is left in it (at
    /// the agent's end).
    pub(crate) fn remove_root(&self) {
        std::fs::remove_dir(&self.root).ok();
    }

    /// Task cgroups that exist now (after a crash: the ones left behind).
    pub(crate) fn existing(&self) -> Vec<PathBuf> {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return Vec::new();
        };
        entries
            .flatten()
            .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
            .map(|entry| entry.path())
            .collect()
    }
}

/// A short, stable name for the agent whose state lives in `state_dir`
/// (FNV-1a of the path, stable across builds).
fn instance(state_dir: &Path) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in state_dir.as_os_str().as_encoded_bytes() {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// Where the cgroup v2 hierarchy is mounted, from `/proc/self/mountinfo`.
fn cgroup2_mount() -> Option<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    text.lines().find_map(|line| {
        // `id parent major:minor root mount-point options... - fstype source super-options`
        let (before, after) = line.split_once(" - ")?;
        (after.split_whitespace().next()? == "cgroup2")
            .then(|| before.split_whitespace().nth(4).map(PathBuf::from))
            .flatten()
    })
}

/// This process's path in the v2 hierarchy, from `/proc/self/cgroup`.
fn own_cgroup() -> Option<String> {
    let text = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix("0::").map(str::to_owned))
}

/// Creates the cgroup `dir` (a task's); an existing one is reused.
pub(crate) fn create(dir: &Path) -> io::Result<()> {
    match std::fs::create_dir(dir) {
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(()),
        other => other,
    }
}

/// Moves the calling process into the cgroup `dir`; its children are born there.
pub(crate) fn join(dir: &Path) -> io::Result<()> {
    std::fs::write(dir.join("cgroup.procs"), "0")
}

/// The processes in cgroup `dir` now.
fn members(dir: &Path) -> Vec<i32> {
    std::fs::read_to_string(dir.join("cgroup.procs"))
        .map(|text| text.lines().filter_map(|l| l.trim().parse().ok()).collect())
        .unwrap_or_default()
}

/// Sends `signal` to every process in cgroup `dir`; answers how many.
pub(crate) fn signal(dir: &Path, signal: Signal) -> usize {
    proctree::signal_each(&members(dir), signal)
}

/// SIGKILLs every process in cgroup `dir` at once (`cgroup.kill`, Linux
/// 5.14+), or one by one on older kernels.
pub(crate) fn kill(dir: &Path) {
    if std::fs::write(dir.join("cgroup.kill"), "1").is_err() {
        signal(dir, Signal::SIGKILL);
    }
}

/// Whether any process is left in cgroup `dir` (or below it).
pub(crate) fn populated(dir: &Path) -> bool {
    match std::fs::read_to_string(dir.join("cgroup.events")) {
        Ok(events) => events.lines().any(|line| line.trim() == "populated 1"),
        Err(_) => !members(dir).is_empty(),
    }
}

/// Kills what is left in cgroup `dir` and removes it, waiting a bounded
/// time for the kernel to let go of it. An error names what stayed.
pub(crate) fn kill_and_remove(dir: &Path) -> io::Result<()> {
    let deadline = Instant::now() + REMOVE_PATIENCE;
    loop {
        if populated(dir) {
            kill(dir);
        }
        // A task may have made cgroups of its own inside (if it could).
        if let Ok(entries) = std::fs::read_dir(dir) {
            for entry in entries.flatten() {
                if entry.file_type().is_ok_and(|t| t.is_dir()) {
                    kill_and_remove(&entry.path()).ok();
                }
            }
        }
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(e) if Instant::now() >= deadline => return Err(e),
            Err(_) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn instance_names_are_stable_and_distinct() {
        let a = instance(Path::new("/var/lib/switchyard-agent"));
        assert_eq!(a, instance(Path::new("/var/lib/switchyard-agent")));
        assert_ne!(a, instance(Path::new("/var/lib/switchyard-agent-2")));
        assert_eq!(a.len(), 16);
    }
}
