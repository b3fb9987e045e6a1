//! The agent's state folder:
//!
//! - `records/`: one file per attempt running now (its supervisor and
//!   cgroup), so that an agent starting after a crash finds and kills what
//!   the previous one left behind;
//! - `work/`: each attempt's fresh working directory, owned by the user the
//!   task runs as;
//! - `worker`: the id the agent last registered as (for people reading it);
//! - `instance-key`: a secret made once, presented at every registration,
//!   by which the coordinator knows a registration comes from the same agent
//!   as earlier ones (whose processes it then knows to be dead);
//! - `lock`: held by the running agent, so that two agents never share a
//!   folder (and kill each other's tasks as leftovers).
//!
//! The folder is `0711`: a task's user may pass through to its own working
//! directory but list nothing; `records/`, `instance-key` and `lock` are the
//! agent's alone.

use std::fs::{self, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use nix::fcntl::{Flock, FlockArg};
use nix::unistd::Uid;
use serde::{Deserialize, Serialize};
use switchyard_protocol::WorkerId;

use crate::identity::TaskUser;

/// The agent's state folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StateDir {
    root: PathBuf,
}

/// What the agent notes about an attempt while it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Record {
    /// The attempt's supervisor, and when it started (ticks after boot),
    /// so a later process that reuses the pid is not mistaken for it.
    pub(crate) supervisor_pid: i32,
    pub(crate) supervisor_start: u64,
    pub(crate) cgroup: Option<PathBuf>,
}

impl StateDir {
    /// Opens (creating it if need be) the folder `configured`, or the
    /// default one for this user.
    pub(crate) fn open(configured: Option<&Path>) -> anyhow::Result<Self> {
        let root = match configured {
            Some(path) => path.to_owned(),
            None => default_root()?,
        };
        fs::create_dir_all(&root)
            .with_context(|| format!("failed to create the state folder {}", root.display()))?;
        let root = root
            .canonicalize()
            .with_context(|| format!("failed to resolve the state folder {}", root.display()))?;
        let dir = Self { root };
        dir.make(&dir.root, 0o711)?;
        dir.make(&dir.work(), 0o711)?;
        dir.make(&dir.records(), 0o700)?;
        Ok(dir)
    }

    /// Creates `path` if missing and sets its mode, which must be ours to set.
    fn make(&self, path: &Path, mode: u32) -> anyhow::Result<()> {
        match fs::create_dir(path) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            Err(e) => {
                return Err(e).with_context(|| format!("failed to create {}", path.display()));
            }
        }
        let meta =
            fs::metadata(path).with_context(|| format!("failed to read {}", path.display()))?;
        if meta.uid() != Uid::effective().as_raw() {
            bail!(
                "{} belongs to uid {}, not to the agent's user: choose a state folder of the agent's own",
                path.display(),
                meta.uid()
            );
        }
        fs::set_permissions(path, Permissions::from_mode(mode))
            .with_context(|| format!("failed to set the mode of {}", path.display()))
    }

    /// The folder itself.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// Where attempts' working directories live.
    pub(crate) fn work(&self) -> PathBuf {
        self.root.join("work")
    }

    fn records(&self) -> PathBuf {
        self.root.join("records")
    }

    fn record_path(&self, task: i64, attempt: i32) -> PathBuf {
        self.records().join(format!("{task}-{attempt}.json"))
    }

    /// Notes a running attempt.
    pub(crate) fn write_record(&self, task: i64, attempt: i32, record: &Record) -> io::Result<()> {
        let bytes = serde_json::to_vec(record).map_err(io::Error::other)?;
        fs::write(self.record_path(task, attempt), bytes)
    }

    /// Forgets an attempt that ended.
    pub(crate) fn remove_record(&self, task: i64, attempt: i32) {
        fs::remove_file(self.record_path(task, attempt)).ok();
    }

    /// Every attempt noted and not forgotten: after a crash, the ones that
    /// were running. Unreadable files are removed and skipped.
    pub(crate) fn take_records(&self) -> Vec<Record> {
        let Ok(entries) = fs::read_dir(self.records()) else {
            return Vec::new();
        };
        let mut records = Vec::new();
        for entry in entries.flatten() {
            let path = entry.path();
            if let Ok(bytes) = fs::read(&path)
                && let Ok(record) = serde_json::from_slice(&bytes)
            {
                records.push(record);
            }
            fs::remove_file(&path).ok();
        }
        records
    }

    /// Takes the folder for this agent alone, for as long as the answer is
    /// kept; fails when another agent holds it.
    pub(crate) fn lock(&self) -> anyhow::Result<Flock<fs::File>> {
        let path = self.root.join("lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("failed to open {}", path.display()))?;
        Flock::lock(file, FlockArg::LockExclusiveNonblock).map_err(|(_, errno)| {
            anyhow::anyhow!(
                "the state folder {} is in use by another agent ({errno}): give each agent a \
                 --state-dir of its own",
                self.root.display()
            )
        })
    }

    /// This agent's instance key: read, or made (256 random bits, hex) on
    /// first use and kept readable by the agent alone.
    pub(crate) fn instance_key(&self) -> anyhow::Result<String> {
        let path = self.root.join("instance-key");
        if let Ok(text) = fs::read_to_string(&path) {
            let key = text.trim();
            if key.len() == 64 && key.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Ok(key.to_owned());
            }
        }
        let mut bytes = [0u8; 32];
        fs::File::open("/dev/urandom")
            .and_then(|mut random| random.read_exact(&mut bytes))
            .context("failed to read random bytes for the instance key")?;
        let key: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
        let mut file = fs::OpenOptions::new()
            .create(true)
            .truncate(true)
            .write(true)
            .mode(0o600)
            .open(&path)
            .with_context(|| format!("failed to write {}", path.display()))?;
        writeln!(file, "{key}").with_context(|| format!("failed to write {}", path.display()))?;
        Ok(key)
    }

    /// Notes the worker this agent registered as.
    pub(crate) fn set_worker(&self, id: WorkerId) -> io::Result<()> {
        fs::write(self.root.join("worker"), format!("{}\n", id.0))
    }

    /// Makes a fresh, empty working directory for an attempt, owned by
    /// `user` and closed to everyone else. One left by an earlier crash is
    /// removed first.
    pub(crate) fn make_work_dir(
        &self,
        task: i64,
        attempt: i32,
        user: &TaskUser,
    ) -> io::Result<PathBuf> {
        let dir = self.work().join(format!("{task}-{attempt}"));
        if dir.exists() {
            fs::remove_dir_all(&dir)?;
        }
        fs::create_dir(&dir)?;
        fs::set_permissions(&dir, Permissions::from_mode(0o700))?;
        if Uid::effective().as_raw() != user.uid {
            nix::unistd::chown(
                &dir,
                Some(nix::unistd::Uid::from_raw(user.uid)),
                Some(nix::unistd::Gid::from_raw(user.gid)),
            )?;
        }
        Ok(dir)
    }

    /// Working directories left in `work/` (all of them, at start-up).
    pub(crate) fn work_dirs(&self) -> Vec<PathBuf> {
        fs::read_dir(self.work())
            .map(|entries| entries.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    }

    /// Checks that `user` can reach its working directories: every folder
    /// above `work/` must let it pass.
    pub(crate) fn check_reachable_by(&self, user: &TaskUser) -> anyhow::Result<()> {
        let work = self.work();
        for dir in work.ancestors() {
            let meta =
                fs::metadata(dir).with_context(|| format!("failed to read {}", dir.display()))?;
            let mode = meta.mode();
            let passes = if meta.uid() == user.uid {
                mode & 0o100 != 0
            } else if user.groups.contains(&meta.gid()) {
                mode & 0o010 != 0
            } else {
                mode & 0o001 != 0
            };
            if !passes {
                bail!(
                    "tasks run as `{}` cannot reach their working directories in {}: {} is mode {:o}; \
                     choose a --state-dir below folders that others may pass through (mode o+x)",
                    user.name,
                    work.display(),
                    dir.display(),
                    mode & 0o7777
                );
            }
        }
        Ok(())
    }
}

/// `/var/lib/switchyard-agent` for root; `$XDG_STATE_HOME/switchyard-agent`
/// or `~/.local/state/switchyard-agent` for anyone else.
fn default_root() -> anyhow::Result<PathBuf> {
    if Uid::effective().is_root() {
        return Ok(PathBuf::from("/var/lib/switchyard-agent"));
    }
    if let Some(state) = std::env::var_os("XDG_STATE_HOME").filter(|s| !s.is_empty()) {
        return Ok(PathBuf::from(state).join("switchyard-agent"));
    }
    let Some(home) = std::env::var_os("HOME").filter(|s| !s.is_empty()) else {
        bail!("no state folder: set --state-dir (neither XDG_STATE_HOME nor HOME is set)");
    };
    Ok(PathBuf::from(home).join(".local/state/switchyard-agent"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn records_are_kept_until_taken() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = StateDir::open(Some(&tmp.path().join("state"))).unwrap();
        let record = Record {
            supervisor_pid: 10,
            supervisor_start: 20,
            cgroup: None,
        };
        dir.write_record(1, 1, &record).unwrap();
        dir.write_record(2, 1, &record).unwrap();
        dir.remove_record(2, 1);
        assert_eq!(dir.take_records(), vec![record]);
        assert!(dir.take_records().is_empty());
        let key = dir.instance_key().unwrap();
        assert_eq!(key.len(), 64);
        assert_eq!(dir.instance_key().unwrap(), key, "the key is kept");
        let held = dir.lock().unwrap();
        let error = dir.lock().unwrap_err().to_string();
        assert!(error.contains("in use by another agent"), "{error}");
        drop(held);
        assert!(dir.lock().is_ok());
        let mode = fs::metadata(dir.root()).unwrap().mode() & 0o777;
        assert_eq!(mode, 0o711);
    }
}
