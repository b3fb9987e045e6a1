//! Reading (and waiting for the end of), listing, changing, cancelling and
//! retrying tasks.

use std::time::Duration;

use switchyard_protocol::{
    AttemptView, ClusterRole, ListTasksQuery, TaskId, TaskPage, TaskView, UpdateTask, WorkerId,
};

use super::auth::Principal;
use super::dispatch::enqueue_row;
use super::figures::Figures;
use super::{AppState, views};
use crate::domain::{InvalidStateTransition, TaskState, validate};
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
pub(super) async fn find_for(
    state: &AppState,
    caller: &Principal,
    id: TaskId,
) -> Result<Model, ApiError> {
    let row = find(state, id).await?;
    caller.may_see_task(id, &row.owner)?;
    Ok(row)
}

/// One task, live or archived.
pub async fn get(state: &AppState, caller: &Principal, id: TaskId) -> Result<TaskView, ApiError> {
    Ok(views::task_detailed(state, find_for(state, caller, id).await?).await?)
}

/// One task, answered when it has finished or after `wait`, whichever comes
/// first. The leader learns of every end as it records it and wakes the
/// wait then; a standby does not, and sends an unfinished task's waiter to
/// the leader.
#[tracing::instrument(skip_all, fields(task_id = %id), err)]
pub async fn wait_for_end(
    state: &AppState,
    caller: &Principal,
    id: TaskId,
    wait: Duration,
) -> Result<TaskView, ApiError> {
    // Watching before reading: an end recorded after the read wakes it.
    let mut watching = state.watch().subscribe(id);
    let row = find_for(state, caller, id).await?;
    if wait.is_zero() || row.state.is_final() {
        return Ok(views::task_detailed(state, row).await?);
    }
    state.require_leader()?;
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        if watching.now().ended.is_some() || state.role() != ClusterRole::Leader {
            break;
        }
        tokio::select! {
            () = watching.changed() => {}
            () = tokio::time::sleep_until(deadline) => break,
            () = state.shutdown().cancelled() => break,
        }
    }
    drop(watching);
    get(state, caller, id).await
}

/// A page of tasks, newest first: live ones, or archived ones when the
/// query says `archived=true`.
pub async fn list(
    state: &AppState,
    caller: &Principal,
    query: ListTasksQuery,
) -> Result<TaskPage, ApiError> {
    let owner = match (caller.task_owner_filter()?, query.owner) {
        (None, wanted) => wanted,
        (Some(own), None) => Some(own),
        (Some(own), Some(wanted)) if wanted == own => Some(own),
        // A user sees only their own tasks: someone else's are none.
        (Some(_), Some(_)) => {
            return Ok(TaskPage {
                tasks: Vec::new(),
                next_cursor: None,
            });
        }
    };
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

/// The tasks worker `worker` runs that `caller` may see (every one for
/// admins, their own for users), newest first, at most a page.
pub async fn running_on_worker(
    state: &AppState,
    caller: &Principal,
    worker: WorkerId,
) -> Result<Vec<TaskView>, ApiError> {
    let owner = caller.task_owner_filter()?;
    let rows =
        storage::tasks::running_on_worker(state.db(), worker, owner, u64::from(DEFAULT_PAGE_SIZE))
            .await?;
    Ok(views::tasks_now(state, rows).await?)
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
                    state.watch().ended([(id, TaskState::Cancelled)]);
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

/// Runs a finished task again: it is queued for one more attempt (its
/// `max_attempts` grows when it has used them all), keeping its earlier
/// attempts, output and last error until the new attempt ends. Only a
/// finished task that has not been archived can be retried.
#[tracing::instrument(skip_all, fields(task_id = %id), err)]
pub async fn retry(state: &AppState, caller: &Principal, id: TaskId) -> Result<TaskView, ApiError> {
    // Only a finished task: a running one may go back to the queue too,
    // but by its worker's report, not by a user.
    let not_finished = |from: TaskState| {
        ApiError::from(InvalidStateTransition {
            from: from.into(),
            to: TaskState::Queued.into(),
        })
    };
    let row = find_for(state, caller, id).await?;
    if !row.state.is_final() {
        return Err(not_finished(row.state));
    }
    let max = state.settings().max_queued_tasks;
    let queued = Figures::of(state).queued(state, max).await?;
    let _admitted = state
        .admission()
        .admit(1, queued, max)
        .ok_or(ApiError::QueueFull(max.unwrap_or(0)))?;
    let Some(row) = storage::tasks::retry(state.db(), id).await? else {
        // Archived, or queued again by someone else meanwhile.
        return Err(match storage::tasks::get(state.db(), id).await? {
            None => ApiError::Archived(id),
            Some(now) if !now.state.is_final() => not_finished(now.state),
            Some(_) => ApiError::Internal(anyhow::anyhow!("task {id} could not be retried")),
        });
    };
    state.metrics().task_retried();
    enqueue_row(state, &QueuedRow::from(&row));
    Ok(views::task_now(state, row).await?)
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
