//! A simulated worker's reports: every task it fetched, reported as
//! succeeded at once, a few at a time.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use switchyard_protocol::{Assignment, ReportOutcome, TaskReport};
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::shared::{Event, Shared};
use crate::workers::{FleetPlan, Handled, SimWorker};

/// Tries of one report when the coordinator does not answer.
const REPORT_TRIES: u32 = 3;

/// Reports `tasks` as succeeded, `plan.report_concurrency` at a time;
/// returns those the coordinator accepted.
pub(crate) async fn report_all(
    worker: &Arc<SimWorker>,
    tasks: Vec<Assignment>,
    fetched: Instant,
    plan: &FleetPlan,
    shared: &Arc<Shared>,
) -> Vec<Handled> {
    let lanes = plan.report_concurrency.min(tasks.len()).max(1);
    let mut per_lane: Vec<Vec<Assignment>> = vec![Vec::new(); lanes];
    for (i, task) in tasks.into_iter().enumerate() {
        per_lane[i % lanes].push(task);
    }
    let mut reporting = JoinSet::new();
    for lane in per_lane {
        let worker = worker.clone();
        let shared = shared.clone();
        reporting.spawn(async move {
            let mut done = Vec::with_capacity(lane.len());
            for task in lane {
                let reported = report_one(&worker, &task, &shared).await;
                worker.set_running(std::slice::from_ref(&task), false);
                if reported {
                    done.push(Handled {
                        task: task.task_id,
                        fetched,
                        reported: Instant::now(),
                    });
                }
                if let Some(events) = &shared.events {
                    let _ = events.send(Event::Reported { task: task.task_id });
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

/// Reports one task as succeeded; retries when no answer came or the
/// coordinator failed, not when it refused.
async fn report_one(worker: &SimWorker, task: &Assignment, shared: &Shared) -> bool {
    let report = TaskReport {
        task_id: task.task_id,
        attempt: task.attempt,
        outcome: ReportOutcome::Succeeded,
        exit_code: Some(0),
        stdout: String::new(),
        stderr: String::new(),
        stdout_truncated: false,
        stderr_truncated: false,
        error: None,
    };
    for attempt in 1..=REPORT_TRIES {
        match worker.client.report(worker.id, &report).await {
            Ok(_) => {
                shared.counters.reports.fetch_add(1, Ordering::Relaxed);
                return true;
            }
            Err(error) => {
                let retry = error.status().is_none_or(|s| s.is_server_error());
                tracing::warn!(task_id = %task.task_id, attempt, %error, "report failed");
                if !retry || attempt == REPORT_TRIES {
                    break;
                }
            }
        }
    }
    shared
        .counters
        .report_errors
        .fetch_add(1, Ordering::Relaxed);
    false
}
