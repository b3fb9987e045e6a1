//! The real `coordinator` and `worker-agent` binaries as child processes,
//! for end-to-end tests.
//!
//! The binaries are not rebuilt by `cargo test`: build them first with
//! `cargo build --bins` (`scripts/test` does), or the tests run stale ones.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;

use crate::app::wait_for_health_with;

/// Lines of output shown when a test fails with a process alive.
const TAIL_LINES: usize = 40;

/// Path of the built binary `name` (`target/debug/<name>`, next to the
/// folder holding this test executable, so `CARGO_TARGET_DIR` is honoured).
/// Panics if it has not been built.
pub fn binary(name: &str) -> PathBuf {
    let path = build_dir().join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "binary {name} not built: run `cargo build --bins` first (scripts/test does); looked for {}",
        path.display()
    );
    path
}

/// `target/<profile>`: the test executable lives in its `deps` folder.
fn build_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("cannot find the test executable's path");
    let mut dir = exe
        .parent()
        .expect("test executable has no folder")
        .to_owned();
    if dir.ends_with("deps") {
        dir.pop();
    }
    dir
}

/// A running child process, killed when dropped. Its stdout and stderr go
/// to files that are kept afterwards (`target/tmp/switchyard-logs/`); if a
/// test fails while the process is held, their last lines are printed.
#[derive(Debug)]
pub struct ChildProcess {
    name: String,
    pid: u32,
    child: tokio::process::Child,
    stdout_path: PathBuf,
    stderr_path: PathBuf,
    /// A folder that lives as long as the process (an agent's state folder).
    _dir: Option<tempfile::TempDir>,
}

/// Starts binary `name` with `args`, output to log files. Must be called
/// inside a tokio runtime.
pub fn spawn_process<S: AsRef<OsStr>>(name: &str, args: &[S]) -> ChildProcess {
    spawn(name, None, args, &[])
}

/// [`spawn_process`], with `env` added to the process's environment.
pub fn spawn_process_with_env<S: AsRef<OsStr>>(
    name: &str,
    args: &[S],
    env: &[(&str, &str)],
) -> ChildProcess {
    spawn(name, None, args, env)
}

fn spawn<S: AsRef<OsStr>>(
    name: &str,
    open_files: Option<u64>,
    args: &[S],
    env: &[(&str, &str)],
) -> ChildProcess {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let program = binary(name);
    let logs = build_dir().join("..").join("tmp").join("switchyard-logs");
    std::fs::create_dir_all(&logs)
        .unwrap_or_else(|e| panic!("failed to create {}: {e}", logs.display()));
    let stem = format!(
        "{name}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    let stdout_path = logs.join(format!("{stem}.stdout"));
    let stderr_path = logs.join(format!("{stem}.stderr"));
    let create = |path: &Path| {
        std::fs::File::create(path)
            .unwrap_or_else(|e| panic!("failed to create {}: {e}", path.display()))
    };
    let mut command = match open_files {
        None => tokio::process::Command::new(&program),
        Some(limit) => {
            // The shell lowers its limits and becomes the program (same pid).
            let mut shell = tokio::process::Command::new("sh");
            shell
                .arg("-c")
                .arg(format!("ulimit -n {limit} && exec \"$0\" \"$@\""))
                .arg(&program);
            shell
        }
    };
    let child = command
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(create(&stdout_path))
        .stderr(create(&stderr_path))
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("failed to start {}: {e}", program.display()));
    let pid = child.id().expect("a just-started child has a pid");
    ChildProcess {
        name: name.to_owned(),
        pid,
        child,
        stdout_path,
        stderr_path,
        _dir: None,
    }
}

impl ChildProcess {
    /// The process id.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Asks the process to shut down gracefully (SIGTERM).
    pub fn sigterm(&self) {
        self.signal(Signal::SIGTERM);
    }

    /// Sends SIGHUP (the coordinator reloads its TLS certificate).
    pub fn sighup(&self) {
        self.signal(Signal::SIGHUP);
    }

    /// Kills the process outright (SIGKILL), as a crash or power loss would.
    pub fn sigkill(&self) {
        self.signal(Signal::SIGKILL);
    }

    /// Sends `signal` (SIGSTOP to freeze it, say); ignores a process already gone.
    pub fn signal(&self, signal: Signal) {
        let pid = Pid::from_raw(i32::try_from(self.pid).expect("pid fits in i32"));
        // ESRCH: already gone, which is what the caller wants anyway.
        if let Err(e) = kill(pid, signal)
            && e != nix::errno::Errno::ESRCH
        {
            panic!(
                "failed to send {signal} to {} ({}): {e}",
                self.name, self.pid
            );
        }
    }

    /// Waits for the process to exit; panics, with its output, after `deadline`.
    pub async fn wait_exit(&mut self, deadline: Duration) -> ExitStatus {
        match tokio::time::timeout(deadline, self.child.wait()).await {
            Ok(Ok(status)) => status,
            Ok(Err(e)) => panic!("failed to wait for {}: {e}", self.name),
            Err(_) => panic!(
                "{} ({}) did not exit within {deadline:?}\n{}",
                self.name,
                self.pid,
                self.output_tail()
            ),
        }
    }

    /// The exit status if the process has exited, without waiting.
    pub fn try_exit(&mut self) -> Option<ExitStatus> {
        self.child
            .try_wait()
            .unwrap_or_else(|e| panic!("failed to check on {}: {e}", self.name))
    }

    /// Everything the process wrote to stdout so far.
    pub fn stdout(&self) -> String {
        std::fs::read_to_string(&self.stdout_path).unwrap_or_default()
    }

    /// Everything the process wrote to stderr so far (where logs go).
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(&self.stderr_path).unwrap_or_default()
    }

    /// The last lines of stderr and stdout, with the files' paths.
    pub fn output_tail(&self) -> String {
        let tail = |text: String| {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(TAIL_LINES)..].join("\n")
        };
        format!(
            "--- {name} stderr ({err}) ---\n{}\n--- {name} stdout ({out}) ---\n{}",
            tail(self.stderr()),
            tail(self.stdout()),
            name = self.name,
            err = self.stderr_path.display(),
            out = self.stdout_path.display(),
        )
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("{}", self.output_tail());
        }
    }
}

/// Starts `coordinator serve` on a free port of 127.0.0.1 against `db_url`
/// with `extra_args`, waits until it answers `GET /health`, and returns the
/// process and its base URL (`http://127.0.0.1:PORT`).
pub async fn spawn_coordinator_process(
    db_url: &str,
    extra_args: &[&str],
) -> (ChildProcess, String) {
    start_coordinator(db_url, extra_args, None, None).await
}

/// [`spawn_coordinator_process`] with the open-file limit (soft and hard)
/// set to `open_files`.
pub async fn spawn_coordinator_process_with_open_files(
    db_url: &str,
    extra_args: &[&str],
    open_files: u64,
) -> (ChildProcess, String) {
    start_coordinator(db_url, extra_args, Some(open_files), None).await
}

/// The certificate, key and CA files of a coordinator that speaks HTTPS.
struct Tls<'a> {
    cert: &'a Path,
    key: &'a Path,
    ca: &'a Path,
}

async fn start_coordinator(
    db_url: &str,
    extra_args: &[&str],
    open_files: Option<u64>,
    tls: Option<Tls<'_>>,
) -> (ChildProcess, String) {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("failed to find a free port")
        .port();
    let listen = format!("127.0.0.1:{port}");
    let mut args = vec!["serve", "--listen", &listen, "--database-url", db_url];
    if let Some(tls) = &tls {
        args.extend([
            "--tls-cert",
            path_str(tls.cert),
            "--tls-key",
            path_str(tls.key),
        ]);
    }
    if !extra_args.contains(&"--admin-token") {
        args.extend(["--admin-token", crate::ADMIN_TOKEN]);
    }
    args.extend_from_slice(extra_args);
    let mut process = spawn("coordinator", open_files, &args, &[]);
    let scheme = if tls.is_some() { "https" } else { "http" };
    let base_url = format!("{scheme}://{listen}");
    let options = switchyard_protocol::ClientOptions {
        ca_file: tls.map(|tls| tls.ca.to_owned()),
    };
    let builder = switchyard_protocol::http_client_builder(&base_url, &options)
        .expect("failed to set up TLS for an HTTP client");
    if !wait_for_health_with(builder, &base_url, || process.try_exit().is_some()).await {
        panic!(
            "coordinator process exited during start-up ({:?})\n{}",
            process.try_exit(),
            process.output_tail()
        );
    }
    (process, base_url)
}

/// Starts `coordinator serve` speaking HTTPS with the certificate and key
/// of `tls` (`(cert, key)` PEM files, valid for 127.0.0.1) on a free port,
/// waits until it answers `GET /health` to a client trusting only `ca_file`,
/// and returns the process and its base URL (`https://127.0.0.1:PORT`).
pub async fn spawn_tls_coordinator_process(
    db_url: &str,
    tls: (&Path, &Path),
    ca_file: &Path,
    extra_args: &[&str],
) -> (ChildProcess, String) {
    let tls = Tls {
        cert: tls.0,
        key: tls.1,
        ca: ca_file,
    };
    start_coordinator(db_url, extra_args, None, Some(tls)).await
}

fn path_str(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}

/// Starts `worker-agent` for the coordinator at `base_url` (or the
/// coordinators of a cluster: their URLs, comma separated) with `tags` and
/// `slots`, fetching with a 2 s long-poll unless `extra_args` sets
/// `--fetch-wait`. Unless `extra_args` says otherwise it registers with the
/// bootstrap admin token, keeps its state in a fresh folder of its own, and
/// (as tests run as root here) lets tasks run as root. Returns at once: wait
/// for it to register with [`wait_until`](crate::wait_until).
pub fn spawn_agent_process(
    base_url: &str,
    tags: &[&str],
    slots: u32,
    extra_args: &[&str],
) -> ChildProcess {
    let slots = slots.to_string();
    let tags = tags.join(",");
    let mut args = vec!["--coordinator-url", base_url, "--slots", &slots];
    if !tags.is_empty() {
        args.extend(["--tags", &tags]);
    }
    if !extra_args.iter().any(|a| a.starts_with("--token")) {
        args.extend(["--token", crate::ADMIN_TOKEN]);
    }
    if !extra_args.iter().any(|a| a.starts_with("--fetch-wait")) {
        args.extend(["--fetch-wait", "2s"]);
    }
    if !extra_args.iter().any(|a| a.starts_with("--run-as")) {
        args.push("--allow-root-tasks");
    }
    let state = (!extra_args.iter().any(|a| a.starts_with("--state-dir"))).then(|| {
        tempfile::tempdir().unwrap_or_else(|e| panic!("failed to make a state folder: {e}"))
    });
    let state_path = state.as_ref().map(|dir| dir.path().display().to_string());
    if let Some(path) = &state_path {
        args.extend(["--state-dir", path]);
    }
    args.extend_from_slice(extra_args);
    let mut process = spawn_process("worker-agent", &args);
    process._dir = state;
    process
}

/// A process's state letter (`R`, `S`, `T`, `Z`, ...) and parent, from
/// `/proc/<pid>/stat`; `None` when there is no such process. The command
/// name in parentheses may hold anything, so fields are counted from the
/// last `)`.
pub fn process_state(pid: i32) -> Option<(char, i32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace();
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

/// Whether process `pid` has ended: it is gone, or a zombie that only its
/// parent has yet to collect (PID 1 of a container often never does).
pub fn process_is_gone(pid: i32) -> bool {
    kill(Pid::from_raw(pid), None).is_err()
        || process_state(pid).is_none_or(|(state, _)| state == 'Z')
}
