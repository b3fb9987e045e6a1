#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::sys::signal::kill;
use nix::unistd::Pid;
use switchyard_protocol::TaskId;
use switchyard_wait::wait_until;

use super::*;
use crate::cgroup::Cgroups;
use crate::identity::Identity;
use crate::statedir::StateDir;
use crate::taskenv::Inherited;

/// The built `worker-agent` binary, which supervises the tasks these tests
/// run (a test executable cannot play supervisor itself).
fn agent_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let mut dir = exe.parent().unwrap().to_owned();
    if dir.ends_with("deps") {
        dir.pop();
    }
    let binary = dir.join("worker-agent");
    assert!(
        binary.is_file(),
        "{} not built: run `cargo build --bins` first (scripts/test does)",
        binary.display()
    );
    binary
}

/// Tasks run as this test's user (root allowed), with a cgroup each when
/// the machine allows, and a state folder of their own.
struct Fixture {
    isolation: Isolation,
    _state: tempfile::TempDir,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        if let Some(cgroups) = &self.isolation.cgroups {
            cgroups.remove_root();
        }
    }
}

fn fixture(cgroups: bool) -> Fixture {
    let state = tempfile::tempdir().unwrap();
    let dir = StateDir::open(Some(&state.path().join("state"))).unwrap();
    let isolation = Isolation {
        supervisor: agent_binary(),
        identity: Identity::resolve(None, true).unwrap(),
        inherited: Inherited::select(&["PATH".to_owned()], std::env::vars_os()),
        cgroups: cgroups
            .then(|| Cgroups::discover(dir.root()).ok())
            .flatten(),
        state: dir,
        keep_work_dirs: false,
        _lock: None,
    };
    Fixture {
        isolation,
        _state: state,
    }
}

impl Fixture {
    /// Runs `task` to its end with no lease and no cancellation.
    async fn run(&self, task: &Assignment) -> TaskReport {
        run_task(
            task,
            &self.isolation,
            no_lease(),
            CancellationToken::new(),
            None,
        )
        .await
    }
}

/// A lease that never runs out.
fn no_lease() -> Lease {
    watch::channel(None).1
}

async fn run_task_here(task: &Assignment, cancel: CancellationToken) -> TaskReport {
    let fixture = fixture(true);
    run_task(task, &fixture.isolation, no_lease(), cancel, None).await
}

fn assignment(argv: &[&str], timeout_secs: i64) -> Assignment {
    Assignment {
        task_id: TaskId(7),
        attempt: 2,
        argv: argv.iter().map(|s| (*s).to_owned()).collect(),
        env: BTreeMap::new(),
        working_dir: None,
        timeout_secs,
    }
}

async fn run(argv: &[&str], timeout_secs: i64) -> TaskReport {
    run_task_here(&assignment(argv, timeout_secs), CancellationToken::new()).await
}

/// The pid a task wrote to `file`, once it has.
async fn pid_in(file: &Path) -> Pid {
    let text = wait_until("the pid file", Duration::from_secs(10), || async {
        let text = std::fs::read_to_string(file).ok()?;
        text.ends_with('\n').then_some(text)
    })
    .await;
    Pid::from_raw(text.trim().parse().unwrap())
}

/// Gone, or a zombie nobody reaps (PID 1 of a container often does not).
fn is_dead(pid: Pid) -> bool {
    match kill(pid, None) {
        Err(Errno::ESRCH) => true,
        Err(e) => panic!("kill({pid}, 0): {e}"),
        Ok(()) => crate::proctree::stat(pid.as_raw()).is_none_or(|stat| stat.zombie),
    }
}

fn pid_file(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("pid")
}

#[tokio::test]
async fn echo_succeeds_with_its_output() {
    let report = run(&["echo", "hello"], 10).await;
    assert_eq!(report.outcome, ReportOutcome::Succeeded, "{report:?}");
    assert_eq!(report.exit_code, Some(0));
    assert_eq!(report.stdout, "hello\n");
    assert_eq!(report.stderr, "");
    assert!(!report.stdout_truncated && !report.stderr_truncated);
    assert_eq!(report.error, None);
    assert_eq!((report.task_id, report.attempt), (TaskId(7), 2));
}

#[tokio::test]
async fn non_zero_exit_fails_with_the_code() {
    let report = run(&["sh", "-c", "echo oops >&2; exit 3"], 10).await;
    assert_eq!(report.outcome, ReportOutcome::Failed);
    assert_eq!(report.exit_code, Some(3));
    assert_eq!(report.stderr, "oops\n");
    assert_eq!(report.error, None);
}

#[tokio::test]
async fn death_by_signal_is_reported() {
    let report = run(&["sh", "-c", "kill -9 $$"], 10).await;
    assert_eq!(report.outcome, ReportOutcome::Failed);
    assert_eq!(report.exit_code, None);
    assert_eq!(report.error.as_deref(), Some("killed by signal 9"));
}

#[tokio::test]
async fn timeout_kills_quickly() {
    let started = Instant::now();
    let report = run(&["sleep", "30"], 1).await;
    assert_eq!(report.outcome, ReportOutcome::TimedOut, "{report:?}");
    assert_eq!(report.exit_code, None);
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn timeout_kills_grandchildren() {
    let dir = tempfile::tempdir().unwrap();
    let file = pid_file(&dir);
    let script = format!("sleep 300 & echo $! > {}; sleep 300", file.display());
    let started = Instant::now();
    let report = run(&["sh", "-c", &script], 1).await;
    assert_eq!(report.outcome, ReportOutcome::TimedOut, "{report:?}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    let grandchild = pid_in(&file).await;
    wait_until("the grandchild to die", Duration::from_secs(5), || async {
        is_dead(grandchild)
    })
    .await;
}

#[tokio::test]
async fn exit_kills_leftover_grandchildren_without_waiting_for_their_pipes() {
    let dir = tempfile::tempdir().unwrap();
    let file = pid_file(&dir);
    // The backgrounded sleep inherits stdout and would hold it open for 300s.
    let script = format!("sleep 300 & echo $! > {}; echo hi", file.display());
    let started = Instant::now();
    let report = run(&["sh", "-c", &script], 60).await;
    assert_eq!(report.outcome, ReportOutcome::Succeeded, "{report:?}");
    assert_eq!(report.stdout, "hi\n");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    let grandchild = pid_in(&file).await;
    wait_until("the grandchild to die", Duration::from_secs(5), || async {
        is_dead(grandchild)
    })
    .await;
}

/// A task whose grandchild left its session (`setsid`) and ignores
/// SIGTERM; the grandchild's pid lands in `file`.
fn escaping_script(file: &Path, then: &str) -> String {
    format!(
        "setsid sh -c 'trap \"\" TERM; echo $$ > {0}; while true; do sleep 1; done' & \
         while [ ! -s {0} ]; do sleep 0.01; done; {then}",
        file.display()
    )
}

async fn escaped_process_dies(cgroups: bool) {
    let dir = tempfile::tempdir().unwrap();
    let file = pid_file(&dir);
    let fixture = fixture(cgroups);
    let started = Instant::now();
    let task = assignment(&["sh", "-c", &escaping_script(&file, "echo hi")], 60);
    let report = fixture.run(&task).await;
    assert_eq!(report.outcome, ReportOutcome::Succeeded, "{report:?}");
    assert_eq!(report.stdout, "hi\n");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    // By the time the report exists, nothing of the task is left.
    let escaped = pid_in(&file).await;
    assert!(is_dead(escaped), "the setsid grandchild {escaped} survived");
}

#[tokio::test]
async fn a_process_that_left_the_session_dies_with_its_task() {
    escaped_process_dies(true).await;
}

#[tokio::test]
async fn without_cgroups_the_supervisor_still_kills_what_left_the_session() {
    escaped_process_dies(false).await;
}

#[tokio::test]
async fn timeout_kills_what_left_the_session_and_ignores_sigterm() {
    let dir = tempfile::tempdir().unwrap();
    let file = pid_file(&dir);
    let task = assignment(&["sh", "-c", &escaping_script(&file, "sleep 300")], 1);
    let report = run_task_here(&task, CancellationToken::new()).await;
    assert_eq!(report.outcome, ReportOutcome::TimedOut, "{report:?}");
    let escaped = pid_in(&file).await;
    assert!(is_dead(escaped), "the setsid grandchild {escaped} survived");
}

#[tokio::test]
async fn a_fresh_working_directory_is_made_and_removed() {
    let fixture = fixture(true);
    let task = assignment(&["sh", "-c", "pwd -P; touch made-here; ls"], 10);
    let report = fixture.run(&task).await;
    assert_eq!(report.outcome, ReportOutcome::Succeeded, "{report:?}");
    let lines: Vec<&str> = report.stdout.lines().collect();
    let work = fixture.isolation.state.work().join("7-2");
    assert_eq!(lines, [work.display().to_string().as_str(), "made-here"]);
    assert!(!work.exists(), "the working directory was left behind");
    assert!(fixture.isolation.state.take_records().is_empty());
}

#[tokio::test]
async fn output_keeps_only_the_last_64_kib() {
    let script = "head -c 200000 /dev/zero | tr '\\0' a; yes | head -c 100000 >&2";
    let report = run(&["sh", "-c", script], 30).await;
    assert_eq!(report.outcome, ReportOutcome::Succeeded, "{report:?}");
    assert_eq!(OUTPUT_TAIL_BYTES, 65536);
    assert_eq!(report.stdout, "a".repeat(OUTPUT_TAIL_BYTES));
    assert!(report.stdout_truncated);
    assert_eq!(report.stderr.len(), OUTPUT_TAIL_BYTES);
    assert!(report.stderr.ends_with("y\ny\n"));
    assert!(report.stderr_truncated);
}

#[tokio::test]
async fn cancelling_kills_the_task() {
    let dir = tempfile::tempdir().unwrap();
    let file = pid_file(&dir);
    let script = format!("echo $$ > {}; sleep 300", file.display());
    let task = assignment(&["sh", "-c", &script], 0);
    let cancel = CancellationToken::new();
    let started = Instant::now();
    let running = tokio::spawn({
        let cancel = cancel.clone();
        async move { run_task_here(&task, cancel).await }
    });
    let pid = pid_in(&file).await;
    cancel.cancel();
    let report = running.await.unwrap();
    assert_eq!(report.outcome, ReportOutcome::Cancelled, "{report:?}");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "{:?}",
        started.elapsed()
    );
    assert!(is_dead(pid));
}

#[tokio::test]
async fn cancelled_before_start_does_not_run() {
    let cancel = CancellationToken::new();
    cancel.cancel();
    let report = run_task_here(&assignment(&["true"], 10), cancel).await;
    assert_eq!(report.outcome, ReportOutcome::Cancelled);
}

#[tokio::test]
async fn start_failures_say_why() {
    let report = run(&["/nonexistent/program-xyz", "arg"], 10).await;
    assert_eq!(report.outcome, ReportOutcome::Failed);
    let error = report.error.unwrap();
    assert!(
        error.contains("failed to start `/nonexistent/program-xyz`"),
        "{error}"
    );

    let mut task = assignment(&["true"], 10);
    task.working_dir = Some("/nonexistent/dir-xyz".to_owned());
    let report = run_task_here(&task, CancellationToken::new()).await;
    assert_eq!(report.outcome, ReportOutcome::Failed);
    let error = report.error.unwrap();
    assert!(
        error.contains("working directory `/nonexistent/dir-xyz`"),
        "{error}"
    );

    let report = run(&[], 10).await;
    assert_eq!(report.outcome, ReportOutcome::Failed);
    assert!(report.error.unwrap().contains("empty argv"));
}

#[tokio::test]
async fn env_and_working_dir_apply() {
    let dir = tempfile::tempdir().unwrap();
    let mut task = assignment(
        &[
            "sh",
            "-c",
            "echo \"$SWITCHYARD_TEST_VAR\"; pwd -P; echo \"$PATH\"",
        ],
        10,
    );
    task.env
        .insert("SWITCHYARD_TEST_VAR".to_owned(), "from the task".to_owned());
    task.working_dir = Some(dir.path().display().to_string());
    let report = run_task_here(&task, CancellationToken::new()).await;
    assert_eq!(report.outcome, ReportOutcome::Succeeded, "{report:?}");
    let lines: Vec<&str> = report.stdout.lines().collect();
    let cwd = std::fs::canonicalize(dir.path()).unwrap();
    assert_eq!(lines[0], "from the task");
    assert_eq!(lines[1], cwd.display().to_string());
    // PATH is on the allow-list, so it is inherited.
    assert_eq!(lines[2], std::env::var("PATH").unwrap());
}

#[tokio::test]
async fn the_environment_is_built_from_nothing() {
    let mut task = assignment(&["env"], 10);
    task.env.insert("MINE".to_owned(), "1".to_owned());
    let report = run_task_here(&task, CancellationToken::new()).await;
    assert_eq!(report.outcome, ReportOutcome::Succeeded, "{report:?}");
    let mut names: Vec<&str> = report
        .stdout
        .lines()
        .filter_map(|line| line.split_once('=').map(|(name, _)| name))
        .collect();
    names.sort_unstable();
    // `env` run by a shell-less exec sees exactly what the agent built (PWD
    // is not set: no shell ran).
    assert_eq!(
        names,
        [
            "HOME",
            "LOGNAME",
            "MINE",
            "PATH",
            "SHELL",
            "SWITCHYARD_ATTEMPT",
            "SWITCHYARD_TASK_ID",
            "USER"
        ]
    );
    assert!(report.stdout.contains("SWITCHYARD_TASK_ID=7\n"));
    assert!(report.stdout.contains("SWITCHYARD_ATTEMPT=2\n"));
}

#[test]
fn long_errors_are_cut_on_a_char_boundary() {
    let text = "é".repeat(MAX_ERROR_BYTES);
    let cut = clamp_error(text);
    assert!(cut.len() <= MAX_ERROR_BYTES && cut.len() >= MAX_ERROR_BYTES - 1);
    assert_eq!(clamp_error("short".to_owned()), "short");
}

#[tokio::test]
async fn a_lease_that_is_not_renewed_interrupts_the_task_and_all_it_started() {
    let dir = tempfile::tempdir().unwrap();
    let file = pid_file(&dir);
    let fixture = fixture(true);
    let task = assignment(&["sh", "-c", &escaping_script(&file, "sleep 300")], 0);
    let lease_of = |ms| Some(tokio::time::Instant::now() + Duration::from_millis(ms));
    let (renew, lease) = watch::channel(lease_of(1500));
    let running = tokio::spawn({
        let isolation = fixture.isolation.clone();
        async move { run_task(&task, &isolation, lease, CancellationToken::new(), None).await }
    });
    let escaped = pid_in(&file).await;
    // One renewal, past the first lease's end, is honoured; then none comes.
    let renewed = Instant::now();
    renew.send_replace(lease_of(3000));
    let report = running.await.unwrap();
    assert_eq!(report.outcome, ReportOutcome::Interrupted, "{report:?}");
    assert!(report.error.unwrap().contains("lost contact"));
    assert!(
        renewed.elapsed() >= Duration::from_millis(3000),
        "the renewal was ignored: killed {:?} after it",
        renewed.elapsed()
    );
    assert!(is_dead(escaped), "the setsid grandchild {escaped} survived");
}
