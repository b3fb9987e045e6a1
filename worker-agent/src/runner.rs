//! Running one assignment and describing how it ended.
//!
//! Each attempt runs under a supervisor process of its own (see
//! [`crate::supervisor`]) that holds every process the task starts and
//! kills them all when the attempt ends — by itself, on timeout, on
//! cancellation, or with the agent. The task starts from a clean
//! environment (see [`crate::taskenv`]), as the configured user, in a fresh
//! working directory unless it names one. Its stdout and stderr are
//! captured into tail buffers, so memory stays bounded however much it
//! prints.

use std::io;
use std::path::PathBuf;
use std::time::Duration;

use switchyard_protocol::limits::{MAX_ERROR_BYTES, OUTPUT_TAIL_BYTES};
use switchyard_protocol::{Assignment, ReportOutcome, TaskReport};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::isolation::Isolation;
use crate::output::Tap;
use crate::statedir::Record;
use crate::supervised::Supervised;
use crate::supervisor::wire::{Event, Exit, Spec};
use crate::{cgroup, proctree, taskenv};

/// How long a task may handle SIGTERM before all of it gets SIGKILL.
const TERM_GRACE: Duration = Duration::from_secs(2);

/// How long past its timeout a supervisor kills its task by itself, should
/// the agent be too hung to ask.
const BACKSTOP: Duration = Duration::from_secs(30);

/// How long to keep reading output after the task is gone. Only a process
/// the supervisor lost track of can hold the pipes open longer.
const PIPE_DRAIN: Duration = Duration::from_secs(1);

/// Runs `assignment` to its end and describes the outcome.
///
/// Never fails: a task that cannot even start is reported `failed` with an
/// `error` saying why. Firing `cancel` kills the task and yields
/// `cancelled`; outliving `timeout_secs` (when positive) yields
/// `timed_out`. When this returns, no process of the task is left. What
/// the task prints also goes to `taps` (stdout's, stderr's) as it comes.
pub(crate) async fn run_task(
    assignment: &Assignment,
    isolation: &Isolation,
    lease: Lease,
    cancel: CancellationToken,
    taps: Option<[Tap; 2]>,
) -> TaskReport {
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
    let run = match execute(assignment, isolation, lease, &cancel, taps).await {
        Ok(run) => run,
        Err(e) => {
            report.error = Some(clamp_error(e.to_string()));
            return report;
        }
    };
    (report.stdout, report.stdout_truncated) = run.stdout;
    (report.stderr, report.stderr_truncated) = run.stderr;
    match run.end {
        End::Exited(Exit::Code(code)) => {
            report.exit_code = Some(code);
            if code == 0 {
                report.outcome = ReportOutcome::Succeeded;
            }
        }
        End::Exited(Exit::Signal(signal)) => {
            report.error = Some(format!("killed by signal {signal}"));
        }
        End::NotStarted(error) => report.error = Some(clamp_error(error)),
        End::SupervisorLost => {
            report.error = Some("the task's supervisor process ended unexpectedly".to_owned());
        }
        End::TimedOut => {
            report.outcome = ReportOutcome::TimedOut;
            report.error = Some(format!("timed out after {}s", assignment.timeout_secs));
        }
        End::Cancelled => {
            report.outcome = ReportOutcome::Cancelled;
            report.error = Some("cancelled".to_owned());
        }
        End::LeaseExpired => {
            report.outcome = ReportOutcome::Interrupted;
            report.error = Some(
                "the agent lost contact with the coordinator for too long, so the task was \
                 stopped before it could be handed to another worker"
                    .to_owned(),
            );
        }
    }
    report
}

/// Until when the agent's running tasks may live without news from the
/// coordinator (`None`: no limit), renewed by each answered heartbeat.
pub(crate) type Lease = watch::Receiver<Option<Instant>>;

/// Why a task could not be started.
#[derive(Debug, thiserror::Error)]
enum StartError {
    #[error("the task has an empty argv")]
    EmptyArgv,
    #[error("failed to make the attempt's working directory: {0}")]
    WorkDir(io::Error),
    #[error("failed to start the task's supervisor: {0}")]
    Supervisor(io::Error),
}

/// How the attempt ended.
#[derive(Debug)]
enum End {
    /// Its process exited by itself.
    Exited(Exit),
    /// The program could not be started.
    NotStarted(String),
    /// Its timeout passed and it was killed.
    TimedOut,
    /// It was cancelled and killed.
    Cancelled,
    /// Its lease ran out and its supervisor killed it.
    LeaseExpired,
    /// The supervisor went without saying how the task ended.
    SupervisorLost,
}

/// A finished run: how it ended and the tails of its output.
#[derive(Debug)]
struct Run {
    end: End,
    stdout: (String, bool),
    stderr: (String, bool),
}

async fn execute(
    assignment: &Assignment,
    isolation: &Isolation,
    mut lease: Lease,
    cancel: &CancellationToken,
    taps: Option<[Tap; 2]>,
) -> Result<Run, StartError> {
    if assignment.argv.is_empty() {
        return Err(StartError::EmptyArgv);
    }
    let (task, attempt) = (assignment.task_id.0, assignment.attempt);
    let work_dir = match assignment.working_dir {
        Some(_) => None,
        None => Some(
            isolation
                .state
                .make_work_dir(task, attempt, &isolation.identity.user)
                .map_err(StartError::WorkDir)?,
        ),
    };
    let timeout = u64::try_from(assignment.timeout_secs)
        .ok()
        .filter(|&secs| secs > 0)
        .map(Duration::from_secs);
    let spec = Spec {
        argv: assignment.argv.clone(),
        env: taskenv::build(&isolation.inherited, &isolation.identity.user, assignment),
        cwd: assignment
            .working_dir
            .as_ref()
            .map(PathBuf::from)
            .or_else(|| work_dir.clone())
            .unwrap_or_default(),
        user: isolation.identity.switch.clone(),
        cgroup: isolation
            .cgroups
            .as_ref()
            .map(|cgroups| cgroups.for_attempt(task, attempt)),
        deadline_ms: timeout.map(|t| millis(t + TERM_GRACE + BACKSTOP)),
        lease_ms: lease_left(&mut lease),
        term_grace_ms: millis(TERM_GRACE),
    };
    let mut supervised = match Supervised::start(&isolation.supervisor, &spec).await {
        Ok(supervised) => supervised,
        Err(e) => {
            remove_work_dir(isolation, work_dir).await;
            return Err(StartError::Supervisor(e));
        }
    };
    note(isolation, task, attempt, &supervised, &spec);

    let gone = CancellationToken::new();
    let stdout = supervised.stdout.take();
    let stderr = supervised.stderr.take();
    let supervise = async {
        let end = follow(&mut supervised, cancel, timeout, lease).await;
        if !supervised.wait_cleaned().await {
            tracing::warn!("the task's supervisor went without confirming the task is gone");
            if let Some(dir) = spec.cgroup.clone() {
                let removed =
                    tokio::task::spawn_blocking(move || cgroup::kill_and_remove(&dir)).await;
                if let Ok(Err(error)) = removed {
                    tracing::warn!(%error, "failed to remove the task's cgroup");
                }
            }
        }
        gone.cancel();
        end
    };
    let [stdout_tap, stderr_tap] = taps.map_or([None, None], |taps| taps.map(Some));
    let (end, stdout, stderr) = tokio::join!(
        supervise,
        read_tail(stdout, &gone, stdout_tap),
        read_tail(stderr, &gone, stderr_tap),
    );
    isolation.state.remove_record(task, attempt);
    remove_work_dir(isolation, work_dir).await;
    Ok(Run {
        end,
        stdout,
        stderr,
    })
}

/// Follows the supervisor's news until the task's own process ends, asking
/// it to stop the task on cancellation or timeout, and passing each renewal
/// of the lease on.
async fn follow(
    supervised: &mut Supervised,
    cancel: &CancellationToken,
    timeout: Option<Duration>,
    mut lease: Lease,
) -> End {
    match supervised.next().await {
        Some(Event::Started { pid }) => tracing::debug!(pid, "task started"),
        Some(Event::FailedToStart { error }) => return End::NotStarted(error),
        _ => return End::SupervisorLost,
    }
    let sleep = sleep_for(timeout);
    tokio::pin!(sleep);
    let mut expired = false;
    loop {
        tokio::select! {
            biased;
            event = supervised.next() => match event {
                Some(Event::Exited { .. }) if expired => return End::LeaseExpired,
                Some(Event::Exited { exit }) => return End::Exited(exit),
                Some(Event::LeaseExpired) => {
                    tracing::warn!("no word from the coordinator for too long: the task was killed");
                    expired = true;
                }
                _ => return End::SupervisorLost,
            },
            Ok(()) = lease.changed(), if !expired => {
                if let Some(ms) = lease_left(&mut lease) {
                    supervised.extend_lease(ms).await;
                }
            }
            () = cancel.cancelled(), if !expired => {
                supervised.terminate().await;
                return End::Cancelled;
            }
            () = &mut sleep, if !expired => {
                supervised.terminate().await;
                return End::TimedOut;
            }
        }
    }
}

/// Milliseconds left of the lease, rounded up (none when there is no
/// lease). The supervisor counts them from when it hears them, a little
/// later, so its end of the lease is never earlier than the agent's.
fn lease_left(lease: &mut Lease) -> Option<u64> {
    let until = (*lease.borrow_and_update())?;
    let left = until.saturating_duration_since(Instant::now());
    Some(u64::try_from(left.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX))
}

/// Records the running attempt in the state folder, for the clean-up after
/// a crash (which removes every working directory left in `work/`, so the
/// record need not name one).
fn note(isolation: &Isolation, task: i64, attempt: i32, supervised: &Supervised, spec: &Spec) {
    let Some(pid) = supervised.pid().and_then(|pid| i32::try_from(pid).ok()) else {
        return;
    };
    let record = Record {
        supervisor_pid: pid,
        supervisor_start: proctree::stat(pid).map_or(0, |stat| stat.start_time),
        cgroup: spec.cgroup.clone(),
    };
    if let Err(error) = isolation.state.write_record(task, attempt, &record) {
        tracing::warn!(%error, "failed to record the running attempt");
    }
}

async fn remove_work_dir(isolation: &Isolation, work_dir: Option<PathBuf>) {
    let Some(dir) = work_dir.filter(|_| !isolation.keep_work_dirs) else {
        return;
    };
    let removed = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(&dir)).await;
    if let Ok(Err(error)) = removed {
        tracing::warn!(%error, "failed to remove the attempt's working directory");
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

async fn sleep_for(duration: Option<Duration>) {
    match duration {
        Some(duration) => tokio::time::sleep(duration).await,
        None => std::future::pending().await,
    }
}

/// Reads `pipe` to its end, keeping the tail and passing everything to
/// `tap`; stops `PIPE_DRAIN` after `gone` fires even if something still
/// holds the pipe open.
async fn read_tail<R>(pipe: Option<R>, gone: &CancellationToken, tap: Option<Tap>) -> (String, bool)
where
    R: AsyncRead + Unpin,
{
    let mut tail = crate::tail::TailBuffer::new(OUTPUT_TAIL_BYTES);
    let Some(mut pipe) = pipe else {
        return tail.into_string();
    };
    let give_up = async {
        gone.cancelled().await;
        tokio::time::sleep(PIPE_DRAIN).await;
    };
    tokio::pin!(give_up);
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        tokio::select! {
            read = pipe.read(&mut chunk) => match read {
                Ok(0) => break,
                Ok(n) => {
                    tail.push(&chunk[..n]);
                    if let Some(tap) = &tap {
                        tap.push(&chunk[..n]);
                    }
                }
                Err(e) => {
                    tracing::debug!(error = %e, "stopped reading task output");
                    break;
                }
            },
            () = &mut give_up => {
                tracing::debug!("task output still open after the task was killed; not waiting");
                break;
            }
        }
    }
    tail.into_string()
}

/// Cuts an error text to what the coordinator accepts, on a char boundary.
fn clamp_error(mut text: String) -> String {
    switchyard_protocol::text::keep_head(&mut text, MAX_ERROR_BYTES);
    text
}

#[cfg(test)]
mod tests;
