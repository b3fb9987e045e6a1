//! A simulated worker's reports: every task it fetched, reported as
//! succeeded at once, in batched requests (or one by one), a few at a time.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use switchyard_protocol::{
    Assignment, ClientError, ReportBatch, ReportOutcome, TaskId, TaskReport,
};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::plan::FleetPlan;
use crate::shared::{Event, Shared};
use crate::worker::{Handled, SimWorker};

/// Tries of one report when the coordinator does not answer.
const REPORT_TRIES: u32 = 3;

/// Reports `tasks` as succeeded in requests of up to `plan.report_batch`,
/// `plan.report_concurrency` requests at a time; returns those the
/// coordinator accepted.
pub(crate) async fn report_all(
    worker: &Arc<SimWorker>,
    tasks: Vec<Assignment>,
    fetched: Instant,
    plan: &FleetPlan,
    shared: &Arc<Shared>,
) -> Vec<Handled> {
    let requests: Vec<Vec<Assignment>> = tasks
        .chunks(plan.report_batch.max(1))
        .map(<[Assignment]>::to_vec)
        .collect();
    let lanes = plan.report_concurrency.min(requests.len()).max(1);
    let mut per_lane: Vec<Vec<Vec<Assignment>>> = vec![Vec::new(); lanes];
    for (i, request) in requests.into_iter().enumerate() {
        per_lane[i % lanes].push(request);
    }
    let batched = plan.report_batch > 1;
    let mut reporting = JoinSet::new();
    for lane in per_lane {
        let worker = worker.clone();
        let shared = shared.clone();
        reporting.spawn(async move {
            let mut done = Vec::new();
            for request in lane {
                let accepted = if batched {
                    report_batch(&worker, &request, &shared).await
                } else {
                    let mut accepted = Vec::new();
                    for task in &request {
                        if report_one(&worker, task, &shared).await {
                            accepted.push(task.task_id);
                        }
                    }
                    accepted
                };
                worker.set_running(&request, false);
                let reported = Instant::now();
                done.extend(accepted.into_iter().map(|task| Handled {
                    task,
                    fetched,
                    reported,
                }));
                if let Some(events) = &shared.events {
                    for task in &request {
                        let _ = events.send(Event::Reported { task: task.task_id });
                    }
                }
            }
            done
        });
    }
    let mut handled = Vec::new();
    while let Some(joined) = reporting.join_next().await {
        if let Ok(done) = joined {
            handled.extend(done);
        }
    }
    handled
}

fn succeeded(task: &Assignment) -> TaskReport {
    TaskReport {
        task_id: task.task_id,
        attempt: task.attempt,
        outcome: ReportOutcome::Succeeded,
        exit_code: Some(0),
        stdout: String::new(),
        stderr: String::new(),
        stdout_truncated: false,
        stderr_truncated: false,
        error: None,
    }
}

/// Sends a report request up to [`REPORT_TRIES`] times: again when no answer
/// came or the coordinator failed, not when it refused. Counts the request
/// answered; `None` when it never was.
async fn send<T, F, Fut>(shared: &Shared, what: &str, mut call: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ClientError>>,
{
    for attempt in 1..=REPORT_TRIES {
        match call().await {
            Ok(answer) => {
                shared.counters.reports.fetch_add(1, Ordering::Relaxed);
                return Some(answer);
            }
            Err(error) => {
                tracing::warn!(attempt, %error, "{what} failed");
                let worth_retrying = error.status().is_none_or(|s| s.is_server_error());
                if !worth_retrying {
                    break;
                }
            }
        }
    }
    None
}

fn count_refused(shared: &Shared, refused: usize) {
    shared
        .counters
        .report_errors
        .fetch_add(refused as u64, Ordering::Relaxed);
}

/// Reports one task as succeeded alone (`/report`); whether it was recorded.
async fn report_one(worker: &SimWorker, task: &Assignment, shared: &Shared) -> bool {
    let report = succeeded(task);
    let recorded = send(shared, "report", || {
        worker.client.report(worker.id, &report)
    })
    .await
    .is_some();
    if !recorded {
        count_refused(shared, 1);
    }
    recorded
}

/// Reports `tasks` as succeeded in one request (`/reports`); returns the
/// tasks the coordinator recorded.
async fn report_batch(worker: &SimWorker, tasks: &[Assignment], shared: &Shared) -> Vec<TaskId> {
    let batch = ReportBatch {
        reports: tasks.iter().map(succeeded).collect(),
    };
    let answer = send(shared, "batched report", || {
        worker.client.report_batch(worker.id, &batch)
    })
    .await;
    let recorded: Vec<TaskId> = answer
        .map(|answer| {
            answer
                .results
                .iter()
                .filter(|result| result.state.is_some())
                .map(|result| result.task_id)
                .collect()
        })
        .unwrap_or_default();
    let refused = tasks.len() - recorded.len();
    if refused > 0 {
        tracing::warn!(refused, "reports not recorded");
        count_refused(shared, refused);
    }
    recorded
}
