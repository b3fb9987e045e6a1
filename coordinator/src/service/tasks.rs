//! Submitting, reading, listing and cancelling tasks.

use chrono::{DateTime, Utc};
use switchyard_protocol::limits::MAX_PAGE_SIZE;
use switchyard_protocol::{ListTasksQuery, SubmitTask, TaskId, TaskPage, TaskView};

use super::{AppState, views};
use crate::dispatcher::QueuedTask;
use crate::domain::{TaskState, validate};
use crate::error::ApiError;
use crate::storage::{self, tasks::ListFilter, tasks::QueuedRow};

const DEFAULT_PAGE_SIZE: u32 = 50;

/// Stores a new task and offers it to its candidate workers.
#[tracing::instrument(skip_all, err)]
pub async fn submit(state: &AppState, request: SubmitTask) -> Result<TaskView, ApiError> {
    let new = validate::submit(&request, state.settings().default_task_timeout)?;
    let row = storage::tasks::insert(state.db(), &new).await?;
    tracing::debug!(task_id = row.id, "task submitted");
    enqueue(
        state,
        QueuedTask {
            id: TaskId(row.id),
            priority: row.priority,
            tags: row.tags.clone(),
        },
    );
    Ok(views::task_now(state, row))
}

/// Offers a queued task to the dispatcher and wakes whoever received it.
pub fn enqueue(state: &AppState, task: QueuedTask) {
    let woken = state.dispatcher().enqueue(task);
    state.wakers().wake(&woken);
}

/// Offers a queued row to the dispatcher now, or when its back-off ends.
pub fn enqueue_row(state: &AppState, row: QueuedRow) {
    let task = QueuedTask {
        id: TaskId(row.id),
        priority: row.priority,
        tags: row.tags,
    };
    match row.not_before {
        Some(at) if at > Utc::now() => enqueue_at(state, task.id, at),
        _ => enqueue(state, task),
    }
}

/// Enqueues task `id` once `at` has passed, if it is still queued then.
pub fn enqueue_at(state: &AppState, id: TaskId, at: DateTime<Utc>) {
    let delay = (at - Utc::now()).to_std().unwrap_or_default();
    let state = state.clone();
    let shutdown = state.shutdown().clone();
    state.clone().tracker().spawn(async move {
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = shutdown.cancelled() => return,
        }
        match storage::tasks::queued_one(state.db(), id).await {
            Ok(Some(row)) => enqueue(
                &state,
                QueuedTask {
                    id,
                    priority: row.priority,
                    tags: row.tags,
                },
            ),
            Ok(None) => {}
            // The task stays queued in the database; the next seed places it.
            Err(error) => {
                tracing::error!(task_id = %id, %error, "failed to re-enqueue after back-off")
            }
        }
    });
}

/// One task.
pub async fn get(state: &AppState, id: TaskId) -> Result<TaskView, ApiError> {
    let row = storage::tasks::get(state.db(), id)
        .await?
        .ok_or(ApiError::TaskNotFound(id))?;
    Ok(views::task_now(state, row))
}

/// A page of tasks, newest first.
pub async fn list(state: &AppState, query: ListTasksQuery) -> Result<TaskPage, ApiError> {
    let limit = query.limit.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(1..=MAX_PAGE_SIZE).contains(&limit) {
        return Err(validate::ValidationError {
            field: "limit".into(),
            message: format!("must be 1 to {MAX_PAGE_SIZE}"),
        }
        .into());
    }
    let before = match query.cursor.as_deref() {
        None => None,
        Some(cursor) => Some(
            cursor
                .parse::<i64>()
                .ok()
                .filter(|id| *id > 0)
                .ok_or_else(|| ApiError::BadRequest("invalid cursor".into()))?,
        ),
    };
    let filter = ListFilter {
        state: query.state.map(TaskState::from),
        tag: query.tag,
        label: query.label,
        before,
        limit: u64::from(limit) + 1,
    };
    let mut rows = storage::tasks::list(state.db(), &filter).await?;
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = more
        .then(|| rows.last().map(|row| row.id.to_string()))
        .flatten();
    let tasks = rows
        .into_iter()
        .map(|row| views::task_now(state, row))
        .collect();
    Ok(TaskPage { tasks, next_cursor })
}

/// Cancels a task: a queued one ends at once; a running one is flagged, its
/// agent kills it at the next heartbeat and it ends `cancelled`. Cancelling a
/// cancelled task answers it again; any other finished task is a conflict.
#[tracing::instrument(skip_all, fields(task_id = %id), err)]
pub async fn cancel(state: &AppState, id: TaskId) -> Result<TaskView, ApiError> {
    // A task can move on between the read and the conditional update; a
    // few rounds settle it.
    for _ in 0..5 {
        let row = storage::tasks::get(state.db(), id)
            .await?
            .ok_or(ApiError::TaskNotFound(id))?;
        let changed = match row.state {
            TaskState::Queued => {
                let cancelled = storage::tasks::cancel_queued(state.db(), id).await?;
                if cancelled.is_some() {
                    state.dispatcher().remove(id);
                }
                cancelled
            }
            TaskState::Running => storage::tasks::request_cancel(state.db(), id).await?,
            TaskState::Cancelled => return Ok(views::task(row, None)),
            // Final states cannot become cancelled: this answers the conflict.
            finished => {
                finished.transition(TaskState::Cancelled)?;
                None
            }
        };
        if let Some(row) = changed {
            return Ok(views::task(row, None));
        }
    }
    Err(ApiError::Internal(anyhow::anyhow!(
        "task {id} kept changing state while being cancelled"
    )))
}
