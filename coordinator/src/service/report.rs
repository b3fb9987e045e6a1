//! Recording how an attempt ended: a final state, or a retry after a back-off.

use std::time::Duration;

use chrono::Utc;
use switchyard_protocol::{ReportOutcome, TaskReport, TaskView, WorkerId};

use super::dispatch::enqueue_at;
use super::{AppState, views};
use crate::domain::{TaskState, validate};
use crate::error::ApiError;
use crate::storage::{self, attempts::Finish};

/// The back-off before attempt `attempt + 1`: doubling from `retry_base`,
/// capped at `retry_max`, plus up to a quarter more so retries spread out.
fn backoff(state: &AppState, attempt: i32) -> Duration {
    let settings = state.settings();
    let doublings = u32::try_from(attempt.saturating_sub(1))
        .unwrap_or(0)
        .min(20);
    let base = settings
        .retry_base
        .saturating_mul(1 << doublings)
        .min(settings.retry_max);
    let jitter = f64::from(Utc::now().timestamp_subsec_nanos() % 1000) / 4000.0;
    base.mul_f64(1.0 + jitter)
}

/// Records how an attempt ended: its final state, or a retry after a back-off.
#[tracing::instrument(skip_all, fields(worker_id = %worker, task_id = %report.task_id), err)]
pub async fn report(
    state: &AppState,
    worker: WorkerId,
    report: TaskReport,
) -> Result<TaskView, ApiError> {
    validate::report(&report)?;
    let task = report.task_id;
    let row = storage::tasks::get(state.db(), task)
        .await?
        .ok_or(ApiError::TaskNotFound(task))?;
    let not_assigned = ApiError::TaskNotAssigned {
        worker,
        task,
        attempt: report.attempt,
    };
    if row.state != TaskState::Running
        || row.worker_id != Some(worker.0)
        || row.attempts != report.attempt
    {
        return Err(not_assigned);
    }
    let retry = row.attempts < row.max_attempts && !row.cancel_requested;
    let (new_state, not_before) = match report.outcome {
        ReportOutcome::Succeeded => (TaskState::Succeeded, None),
        _ if row.cancel_requested => (TaskState::Cancelled, None),
        ReportOutcome::Cancelled => (TaskState::Cancelled, None),
        ReportOutcome::Failed | ReportOutcome::TimedOut if retry => {
            let delay = chrono::Duration::from_std(backoff(state, row.attempts))
                .unwrap_or(chrono::Duration::MAX);
            (TaskState::Queued, Some(Utc::now() + delay))
        }
        ReportOutcome::Failed => (TaskState::Failed, None),
        ReportOutcome::TimedOut => (TaskState::TimedOut, None),
    };
    row.state.transition(new_state)?;
    let finish = Finish {
        task,
        worker,
        attempt: report.attempt,
        state: new_state,
        outcome: match report.outcome {
            _ if row.cancel_requested && report.outcome != ReportOutcome::Succeeded => "cancelled",
            ReportOutcome::Succeeded => "succeeded",
            ReportOutcome::Failed => "failed",
            ReportOutcome::TimedOut => "timed_out",
            ReportOutcome::Cancelled => "cancelled",
        },
        not_before,
        exit_code: report.exit_code,
        stdout: validate::storable(&report.stdout),
        stderr: validate::storable(&report.stderr),
        stdout_truncated: report.stdout_truncated,
        stderr_truncated: report.stderr_truncated,
        error: report.error.as_deref().map(validate::storable),
    };
    let row = storage::attempts::finish(state.db(), &finish)
        .await?
        .ok_or(not_assigned)?;
    state.dispatcher().finish(worker, task);
    state.metrics().attempt_reported(new_state);
    state.wakers().wake(&[worker]);
    if let Some(at) = not_before {
        enqueue_at(state, task, at);
    }
    tracing::debug!(state = ?new_state, "attempt reported");
    Ok(views::task(row, None))
}
