//! Submitting tasks, one or a batch: validated, admitted under the queue
//! limit, stored in one statement, then offered to their candidates.

use std::collections::{BTreeMap, HashMap};

use sea_orm::{ConnectionTrait, TransactionTrait};
use switchyard_protocol::{SubmitTask, TaskId, TaskView};

use super::auth::Principal;
use super::dispatch::enqueue_rows;
use super::figures::Figures;
use super::{AppState, views};
use crate::domain::{NewTask, validate};
use crate::error::ApiError;
use crate::storage::{self, entities::task::Model, tasks::QueuedRow};

/// A submitted task, and whether this request created it (or an earlier
/// one with the same idempotency key did).
#[derive(Debug)]
pub struct Submitted {
    pub task: TaskView,
    pub created: bool,
}

/// Stores one task and offers it to its candidate workers.
pub async fn submit(
    state: &AppState,
    caller: &Principal,
    request: SubmitTask,
) -> Result<Submitted, ApiError> {
    caller.may_submit()?;
    let new = validate::submit(&request, state.settings().default_task_timeout)?;
    let mut submitted = store(state, &caller.name, vec![new])
        .await?
        .pop()
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("a submission stored no task")))?;
    views::add_position(state, &mut submitted.task);
    Ok(submitted)
}

/// Stores up to 1,000 tasks, all or none, and offers them to their candidates.
pub async fn submit_batch(
    state: &AppState,
    caller: &Principal,
    requests: Vec<SubmitTask>,
) -> Result<Vec<Submitted>, ApiError> {
    caller.may_submit()?;
    let new = validate::batch(&requests, state.settings().default_task_timeout)?;
    store(state, &caller.name, new).await
}

#[tracing::instrument(skip_all, fields(n = tasks.len()), err)]
async fn store(
    state: &AppState,
    owner: &str,
    tasks: Vec<NewTask>,
) -> Result<Vec<Submitted>, ApiError> {
    let max = state.settings().max_queued_tasks;
    let queued = Figures::of(state).queued(state, max).await?;
    let _admitted = state
        .admission()
        .admit(tasks.len(), queued, max)
        .ok_or(ApiError::QueueFull(max.unwrap_or(0)))?;

    // One transaction: a batch whose key clashes with other terms stores nothing.
    let txn = state.db().begin().await?;
    let rows = insert_or_find(&txn, owner, &tasks).await?;
    txn.commit().await?;

    let fresh: Vec<QueuedRow> = rows
        .iter()
        .filter(|(_, created)| *created)
        .map(|(row, _)| QueuedRow::from(row))
        .collect();
    state.metrics().tasks_submitted(fresh.len() as u64);
    enqueue_rows(state, &fresh);
    let (rows, created): (Vec<Model>, Vec<bool>) = rows.into_iter().unzip();
    // The tasks are stored: a failure to tell why they wait leaves the
    // reasons out rather than failing the submission (a retry without an
    // idempotency key would store them twice).
    let waiting = views::waiting(state, Figures::of(state), &rows)
        .await
        .unwrap_or_else(|error| {
            tracing::warn!(%error, "cannot tell why the submitted tasks wait");
            vec![None; rows.len()]
        });
    Ok(rows
        .into_iter()
        .zip(waiting)
        .zip(created)
        .map(|((row, waiting), created)| Submitted {
            task: views::task(row, waiting),
            created,
        })
        .collect())
}

/// Inserts `tasks`; for each one whose idempotency key was used before (or
/// earlier in the same batch), finds that task instead. Each row comes with
/// whether it was created now.
async fn insert_or_find(
    db: &impl ConnectionTrait,
    owner: &str,
    tasks: &[NewTask],
) -> Result<Vec<(Model, bool)>, ApiError> {
    let inserted = storage::tasks::insert_many(db, owner, tasks).await?;
    let keys: Vec<String> = tasks
        .iter()
        .zip(&inserted)
        .filter(|(_, row)| row.is_none())
        .filter_map(|(task, _)| task.idempotency_key.clone())
        .collect();
    let existing: HashMap<String, Model> = if keys.is_empty() {
        HashMap::new()
    } else {
        storage::tasks::by_idempotency_keys(db, owner, &keys)
            .await?
            .into_iter()
            .filter_map(|row| row.idempotency_key.clone().map(|key| (key, row)))
            .collect()
    };
    tasks
        .iter()
        .zip(inserted)
        .map(|(task, row)| match row {
            Some(row) => Ok((row, true)),
            None => {
                let found = task
                    .idempotency_key
                    .as_ref()
                    .and_then(|key| existing.get(key))
                    .cloned()
                    .ok_or_else(|| {
                        ApiError::Internal(anyhow::anyhow!(
                            "a task was not inserted and has no idempotency key match"
                        ))
                    })?;
                if same_terms(task, &found) {
                    Ok((found, false))
                } else {
                    Err(ApiError::TaskExists(TaskId(found.id)))
                }
            }
        })
        .collect()
}

/// Whether a stored task was submitted with the same terms as `task`.
fn same_terms(task: &NewTask, row: &Model) -> bool {
    let env: BTreeMap<String, String> = serde_json::from_value(row.env.clone()).unwrap_or_default();
    task.argv == row.argv
        && task.env == env
        && task.working_dir == row.working_dir
        && task.tags == row.tags
        && task.labels == row.labels
        && task.priority == row.priority
        && task.timeout_secs == row.timeout_secs
        && task.max_attempts == row.max_attempts
}
