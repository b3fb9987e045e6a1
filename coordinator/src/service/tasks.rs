//! Reading, listing, changing and cancelling tasks.

use switchyard_protocol::{
    AttemptView, ListTasksQuery, TaskId, TaskPage, TaskView, UpdateTask, WorkerId,
};

use super::auth::Principal;
use super::dispatch::enqueue_row;
use super::{AppState, views};
use crate::domain::{TaskState, validate};
use crate::error::ApiError;
use crate::storage::{self, entities::task::Model, tasks::ListFilter, tasks::QueuedRow};

const DEFAULT_PAGE_SIZE: u32 = 50;

/// A task's row, live or archived.
async fn find(state: &AppState, id: TaskId) -> Result<Model, ApiError> {
    match storage::tasks::get(state.db(), id).await? {
        Some(row) => Ok(row),
        // Retention moves a task in one statement: if it is not live, it is
        // archived (or never was).
        None => storage::archive::get(state.db(), id)
            .await?
            .ok_or(ApiError::TaskNotFound(id)),
    }
}

/// A task's row, live or archived, if `caller` may see it (404 otherwise).
async fn find_for(state: &AppState, caller: &Principal, id: TaskId) -> Result<Model, ApiError> {
    let row = find(state, id).await?;
    caller.may_see_task(id, &row.owner)?;
    Ok(row)
}

/// One task, live or archived.
pub async fn get(state: &AppState, caller: &Principal, id: TaskId) -> Result<TaskView, ApiError> {
    Ok(views::task_detailed(state, find_for(state, caller, id).await?).await?)
}

/// A page of tasks, newest first: live ones, or archived ones when the
/// query says `archived=true`.
pub async fn list(
    state: &AppState,
    caller: &Principal,
    query: ListTasksQuery,
) -> Result<TaskPage, ApiError> {
    let owner = caller.task_owner_filter()?;
    let limit = validate::page_size(query.limit.unwrap_or(DEFAULT_PAGE_SIZE))?;
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
    // Filters go to the database as parameters, but must still be text it
    // can hold (no NUL) and could match something.
    if let Some(tag) = &query.tag {
        validate::tag_filter(tag)?;
    }
    if let Some(label) = &query.label {
        validate::label("label", label)?;
    }
    let archived = query.archived.unwrap_or(false);
    let filter = ListFilter {
        state: query.state.map(TaskState::from),
        tag: query.tag,
        label: query.label,
        before,
        owner,
        limit: u64::from(limit) + 1,
    };
    let mut rows = if archived {
        storage::archive::list(state.db(), &filter).await?
    } else {
        storage::tasks::list(state.db(), &filter).await?
    };
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    let next_cursor = more
        .then(|| rows.last().map(|row| row.id.to_string()))
        .flatten();
    let tasks = views::tasks_now(state, rows).await?;
    Ok(TaskPage { tasks, next_cursor })
}

/// Cancels a task: a queued one ends at once; a running one is flagged, its
/// agent kills it at the next heartbeat and it ends `cancelled`. Cancelling a
/// cancelled task answers it again; any other finished task is a conflict.
#[tracing::instrument(skip_all, fields(task_id = %id), err)]
pub async fn cancel(
    state: &AppState,
    caller: &Principal,
    id: TaskId,
) -> Result<TaskView, ApiError> {
    // A task can move on between the read and the conditional update; a
    // few rounds settle it.
    for _ in 0..5 {
        let row = find_for(state, caller, id).await?;
        let changed = match row.state {
            TaskState::Queued => {
                let cancelled = storage::tasks::cancel_queued(state.db(), id).await?;
                if cancelled.is_some() {
                    state.dispatch().remove(id);
                    state
                        .metrics()
                        .task_finished(switchyard_protocol::TaskState::Cancelled);
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

/// Changes a queued task's priority or required tags; it is re-dispatched
/// under its new terms (new candidates, new place in the queues).
#[tracing::instrument(skip_all, fields(task_id = %id), err)]
pub async fn update(
    state: &AppState,
    caller: &Principal,
    id: TaskId,
    request: UpdateTask,
) -> Result<TaskView, ApiError> {
    let current = find_for(state, caller, id).await?;
    let not_queued = |state: TaskState| ApiError::NotQueued {
        task: id,
        state: state.into(),
    };
    if current.state != TaskState::Queued {
        return Err(not_queued(current.state));
    }
    let priority = validate::priority(request.priority.unwrap_or(current.priority))?;
    let tags = match &request.tags {
        Some(tags) => validate::tags("tags", tags)?,
        None => current.tags.clone(),
    };
    let Some(row) = storage::tasks::update_queued(state.db(), id, priority, &tags).await? else {
        // It left the queue between the read and the update.
        return Err(not_queued(find(state, id).await?.state));
    };
    // Out of every queue under the old terms, back in under the new ones. A
    // task popped by a fetch meanwhile is refused by the hand-over (its tags
    // no longer match) and offered again from the database.
    state.dispatch().remove(id);
    enqueue_row(state, &QueuedRow::from(&row));
    Ok(views::task_now(state, row).await?)
}

/// Every attempt of a task: who ran it, when, and how it ended.
pub async fn attempts(
    state: &AppState,
    caller: &Principal,
    id: TaskId,
) -> Result<Vec<AttemptView>, ApiError> {
    find_for(state, caller, id).await?;
    let rows = storage::attempts::attempts(state.db(), id).await?;
    Ok(rows
        .into_iter()
        .map(|row| AttemptView {
            attempt: row.attempt,
            worker_id: WorkerId(row.worker_id),
            started_at: row.started_at,
            finished_at: row.finished_at,
            outcome: row.outcome.map(Into::into),
            exit_code: row.exit_code,
            error: row.error,
        })
        .collect())
}
