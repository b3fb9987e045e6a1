//! The worker side: register, heartbeat, fetch, report, unregister.

use std::time::Duration;

use chrono::Utc;
use switchyard_protocol::limits::{MAX_FETCH, MAX_FETCH_WAIT_SECS};
use switchyard_protocol::{
    Assignment, FetchRequest, FetchResponse, HeartbeatRequest, HeartbeatResponse, RegisterWorker,
    ReportOutcome, TaskId, TaskReport, TaskView, UpdateWorker, WorkerId, WorkerView,
};
use tokio::time::Instant;

use super::tasks::enqueue;
use super::{AppState, views};
use crate::dispatcher::{QueuedTask, WorkerSpec};
use crate::domain::{TaskState, ValidationError, validate};
use crate::error::ApiError;
use crate::storage::{self, entities::task, tasks::Finish};

fn spec(id: WorkerId, tags: Vec<String>, slots: i32) -> WorkerSpec {
    WorkerSpec {
        id,
        tags,
        slots: u32::try_from(slots).unwrap_or(0),
    }
}

/// Records a new worker and gives it the queued work it matches.
#[tracing::instrument(skip_all, err)]
pub async fn register(state: &AppState, request: RegisterWorker) -> Result<WorkerView, ApiError> {
    let new = validate::register(&request)?;
    let row = storage::workers::insert(state.db(), &new).await?;
    let id = WorkerId(row.id);
    tracing::info!(worker_id = %id, name = %row.name, tags = ?row.tags, slots = row.slots, "worker registered");
    // Backfill only: in Balanced mode the new worker takes tasks nobody
    // holds, and work from longer queues when it fetches with an empty one;
    // an admin rebalance evens out the queues.
    let woken = state
        .dispatcher()
        .register(spec(id, row.tags.clone(), row.slots));
    state.wakers().wake(&woken);
    Ok(views::worker(state, row))
}

/// One worker.
pub async fn get(state: &AppState, id: WorkerId) -> Result<WorkerView, ApiError> {
    let row = storage::workers::get(state.db(), id)
        .await?
        .ok_or(ApiError::WorkerNotFound(id))?;
    Ok(views::worker(state, row))
}

/// Every worker that has not gone.
pub async fn list(state: &AppState) -> Result<Vec<WorkerView>, ApiError> {
    let rows = storage::workers::live(state.db()).await?;
    Ok(rows
        .into_iter()
        .map(|row| views::worker(state, row))
        .collect())
}

/// Changes a live worker's tags or slots. Queued tasks it no longer matches
/// go to their other candidates, tasks it now matches join its queue, and
/// what it runs is untouched.
#[tracing::instrument(skip_all, fields(worker_id = %id), err)]
pub async fn update(
    state: &AppState,
    id: WorkerId,
    request: UpdateWorker,
) -> Result<WorkerView, ApiError> {
    let current = storage::workers::get(state.db(), id)
        .await?
        .ok_or(ApiError::WorkerNotFound(id))?;
    let tags = match &request.tags {
        Some(tags) => validate::tags("tags", tags)?,
        None => current.tags,
    };
    let slots = validate::slots(request.slots.unwrap_or(current.slots))?;
    let Some(row) = storage::workers::update(state.db(), id, &tags, slots).await? else {
        return Err(ApiError::WorkerGone(id));
    };
    let woken = state
        .dispatcher()
        .update_worker(spec(id, row.tags.clone(), row.slots));
    state.wakers().wake(&woken);
    tracing::info!(tags = ?row.tags, slots = row.slots, "worker changed");
    Ok(views::worker(state, row))
}

/// The error for a worker the coordinator does not serve: unknown, or gone.
async fn not_served(state: &AppState, id: WorkerId) -> ApiError {
    match storage::workers::get(state.db(), id).await {
        Ok(Some(_)) => ApiError::WorkerGone(id),
        Ok(None) => ApiError::WorkerNotFound(id),
        Err(e) => e.into(),
    }
}

/// Notes that the worker lives; answers with the running tasks to kill.
/// When the agent lists what it runs, assignments that never reached it go
/// back to the queue.
pub async fn heartbeat(
    state: &AppState,
    id: WorkerId,
    request: HeartbeatRequest,
) -> Result<HeartbeatResponse, ApiError> {
    if storage::workers::heartbeat(state.db(), id).await?.is_none() {
        return Err(not_served(state, id).await);
    }
    if let Some(running) = &request.running {
        let grace = (state.settings().heartbeat_interval * 2).max(Duration::from_secs(10));
        let released = storage::tasks::release_undelivered(
            state.db(),
            id,
            state.settings().lost_attempt_limit,
            running,
            grace.as_secs_f64(),
        )
        .await?;
        if !released.is_empty() {
            tracing::warn!(worker_id = %id, n = released.len(), "assignments never reached the worker; requeued");
        }
        requeue_released(state, Some(id), released);
    }
    let cancel = storage::tasks::cancel_requested_of(state.db(), id).await?;
    Ok(HeartbeatResponse { cancel })
}

/// Puts tasks released from a worker back in the dispatcher, and frees their slots.
pub fn requeue_released(state: &AppState, from: Option<WorkerId>, rows: Vec<task::Model>) {
    for row in rows {
        let task = TaskId(row.id);
        if let Some(worker) = from.or(row.worker_id.map(WorkerId)) {
            state.dispatcher().finish(worker, task);
        }
        if row.state == TaskState::Queued {
            enqueue(
                state,
                QueuedTask {
                    id: task,
                    priority: row.priority,
                    tags: row.tags,
                },
            );
        }
    }
}

fn check_fetch(request: &FetchRequest) -> Result<(usize, Duration), ValidationError> {
    if !(1..=MAX_FETCH).contains(&request.max_tasks) {
        return Err(ValidationError {
            field: "max_tasks".into(),
            message: format!("must be 1 to {MAX_FETCH}"),
        });
    }
    if !(request.wait_secs.is_finite() && (0.0..=MAX_FETCH_WAIT_SECS).contains(&request.wait_secs))
    {
        return Err(ValidationError {
            field: "wait_secs".into(),
            message: format!("must be 0 to {MAX_FETCH_WAIT_SECS}"),
        });
    }
    Ok((
        request.max_tasks as usize,
        Duration::from_secs_f64(request.wait_secs),
    ))
}

/// Hands the worker up to `max_tasks` tasks from its queue, waiting up to
/// `wait_secs` for work to arrive. The dispatcher proposes; the database's
/// conditional update decides.
#[tracing::instrument(skip_all, fields(worker_id = %id))]
pub async fn fetch(
    state: &AppState,
    id: WorkerId,
    request: FetchRequest,
) -> Result<FetchResponse, ApiError> {
    let (max, wait) = check_fetch(&request)?;
    let deadline = Instant::now() + wait;
    let notify = state.wakers().get(id);
    loop {
        let notified = notify.notified();
        tokio::pin!(notified);
        // Register interest before looking, so a wake-up between the look
        // and the wait is not lost.
        notified.as_mut().enable();
        let popped = {
            let mut dispatcher = state.dispatcher();
            dispatcher
                .contains_worker(id)
                .then(|| dispatcher.fetch(id, max))
        };
        let Some(popped) = popped else {
            return Err(not_served(state, id).await);
        };
        if !popped.is_empty() {
            let tasks = hand_over(state, id, popped).await?;
            if !tasks.is_empty() {
                return Ok(FetchResponse { tasks });
            }
            continue;
        }
        tokio::select! {
            () = &mut notified => {}
            () = tokio::time::sleep_until(deadline) => return Ok(FetchResponse::default()),
            () = state.shutdown().cancelled() => return Ok(FetchResponse::default()),
        }
    }
}

/// Confirms popped tasks in the database and settles the dispatcher's
/// bookkeeping. Runs on its own task so that a client hanging up mid-request
/// cannot leave tasks half handed over.
async fn hand_over(
    state: &AppState,
    worker: WorkerId,
    popped: Vec<TaskId>,
) -> Result<Vec<Assignment>, ApiError> {
    let state = state.clone();
    let settle = tokio::spawn(async move {
        match storage::tasks::assign(state.db(), worker, &popped).await {
            Ok(rows) => {
                let confirmed: Vec<TaskId> = rows.iter().map(|row| TaskId(row.id)).collect();
                let abandoned: Vec<TaskId> = popped
                    .iter()
                    .copied()
                    .filter(|id| !confirmed.contains(id))
                    .collect();
                let mut dispatcher = state.dispatcher();
                dispatcher.confirm(worker, &confirmed);
                dispatcher.abandon(worker, &abandoned);
                Ok(rows)
            }
            Err(error) => {
                let woken = state.dispatcher().restore(worker, &popped);
                state.wakers().wake(&woken);
                Err(error)
            }
        }
    });
    let rows = settle.await.map_err(|e| {
        ApiError::Internal(anyhow::Error::new(e).context("hand-over task failed"))
    })??;
    Ok(rows
        .into_iter()
        .map(|row| Assignment {
            task_id: TaskId(row.id),
            attempt: row.attempts,
            env: serde_json::from_value(row.env).unwrap_or_default(),
            argv: row.argv,
            working_dir: row.working_dir,
            timeout_secs: row.timeout_secs,
        })
        .collect())
}

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
        not_before,
        exit_code: report.exit_code,
        stdout: validate::storable(&report.stdout),
        stderr: validate::storable(&report.stderr),
        stdout_truncated: report.stdout_truncated,
        stderr_truncated: report.stderr_truncated,
        error: report.error.as_deref().map(validate::storable),
    };
    let row = storage::tasks::finish(state.db(), &finish)
        .await?
        .ok_or(not_assigned)?;
    state.dispatcher().finish(worker, task);
    state.wakers().wake(&[worker]);
    if let Some(at) = not_before {
        super::tasks::enqueue_at(state, task, at);
    }
    tracing::debug!(state = ?new_state, "attempt reported");
    Ok(views::task(row, None))
}

/// Unregisters a worker: its queued tasks go to other candidates and the
/// tasks it was running go back to the queue. Idempotent.
#[tracing::instrument(skip_all, fields(worker_id = %id), err)]
pub async fn unregister(state: &AppState, id: WorkerId) -> Result<WorkerView, ApiError> {
    let row = match storage::workers::mark_gone(state.db(), id).await? {
        Some(row) => row,
        None => {
            let row = storage::workers::get(state.db(), id)
                .await?
                .ok_or(ApiError::WorkerNotFound(id))?;
            return Ok(views::worker(state, row));
        }
    };
    remove_from_dispatch(state, id).await?;
    tracing::info!(worker_id = %id, "worker unregistered");
    Ok(views::worker(state, row))
}

/// Takes a worker that is gone in the database out of dispatch: its queue
/// is redistributed, its running tasks released and re-dispatched.
pub async fn remove_from_dispatch(state: &AppState, id: WorkerId) -> Result<(), ApiError> {
    let unregistered = state.dispatcher().unregister(id);
    state.wakers().wake(&unregistered.woken);
    state.wakers().remove(id);
    let released =
        storage::tasks::release_running_of(state.db(), id, state.settings().lost_attempt_limit)
            .await?;
    requeue_released(state, None, released);
    Ok(())
}
