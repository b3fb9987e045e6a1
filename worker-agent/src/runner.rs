//! Running one assignment as a child process and describing how it ended.
//!
//! The task runs in its own process group so that a timeout, a cancellation
//! or its own exit can take down everything it started, grandchildren
//! included. Its stdout and stderr are captured into tail buffers, so memory
//! stays bounded however much it prints.

use std::io;
use std::os::unix::process::ExitStatusExt;
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use switchyard_protocol::limits::{MAX_ERROR_BYTES, OUTPUT_TAIL_BYTES};
use switchyard_protocol::{Assignment, ReportOutcome, TaskReport};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

/// How long a task may handle SIGTERM before its group gets SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(2);

/// How long to keep reading output after the task's group is gone. Only a
/// process that left the group (`setsid`) can hold the pipes open longer.
const PIPE_DRAIN: Duration = Duration::from_secs(1);

/// Runs `assignment` to its end and describes the outcome.
///
/// Never fails: a task that cannot even start is reported `failed` with an
/// `error` saying why. Firing `cancel` kills the task's process group and
/// yields `cancelled`; outliving `timeout_secs` (when positive) yields
/// `timed_out`. When this returns, no process of the task's group is left.
pub async fn run_task(assignment: &Assignment, cancel: CancellationToken) -> TaskReport {
    let mut report = TaskReport {
        task_id: assignment.task_id,
        attempt: assignment.attempt,
        outcome: ReportOutcome::Failed,
        exit_code: None,
        stdout: String::new(),
        stderr: String::new(),
        stdout_truncated: false,
        stderr_truncated: false,
        error: None,
    };
    if cancel.is_cancelled() {
        report.outcome = ReportOutcome::Cancelled;
        report.error = Some("cancelled before it started".to_owned());
        return report;
    }
    let run = match execute(assignment, &cancel).await {
        Ok(run) => run,
        Err(e) => {
            report.error = Some(clamp_error(e.to_string()));
            return report;
        }
    };
    (report.stdout, report.stdout_truncated) = run.stdout;
    (report.stderr, report.stderr_truncated) = run.stderr;
    match run.end {
        End::Exited(Ok(status)) => match (status.code(), status.signal()) {
            (Some(code), _) => {
                report.exit_code = Some(code);
                if code == 0 {
                    report.outcome = ReportOutcome::Succeeded;
                }
            }
            (None, Some(signal)) => report.error = Some(format!("killed by signal {signal}")),
            (None, None) => report.error = Some(format!("ended with {status}")),
        },
        End::Exited(Err(e)) => {
            report.error = Some(clamp_error(format!("failed to wait for the process: {e}")));
        }
        End::TimedOut => {
            report.outcome = ReportOutcome::TimedOut;
            report.error = Some(format!("timed out after {}s", assignment.timeout_secs));
        }
        End::Cancelled => {
            report.outcome = ReportOutcome::Cancelled;
            report.error = Some("cancelled".to_owned());
        }
    }
    report
}

/// Why a task could not be started.
#[derive(Debug, thiserror::Error)]
enum StartError {
    #[error("the task has an empty argv")]
    EmptyArgv,
    #[error("working directory `{dir}` is unusable: {source}")]
    WorkingDir { dir: String, source: io::Error },
    #[error("working directory `{dir}` is not a directory")]
    NotADirectory { dir: String },
    #[error("failed to start `{program}`: {source}")]
    Spawn { program: String, source: io::Error },
}

/// How the wait for the task ended.
#[derive(Debug)]
enum End {
    /// It exited by itself (or waiting for it failed).
    Exited(io::Result<ExitStatus>),
    /// Its timeout passed and it was killed.
    TimedOut,
    /// It was cancelled and killed.
    Cancelled,
}

/// A finished run: how it ended and the tails of its output.
#[derive(Debug)]
struct Run {
    end: End,
    stdout: (String, bool),
    stderr: (String, bool),
}

async fn execute(assignment: &Assignment, cancel: &CancellationToken) -> Result<Run, StartError> {
    let (program, args) = assignment.argv.split_first().ok_or(StartError::EmptyArgv)?;
    let mut command = Command::new(program);
    command
        .args(args)
        .envs(&assignment.env)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    if let Some(dir) = &assignment.working_dir {
        check_dir(dir).await?;
        command.current_dir(dir);
    }
    let mut child = command.spawn().map_err(|source| StartError::Spawn {
        program: program.clone(),
        source,
    })?;
    // With `process_group(0)` the group id is the child's pid.
    let mut group = ProcessGroup(
        child
            .id()
            .and_then(|pid| i32::try_from(pid).ok())
            .map(Pid::from_raw),
    );
    tracing::debug!(pid = ?child.id(), "task started");

    let exited = CancellationToken::new();
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let timeout = u64::try_from(assignment.timeout_secs)
        .ok()
        .filter(|&secs| secs > 0)
        .map(Duration::from_secs);
    let supervise = async {
        let end = tokio::select! {
            biased;
            status = child.wait() => End::Exited(status),
            () = cancel.cancelled() => End::Cancelled,
            () = sleep_for(timeout) => End::TimedOut,
        };
        if !matches!(end, End::Exited(_)) {
            terminate(&mut child, &group).await;
        }
        // Grandchildren go too, which also closes the pipes they inherited.
        group.kill();
        exited.cancel();
        end
    };
    let (end, stdout, stderr) = tokio::join!(
        supervise,
        read_tail(stdout, &exited),
        read_tail(stderr, &exited),
    );
    Ok(Run {
        end,
        stdout,
        stderr,
    })
}

async fn check_dir(dir: &str) -> Result<(), StartError> {
    match tokio::fs::metadata(dir).await {
        Ok(meta) if meta.is_dir() => Ok(()),
        Ok(_) => Err(StartError::NotADirectory {
            dir: dir.to_owned(),
        }),
        Err(source) => Err(StartError::WorkingDir {
            dir: dir.to_owned(),
            source,
        }),
    }
}

async fn sleep_for(duration: Option<Duration>) {
    match duration {
        Some(duration) => tokio::time::sleep(duration).await,
        None => std::future::pending().await,
    }
}

/// Asks the group to stop, then kills it, and reaps the child.
async fn terminate(child: &mut Child, group: &ProcessGroup) {
    if group.signal(Signal::SIGTERM) {
        if let Ok(status) = tokio::time::timeout(TERM_GRACE, child.wait()).await {
            tracing::debug!(?status, "task ended after SIGTERM");
            return;
        }
        group.signal(Signal::SIGKILL);
    }
    if let Err(e) = child.start_kill() {
        tracing::debug!(error = %e, "could not kill the task's process");
    }
    if let Err(e) = child.wait().await {
        tracing::warn!(error = %e, "failed to reap the task's process");
    }
}

/// Reads `pipe` to its end, keeping the tail; stops `PIPE_DRAIN` after
/// `exited` fires even if something still holds the pipe open.
async fn read_tail<R>(pipe: Option<R>, exited: &CancellationToken) -> (String, bool)
where
    R: AsyncRead + Unpin,
{
    let mut tail = crate::tail::TailBuffer::new(OUTPUT_TAIL_BYTES);
    let Some(mut pipe) = pipe else {
        return tail.into_string();
    };
    let give_up = async {
        exited.cancelled().await;
        tokio::time::sleep(PIPE_DRAIN).await;
    };
    tokio::pin!(give_up);
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            read = pipe.read(&mut chunk) => match read {
                Ok(0) => break,
                Ok(n) => tail.push(&chunk[..n]),
                Err(e) => {
                    tracing::debug!(error = %e, "stopped reading task output");
                    break;
                }
            },
            () = &mut give_up => {
                tracing::debug!("task output still open after its group was killed; not waiting");
                break;
            }
        }
    }
    tail.into_string()
}

/// The process group of a running task. Dropping it kills the group, so a
/// task is not left behind even if its runner is dropped midway.
#[derive(Debug)]
struct ProcessGroup(Option<Pid>);

impl ProcessGroup {
    /// Sends `signal` to the whole group; false when there is no group to signal.
    fn signal(&self, signal: Signal) -> bool {
        let Some(pgid) = self.0 else {
            return false;
        };
        match killpg(pgid, signal) {
            Ok(()) => true,
            Err(nix::errno::Errno::ESRCH) => false,
            Err(e) => {
                tracing::warn!(error = %e, %pgid, ?signal, "failed to signal the task's process group");
                false
            }
        }
    }

    /// SIGKILLs whatever is left of the group, once.
    fn kill(&mut self) {
        self.signal(Signal::SIGKILL);
        self.0 = None;
    }
}

impl Drop for ProcessGroup {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Cuts an error text to what the coordinator accepts, on a char boundary.
fn clamp_error(mut text: String) -> String {
    if text.len() > MAX_ERROR_BYTES {
        let mut end = MAX_ERROR_BYTES;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
    }
    text
}

#[cfg(test)]
mod tests;
