//! A private PostgreSQL cluster started from the machine's own server binaries.
//!
//! `coordinator dev` keeps one in a data folder between runs, so a developer
//! needs no database set-up; the test support starts a throw-away one per
//! test process, so tests never depend on a server someone else runs.
//!
//! The cluster listens on 127.0.0.1 only, at a free port, with `trust`
//! authentication for the superuser `postgres`. When we run as root it runs
//! as the `postgres` OS user, because PostgreSQL refuses to run as root.
//! Starting and stopping run the server's tools to completion, so they block
//! for a second or two: call them before, or outside, async code.

mod binaries;
mod error;
mod layout;
mod sql;
mod watchdog;

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub use error::DevDbError;
pub use sql::{
    clone_database_at, create_database_at, database_url, drop_database_at, ensure_database_at,
    validate_database_name,
};

use binaries::{PgBinaries, RunAs, tail, version_matches};
use layout::{Kind, free_port, postmaster_port, reject_unsupported_path};
use watchdog::Watchdog;

/// Ports tried before giving up when another process takes the free port
/// between our check and PostgreSQL's bind.
const PORT_ATTEMPTS: u32 = 5;

/// A PostgreSQL cluster this process started (or found still running from an
/// earlier run) and stops when dropped.
#[derive(Debug)]
pub struct PgCluster {
    binaries: PgBinaries,
    run_as: RunAs,
    data_dir: PathBuf,
    log_file: PathBuf,
    port: u16,
    running: bool,
    /// For a throw-away cluster: its folder and the guard that removes it.
    ephemeral: Option<Ephemeral>,
}

#[derive(Debug)]
struct Ephemeral {
    dir: tempfile::TempDir,
    watchdog: Watchdog,
}

impl PgCluster {
    /// Starts the cluster in `data_dir`, creating it first if the folder is
    /// empty or missing. If a server from an earlier run is still running on
    /// the folder, it is adopted rather than started twice.
    ///
    /// Socket and log live next to the data folder: `<name>-run/` and `<name>.log`.
    pub fn start(data_dir: &Path) -> Result<Self, DevDbError> {
        let binaries = PgBinaries::find()?;
        let run_as = RunAs::detect()?;
        std::fs::create_dir_all(data_dir).map_err(DevDbError::io("create", data_dir))?;
        let data_dir = data_dir
            .canonicalize()
            .map_err(DevDbError::io("resolve", data_dir))?;
        let mut cluster = Self::prepare(binaries, run_as, data_dir, None, Kind::Durable)?;
        if let Some(port) = cluster.running_port()? {
            tracing::info!(port, data_dir = %cluster.data_dir.display(), "reusing running PostgreSQL");
            cluster.port = port;
            cluster.running = true;
            return Ok(cluster);
        }
        cluster.launch(Kind::Durable)?;
        Ok(cluster)
    }

    /// Starts a throw-away cluster in a fresh temporary folder, tuned for
    /// speed over durability, with room for many parallel connections. The
    /// folder is removed on [`stop`](Self::stop) or drop, and by a guard
    /// process if this process dies first.
    pub fn start_ephemeral() -> Result<Self, DevDbError> {
        let binaries = PgBinaries::find()?;
        let run_as = RunAs::detect()?;
        let dir = tempfile::Builder::new()
            .prefix("switchyard-pg-")
            .tempdir()
            .map_err(DevDbError::io(
                "create a temporary folder in",
                std::env::temp_dir(),
            ))?;
        let data_dir = dir.path().join("data");
        std::fs::create_dir(&data_dir).map_err(DevDbError::io("create", &data_dir))?;
        let watchdog = Watchdog::spawn(&data_dir, dir.path())?;
        let ephemeral = Ephemeral { dir, watchdog };
        let mut cluster =
            Self::prepare(binaries, run_as, data_dir, Some(ephemeral), Kind::Throwaway)?;
        cluster.launch(Kind::Throwaway)?;
        Ok(cluster)
    }

    /// The TCP port the server listens on (at 127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of `database` as the superuser: `postgres://postgres@127.0.0.1:PORT/DATABASE`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// The data folder.
    pub fn data_dir(&self) -> &Path {
        &self.data_dir
    }

    /// The server's log file, the first place to look when something is wrong.
    pub fn log_file(&self) -> &Path {
        &self.log_file
    }

    /// Creates database `name` (`[a-z0-9_]`, at most 63 characters) unless it
    /// already exists.
    pub async fn create_database(&self, name: &str) -> Result<(), DevDbError> {
        create_database_at(&self.url("postgres"), name).await
    }

    /// Stops the server (`pg_ctl stop -m fast`; a throw-away one is stopped
    /// immediately and its folder removed). Stopping twice is fine.
    pub fn stop(&mut self) -> Result<(), DevDbError> {
        let throwaway_dir = self.ephemeral.take().map(|e| {
            e.watchdog.disarm();
            e.dir
        });
        let mode = if throwaway_dir.is_some() {
            "immediate"
        } else {
            "fast"
        };
        if self.running {
            let (command, output) = self.pg_ctl_stop(mode)?;
            // pg_ctl fails when the server is already gone: that is success here.
            if !output.status.success() && self.running_port()?.is_some() {
                return Err(binaries::command_error(&command, &output));
            }
            self.running = false;
        }
        if let Some(dir) = throwaway_dir {
            let path = dir.path().to_owned();
            dir.close().map_err(DevDbError::io("remove", path))?;
        }
        Ok(())
    }

    /// Stops the server and keeps its data and port, for [`Self::resume`]:
    /// a database outage, for tests of what rides it out. A fast shutdown:
    /// open connections are ended as an administrator's command ends them.
    pub fn halt(&mut self) -> Result<(), DevDbError> {
        let (command, output) = self.pg_ctl_stop("fast")?;
        if !output.status.success() {
            return Err(binaries::command_error(&command, &output));
        }
        self.running = false;
        Ok(())
    }

    /// Starts a [halted](Self::halt) server again, on the port it had.
    pub fn resume(&mut self) -> Result<(), DevDbError> {
        let kind = if self.ephemeral.is_some() {
            Kind::Throwaway
        } else {
            Kind::Durable
        };
        let (command, output) = self.pg_ctl_start(self.port, kind)?;
        if !output.status.success() {
            return Err(binaries::command_error(&command, &output));
        }
        self.running = true;
        Ok(())
    }

    /// Runs `pg_ctl stop` in `mode`, waiting up to a minute; the command and
    /// what it printed, for the caller to judge.
    fn pg_ctl_stop(&self, mode: &str) -> Result<(Command, Output), DevDbError> {
        let mut command = self.run_as.command(self.binaries.pg_ctl());
        command
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-m", mode, "-w", "-t", "60", "stop"]);
        let output = command
            .output()
            .map_err(DevDbError::io("run", self.binaries.pg_ctl()))?;
        Ok((command, output))
    }

    /// Runs `pg_ctl start` of the server on `port`, logging to the log
    /// file, waiting up to a minute; the command and what it printed.
    fn pg_ctl_start(&self, port: u16, kind: Kind) -> Result<(Command, Output), DevDbError> {
        let mut command = self.run_as.command(self.binaries.pg_ctl());
        command
            .arg("-D")
            .arg(&self.data_dir)
            .arg("-l")
            .arg(&self.log_file)
            .args(["-w", "-t", "60", "-o"])
            .arg(layout::server_options(
                port,
                self.socket_dir().as_deref(),
                kind,
            ))
            .arg("start");
        let output = command
            .output()
            .map_err(DevDbError::io("run", self.binaries.pg_ctl()))?;
        Ok((command, output))
    }

    /// Checks the folder, readies it, the socket folder and the log file for
    /// the server's user, and creates the cluster if the folder is empty.
    fn prepare(
        binaries: PgBinaries,
        run_as: RunAs,
        data_dir: PathBuf,
        ephemeral: Option<Ephemeral>,
        kind: Kind,
    ) -> Result<Self, DevDbError> {
        reject_unsupported_path(&data_dir)?;
        let name = data_dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .ok_or_else(|| DevDbError::NotADataDir {
                path: data_dir.clone(),
            })?;
        let parent = data_dir.parent().unwrap_or(Path::new("/")).to_owned();
        let cluster = Self {
            log_file: parent.join(format!("{name}.log")),
            binaries,
            run_as,
            port: 0,
            running: false,
            ephemeral,
            data_dir,
        };
        // Before touching ownership: never hand a stranger's folder to postgres.
        let has_cluster = cluster.check_contents()?;
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&cluster.log_file)
            .map_err(DevDbError::io("create", &cluster.log_file))?;
        let socket_dir = cluster.socket_dir();
        if let Some(dir) = &socket_dir {
            std::fs::create_dir_all(dir).map_err(DevDbError::io("create", dir))?;
        }
        if let Some(ephemeral) = &cluster.ephemeral {
            cluster.run_as.own_tree(ephemeral.dir.path())?;
        }
        cluster.run_as.own_tree(&cluster.data_dir)?;
        cluster.run_as.own_tree(&cluster.log_file)?;
        if let Some(dir) = &socket_dir {
            cluster.run_as.own_tree(dir)?;
        }
        cluster.run_as.check_writable(&cluster.data_dir)?;
        if !has_cluster {
            cluster.initdb(kind)?;
        }
        Ok(cluster)
    }

    /// `true` if the folder holds a cluster the binaries can run, `false` if
    /// it is empty; an error if it holds something else or a cluster of
    /// another major version.
    fn check_contents(&self) -> Result<bool, DevDbError> {
        let version_file = self.data_dir.join("PG_VERSION");
        if let Ok(cluster_version) = std::fs::read_to_string(&version_file) {
            let binaries_version = self.binaries.version()?;
            if !version_matches(&cluster_version, &binaries_version) {
                return Err(DevDbError::VersionMismatch {
                    path: self.data_dir.clone(),
                    cluster: cluster_version.trim().to_owned(),
                    binaries: binaries_version,
                });
            }
            return Ok(true);
        }
        let mut entries =
            std::fs::read_dir(&self.data_dir).map_err(DevDbError::io("read", &self.data_dir))?;
        if entries.next().is_some() {
            return Err(DevDbError::NotADataDir {
                path: self.data_dir.clone(),
            });
        }
        Ok(false)
    }

    /// Creates the cluster: UTF-8, C locale, superuser `postgres`, `trust`
    /// for local and loopback connections.
    fn initdb(&self, kind: Kind) -> Result<(), DevDbError> {
        let mut command = self.run_as.command(self.binaries.initdb());
        command
            .arg("-D")
            .arg(&self.data_dir)
            .args(["-U", "postgres", "-E", "UTF8", "--locale=C"])
            .args(["--auth-local=trust", "--auth-host=trust"]);
        if kind == Kind::Throwaway {
            command.arg("--no-sync");
        }
        tracing::info!(data_dir = %self.data_dir.display(), "creating PostgreSQL cluster");
        self.run_as.run(&mut command)?;
        Ok(())
    }

    /// Starts the server on a free port, trying another if someone takes it first.
    fn launch(&mut self, kind: Kind) -> Result<(), DevDbError> {
        for _ in 0..PORT_ATTEMPTS {
            let port = free_port()?;
            let log_start = std::fs::metadata(&self.log_file).map_or(0, |m| m.len());
            let (_, output) = self.pg_ctl_start(port, kind)?;
            if output.status.success() {
                self.port = port;
                self.running = true;
                tracing::info!(port, data_dir = %self.data_dir.display(), "PostgreSQL started");
                return Ok(());
            }
            let log = self.read_log_from(log_start);
            if log.contains("Address already in use") {
                continue;
            }
            let mut tail_text = tail(&log, 30);
            if tail_text.is_empty() {
                tail_text = tail(&String::from_utf8_lossy(&output.stderr), 30);
            }
            return Err(DevDbError::StartFailed {
                status: output.status,
                log: self.log_file.clone(),
                tail: tail_text,
            });
        }
        Err(DevDbError::NoFreePort {
            attempts: PORT_ATTEMPTS,
            log: self.log_file.clone(),
        })
    }

    /// `<parent>/<name>-run` when that suits a Unix socket.
    fn socket_dir(&self) -> Option<PathBuf> {
        layout::socket_dir(&self.data_dir)
    }

    /// The port of a server already running on the data folder, if any.
    fn running_port(&self) -> Result<Option<u16>, DevDbError> {
        let mut command = self.run_as.command(self.binaries.pg_ctl());
        command.arg("-D").arg(&self.data_dir).arg("status");
        let output = command
            .output()
            .map_err(DevDbError::io("run", self.binaries.pg_ctl()))?;
        if !output.status.success() {
            return Ok(None);
        }
        let pid_file = self.data_dir.join("postmaster.pid");
        let text = std::fs::read_to_string(&pid_file).map_err(DevDbError::io("read", &pid_file))?;
        Ok(postmaster_port(&text))
    }

    /// What the server logged since byte `start`.
    fn read_log_from(&self, start: u64) -> String {
        let mut text = String::new();
        if let Ok(mut file) = std::fs::File::open(&self.log_file)
            && file.seek(SeekFrom::Start(start)).is_ok()
        {
            let mut bytes = Vec::new();
            let _ = file.read_to_end(&mut bytes);
            text = String::from_utf8_lossy(&bytes).into_owned();
        }
        text
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if let Err(e) = self.stop() {
            tracing::warn!(error = %e, "failed to stop the private PostgreSQL cluster");
        }
    }
}

#[cfg(test)]
mod tests;
