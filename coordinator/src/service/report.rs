//! Recording how attempts ended: a final state, or a retry after a back-off.
//! One report or many, each is one statement in the database.

use std::collections::HashSet;

use switchyard_protocol::limits::{MAX_ERROR_BYTES, OUTPUT_TAIL_BYTES};
use switchyard_protocol::{
    ReportBatch, ReportBatchResponse, ReportResult, TaskId, TaskReport, TaskView, WorkerId,
};

use super::dispatch::enqueue_at;
use super::{AppState, finishes, views};
use crate::domain::{TaskState, validate};
use crate::error::ApiError;
use crate::storage::{self, attempts::Backoff, attempts::Ended, attempts::Finish};

fn backoff(state: &AppState) -> Backoff {
    let settings = state.settings();
    Backoff {
        base_secs: settings.retry_base.as_secs_f64(),
        max_secs: settings.retry_max.as_secs_f64(),
        lost_limit: settings.lost_attempt_limit,
    }
}

/// What the database records for `report`. Output is stored within its
/// limits after NUL is replaced (see [`validate::storable_tail`]); a stream
/// cut for that is marked truncated.
fn finish_of(worker: WorkerId, report: &TaskReport) -> Finish {
    let (stdout, stdout_cut) = validate::storable_tail(&report.stdout, OUTPUT_TAIL_BYTES);
    let (stderr, stderr_cut) = validate::storable_tail(&report.stderr, OUTPUT_TAIL_BYTES);
    Finish {
        task: report.task_id,
        worker,
        attempt: report.attempt,
        outcome: report.outcome.into(),
        exit_code: report.exit_code,
        stdout,
        stderr,
        stdout_truncated: report.stdout_truncated || stdout_cut,
        stderr_truncated: report.stderr_truncated || stderr_cut,
        error: report
            .error
            .as_deref()
            .map(|error| validate::storable_head(error, MAX_ERROR_BYTES)),
    }
}

/// Settles what the database recorded: the worker's slots are free again
/// (one dispatcher lock for all) and its long-poll may go on, and retries
/// wait for their back-off.
fn settle(state: &AppState, worker: WorkerId, ended: &[Ended]) {
    if ended.is_empty() {
        return;
    }
    let freed: Vec<(WorkerId, TaskId)> = ended.iter().map(|e| (worker, TaskId(e.id))).collect();
    state.dispatch().release(&freed, Vec::new());
    state
        .watch()
        .ended(ended.iter().map(|e| (TaskId(e.id), e.state)));
    for e in ended {
        state.metrics().attempt_reported(e.state);
        // A retry waits for its back-off; an interrupted attempt's task
        // goes back at once.
        if e.state == TaskState::Queued {
            enqueue_at(
                state,
                TaskId(e.id),
                e.not_before.unwrap_or_else(|| state.clock().now()),
            );
        }
    }
}

/// Records how one attempt ended: its final state, or a retry after a
/// back-off.
#[tracing::instrument(skip_all, fields(worker_id = %worker, task_id = %report.task_id), err)]
pub async fn report(
    state: &AppState,
    worker: WorkerId,
    report: TaskReport,
) -> Result<TaskView, ApiError> {
    state.require_leader()?;
    validate::report(&report)?;
    let task = report.task_id;
    let Some(row) = finishes::record(state, vec![finish_of(worker, &report)], backoff(state))
        .await?
        .pop()
    else {
        return Err(refused(state, worker, &report).await?);
    };
    settle(state, worker, std::slice::from_ref(&row));
    tracing::debug!(state = ?row.state, "attempt reported");
    // The task as it is now (a batch of reports answers states only).
    let task = storage::tasks::get(state.db(), task)
        .await?
        .ok_or(ApiError::TaskNotFound(task))?;
    Ok(views::task(task, None))
}

/// Why a report changed nothing: the task does not exist, or the worker
/// does not hold that attempt of it.
async fn refused(
    state: &AppState,
    worker: WorkerId,
    report: &TaskReport,
) -> Result<ApiError, ApiError> {
    let exists = storage::tasks::existing_among(state.db(), &[report.task_id]).await?;
    Ok(refusal(worker, report, !exists.is_empty()))
}

fn refusal(worker: WorkerId, report: &TaskReport, exists: bool) -> ApiError {
    if exists {
        ApiError::TaskNotAssigned {
            worker,
            task: report.task_id,
            attempt: report.attempt,
        }
    } else {
        ApiError::TaskNotFound(report.task_id)
    }
}

/// Records how several attempts ended, in one statement. Each report stands
/// alone: those the worker no longer holds are refused in the answer, the
/// others recorded. A malformed report refuses the whole batch, unwritten.
#[tracing::instrument(skip_all, fields(worker_id = %worker, n = batch.reports.len()), err)]
pub async fn report_batch(
    state: &AppState,
    worker: WorkerId,
    batch: ReportBatch,
) -> Result<ReportBatchResponse, ApiError> {
    state.require_leader()?;
    validate::report_batch(&batch)?;
    let ends: Vec<Finish> = batch
        .reports
        .iter()
        .map(|report| finish_of(worker, report))
        .collect();
    let recorded = finishes::record(state, ends, backoff(state)).await?;
    settle(state, worker, &recorded);
    let new_states: std::collections::HashMap<TaskId, TaskState> =
        recorded.iter().map(|e| (TaskId(e.id), e.state)).collect();
    let missing: Vec<TaskId> = batch
        .reports
        .iter()
        .map(|report| report.task_id)
        .filter(|task| !new_states.contains_key(task))
        .collect();
    let existing: HashSet<TaskId> = if missing.is_empty() {
        HashSet::new()
    } else {
        storage::tasks::existing_among(state.db(), &missing)
            .await?
            .into_iter()
            .collect()
    };
    let results = batch
        .reports
        .iter()
        .map(|report| match new_states.get(&report.task_id) {
            Some(new_state) => ReportResult {
                task_id: report.task_id,
                state: Some((*new_state).into()),
                error: None,
            },
            None => ReportResult {
                task_id: report.task_id,
                state: None,
                error: Some(refusal(worker, report, existing.contains(&report.task_id)).body()),
            },
        })
        .collect();
    tracing::debug!(
        recorded = recorded.len(),
        refused = missing.len(),
        "attempts reported"
    );
    Ok(ReportBatchResponse { results })
}
