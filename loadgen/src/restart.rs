//! The restart scenario: how soon a restarted coordinator serves fetches
//! again, with nothing queued and with `--tasks` queued, and how much
//! resident memory the queued tasks cost the new process.
//!
//! `--workers` register and only heartbeat: they never fetch on their own,
//! so submitted tasks stay queued. `--restart-command` runs once with
//! nothing queued by this run (the baseline); then `--tasks` are submitted
//! and it runs again. Each time, from the moment the command exits, worker
//! 0 fetches without waiting, every [`PROBE_PAUSE`], until an answer
//! counts: any answer the first time, one that brings a task the second
//! (worker 0 offers tag set 0, which task 0 requires). Serving time is
//! counted from the moment the command started. Then the new process is
//! found by the port of `--url`, its RSS is read, and its dispatcher
//! snapshot is taken, in that order. Worker tokens live in the database,
//! so the same workers act across restarts; calls that fail while no
//! coordinator answers are counted, not fatal.

use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use switchyard_protocol::{Assignment, StatusCode};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::Bench;
use crate::args::port_of;
use crate::dispatcher;
use crate::procfs;
use crate::report::{Report, Restart, RestartFigures};
use crate::stats::per_second;
use crate::submitters::{self, SubmitOutcome};
use crate::window::{Closed, Window};
use crate::workers::{Fleet, FleetPlan, Shared};

/// Our target for a restart with 100,000 queued tasks: serving
/// fetches again within this, the dispatcher's seed included.
pub const SERVING_GOAL: Duration = Duration::from_secs(5);
/// Pause after a fetch that did not count before the next one.
const PROBE_PAUSE: Duration = Duration::from_millis(20);
/// The probing worker: number 0 offers tag set 0, which task 0 requires.
const PROBE_WORKER: usize = 0;

/// Runs the scenario.
pub async fn run(bench: &Bench) -> anyhow::Result<Report> {
    let args = &bench.args;
    let shared = Arc::new(Shared::default());
    let plan = bench.fleet_plan();
    let mut fleet = Fleet::register(&args.url, &plan, shared.clone()).await?;
    fleet.start_heartbeats();
    let measured = measure(bench, &fleet, &plan, &shared).await;
    // Whatever happened, the workers leave; the tasks stay queued.
    fleet.unregister().await;
    let measured = measured?;
    Ok(Report {
        restart: Some(measured.restart),
        heartbeats_per_sec: per_second(measured.heartbeats, measured.closed.elapsed),
        fleet: shared.counters.snapshot(),
        timed_out: measured.timed_out,
        ..bench.report(&measured.closed)
    })
}

/// What [`measure`] found.
#[derive(Debug)]
struct Measured {
    restart: Restart,
    /// The window over the submissions, on the coordinator between the
    /// two restarts.
    closed: Closed,
    /// Heartbeats answered in that window.
    heartbeats: u64,
    timed_out: bool,
}

/// Restarts with nothing queued, submits, restarts with everything queued.
async fn measure(
    bench: &Bench,
    fleet: &Fleet,
    plan: &FleetPlan,
    shared: &Shared,
) -> anyhow::Result<Measured> {
    let args = &bench.args;
    let mut restarter = Restarter {
        bench,
        fleet,
        plan,
        port: port_of(&args.url).context("--url names no port")?,
        command: args
            .restart_command
            .as_deref()
            .context("--restart-command is required by the restart scenario")?,
        pid: bench.target.coordinator_pid,
    };
    let empty = restarter.restart(0).await?;

    let window = Window::open_on(&bench.target, restarter.pid).await;
    let opened = window.opened;
    let heartbeats_before = shared.counters.snapshot().heartbeats;
    let submitted = if empty.is_some() {
        submitters::run(
            bench.client.clone(),
            bench.submit_plan(),
            bench.stop.clone(),
        )
        .await
    } else {
        SubmitOutcome::default()
    };
    let heartbeats = shared.counters.snapshot().heartbeats - heartbeats_before;
    let closed = window.close(&bench.target).await;
    let accepted: u64 = submitted.batches.iter().map(|b| b.ids.len() as u64).sum();
    let last_answer = submitted.batches.iter().map(|b| b.answered).max();
    let submit_window =
        last_answer.map_or(closed.elapsed, |at| at.saturating_duration_since(opened));

    let full = if bench.stop.is_cancelled() || accepted < args.tasks {
        None
    } else {
        restarter.restart(accepted).await?
    };
    let (bytes_per_task, bytes_per_queue_entry) =
        memory_per_task(empty.as_ref(), full.as_ref(), accepted);
    Ok(Measured {
        restart: Restart {
            empty,
            submitted: accepted,
            submit_errors: submitted.errors,
            submitted_per_sec: per_second(accepted, submit_window),
            full,
            bytes_per_task,
            bytes_per_queue_entry,
        },
        closed,
        heartbeats,
        timed_out: bench.stop.is_cancelled(),
    })
}

/// Runs the restart command and watches the coordinator come back.
#[derive(Debug)]
struct Restarter<'a> {
    bench: &'a Bench,
    fleet: &'a Fleet,
    plan: &'a FleetPlan,
    /// The coordinator's port, where the new process is found.
    port: u16,
    command: &'a str,
    /// The coordinator's process as last found.
    pid: Option<u32>,
}

impl Restarter<'_> {
    /// One restart with `queued` tasks of this run queued; `None` when the
    /// run was stopped first.
    async fn restart(&mut self, queued: u64) -> anyhow::Result<Option<RestartFigures>> {
        let stop = &self.bench.stop;
        let started = Instant::now();
        if !run_command(self.command, stop).await? {
            return Ok(None);
        }
        let command_secs = started.elapsed().as_secs_f64();
        let Some(probed) = until_serving(self.fleet, queued > 0, stop).await? else {
            return Ok(None);
        };
        let serving_secs = probed
            .answered
            .saturating_duration_since(started)
            .as_secs_f64();
        let pid = procfs::listener_pid(self.port);
        match pid {
            Some(pid) if Some(pid) == self.pid => anyhow::bail!(
                "process {pid} still listens on port {}: --restart-command did not restart \
                 the coordinator",
                self.port
            ),
            Some(_) => {}
            None => tracing::warn!(
                port = self.port,
                "the new coordinator's process was not found: no RSS figure"
            ),
        }
        self.pid = pid;
        let memory = pid.and_then(procfs::read_memory_kb);
        let args = &self.bench.args;
        let dispatcher = dispatcher::counts_if_admin(args, "once serving").await;
        if !probed.tasks.is_empty() {
            self.fleet
                .report_now(PROBE_WORKER, probed.tasks, self.plan)
                .await;
        }
        Ok(Some(RestartFigures {
            queued_tasks: queued,
            command_secs,
            serving_secs,
            probes: probed.probes,
            probe_errors: probed.errors,
            empty_probes: probed.empty,
            pid,
            rss_kib: memory.map(|(rss, _)| rss),
            peak_rss_kib: memory.map(|(_, peak)| peak),
            dispatcher,
        }))
    }
}

/// Runs `command` with `sh -c`, its output on this tool's stderr (stdout
/// carries the table). False when `stop` came first; the shell is then
/// killed.
async fn run_command(command: &str, stop: &CancellationToken) -> anyhow::Result<bool> {
    let mut child = tokio::process::Command::new("sh")
        .arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::from(std::io::stderr()))
        .kill_on_drop(true)
        .spawn()
        .context("failed to run --restart-command")?;
    let status = tokio::select! {
        () = stop.cancelled() => return Ok(false),
        status = child.wait() => status.context("failed to wait for --restart-command")?,
    };
    anyhow::ensure!(status.success(), "--restart-command failed ({status})");
    Ok(true)
}

/// The fetch that showed the coordinator serving, and those before it.
#[derive(Debug)]
struct Probed {
    /// When it was answered.
    answered: Instant,
    /// What it brought.
    tasks: Vec<Assignment>,
    /// Fetches sent, it included.
    probes: u64,
    /// Of those, ones that failed.
    errors: u64,
    /// Of those, ones answered empty although a task was wanted.
    empty: u64,
}

/// Fetches by [`PROBE_WORKER`] without waiting until one is answered (with
/// a task when `want_task`); `None` when the run was stopped first.
async fn until_serving(
    fleet: &Fleet,
    want_task: bool,
    stop: &CancellationToken,
) -> anyhow::Result<Option<Probed>> {
    let (mut probes, mut errors, mut empty) = (0, 0, 0);
    loop {
        let answer = tokio::select! {
            biased;
            () = stop.cancelled() => return Ok(None),
            answer = fleet.fetch_now(PROBE_WORKER, 1) => answer?,
        };
        probes += 1;
        match answer {
            Ok(tasks) if want_task && tasks.is_empty() => empty += 1,
            Ok(tasks) => {
                return Ok(Some(Probed {
                    answered: Instant::now(),
                    tasks,
                    probes,
                    errors,
                    empty,
                }));
            }
            Err(error) => {
                errors += 1;
                if !worth_probing_again(error.status()) {
                    return Err(anyhow::Error::new(error)
                        .context("the restarted coordinator refused the probing worker's fetch"));
                }
                tracing::debug!(%error, "not serving yet");
            }
        }
        tokio::select! {
            () = stop.cancelled() => return Ok(None),
            () = tokio::time::sleep(PROBE_PAUSE) => {}
        }
    }
}

/// Whether a failed fetch is worth repeating: no answer came (nothing
/// listens yet, or the connection broke), or the answer means "not now"
/// (a server error, 408, 429). Any other refusal — the worker unknown, its
/// token refused — would repeat for ever.
fn worth_probing_again(status: Option<StatusCode>) -> bool {
    status.is_none_or(|s| {
        s.is_server_error()
            || s == StatusCode::REQUEST_TIMEOUT
            || s == StatusCode::TOO_MANY_REQUESTS
    })
}

/// Bytes per unit that resident memory grew by from `base_kib` to
/// `full_kib`; negative when it shrank, `None` without units.
pub fn bytes_per(base_kib: u64, full_kib: u64, units: u64) -> Option<f64> {
    (units > 0).then(|| (full_kib as f64 - base_kib as f64) * 1024.0 / units as f64)
}

/// The memory the queued tasks added, per task (`tasks` of them) and per
/// queue entry the dispatcher counted beyond the baseline's.
fn memory_per_task(
    empty: Option<&RestartFigures>,
    full: Option<&RestartFigures>,
    tasks: u64,
) -> (Option<f64>, Option<f64>) {
    let (Some(empty), Some(full)) = (empty, full) else {
        return (None, None);
    };
    let (Some(base), Some(grown)) = (empty.rss_kib, full.rss_kib) else {
        return (None, None);
    };
    let entries = match (&empty.dispatcher, &full.dispatcher) {
        (Some(before), Some(after)) => after.queue_entries.checked_sub(before.queue_entries),
        _ => None,
    };
    (
        bytes_per(base, grown, tasks),
        entries.and_then(|entries| bytes_per(base, grown, entries)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dispatcher::DispatcherCounts;

    fn figures(rss_kib: Option<u64>, queue_entries: Option<u64>) -> RestartFigures {
        RestartFigures {
            queued_tasks: 0,
            command_secs: 0.5,
            serving_secs: 1.0,
            probes: 3,
            probe_errors: 2,
            empty_probes: 0,
            pid: Some(7),
            rss_kib,
            peak_rss_kib: rss_kib,
            dispatcher: queue_entries.map(|queue_entries| DispatcherCounts {
                workers: 10,
                queued_tasks: queue_entries.min(1000),
                queue_entries,
                unplaced: 0,
            }),
        }
    }

    #[test]
    fn bytes_per_unit_of_growth() {
        assert_eq!(bytes_per(1000, 2000, 1024), Some(1000.0));
        assert_eq!(bytes_per(2000, 1000, 1024), Some(-1000.0));
        assert_eq!(bytes_per(1000, 2000, 0), None);
    }

    #[test]
    fn memory_per_task_and_per_queue_entry() {
        // 100,000 KiB more for 1,000 tasks held in 4,000 queue entries.
        let empty = figures(Some(50_000), Some(0));
        let full = figures(Some(150_000), Some(4_000));
        let (task, entry) = memory_per_task(Some(&empty), Some(&full), 1000);
        assert_eq!(task, Some(102_400.0));
        assert_eq!(entry, Some(25_600.0));
        // Without snapshots, per task only.
        let (task, entry) = memory_per_task(Some(&figures(Some(50_000), None)), Some(&full), 1000);
        assert_eq!(task, Some(102_400.0));
        assert_eq!(entry, None);
        // Without both RSS figures, nothing.
        assert_eq!(
            memory_per_task(Some(&figures(None, Some(0))), Some(&full), 1000),
            (None, None)
        );
        assert_eq!(memory_per_task(Some(&empty), None, 1000), (None, None));
    }

    #[test]
    fn only_not_now_answers_are_probed_again() {
        assert!(worth_probing_again(None));
        assert!(worth_probing_again(Some(StatusCode::SERVICE_UNAVAILABLE)));
        assert!(worth_probing_again(Some(StatusCode::BAD_GATEWAY)));
        assert!(worth_probing_again(Some(StatusCode::TOO_MANY_REQUESTS)));
        assert!(!worth_probing_again(Some(StatusCode::UNAUTHORIZED)));
        assert!(!worth_probing_again(Some(StatusCode::NOT_FOUND)));
        assert!(!worth_probing_again(Some(StatusCode::GONE)));
        assert!(!worth_probing_again(Some(StatusCode::BAD_REQUEST)));
    }

    #[tokio::test]
    async fn the_restart_command_must_succeed() {
        let stop = CancellationToken::new();
        assert!(run_command("exit 0", &stop).await.unwrap());
        let err = run_command("exit 3", &stop).await.unwrap_err();
        assert!(
            err.to_string().contains("--restart-command failed"),
            "{err}"
        );
        stop.cancel();
        assert!(!run_command("exec sleep 30", &stop).await.unwrap());
    }
}
