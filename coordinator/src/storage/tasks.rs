//! Statements on `tasks`. Every state change is a conditional UPDATE that
//! names the state it starts from, so two racing requests cannot both win.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveEnum, ConnectionTrait, DbErr, FromQueryResult, Value};
use switchyard_protocol::{TaskId, WorkerId};

use super::entities::task::Model;
use super::stmt;
use crate::domain::{Epoch, NewTask, TaskState};

pub(super) fn ids(tasks: &[TaskId]) -> Value {
    tasks.iter().map(|id| id.0).collect::<Vec<i64>>().into()
}

/// Inserts new queued tasks for `owner`, in one statement, in order.
/// A task whose idempotency key `owner` already used is not inserted; its
/// slot in the answer is `None` (see [`by_idempotency_keys`]).
#[tracing::instrument(skip_all, fields(n = tasks.len()), err)]
pub async fn insert_many(
    db: &impl ConnectionTrait,
    owner: &str,
    tasks: &[NewTask],
) -> Result<Vec<Option<Model>>, DbErr> {
    let input: Vec<serde_json::Value> = tasks
        .iter()
        .map(|task| {
            serde_json::json!({
                "argv": task.argv,
                "env": task.env,
                "working_dir": task.working_dir,
                "tags": task.tags,
                "labels": task.labels,
                "priority": task.priority,
                "timeout_secs": task.timeout_secs,
                "max_attempts": task.max_attempts,
                "idempotency_key": task.idempotency_key,
            })
        })
        .collect();
    let values: [Value; 2] = [serde_json::Value::Array(input).into(), owner.into()];
    let inserted =
        Model::find_by_statement(stmt(include_str!("sql/tasks/insert_many.sql"), values))
            .all(db)
            .await?;

    // Rows come back in insertion order, which is input order; keyed ones
    // are matched by key, since a conflict leaves a gap.
    let mut keyed: std::collections::HashMap<String, Model> = std::collections::HashMap::new();
    let mut unkeyed = Vec::new();
    for row in inserted {
        match row.idempotency_key.clone() {
            Some(key) => {
                keyed.insert(key, row);
            }
            None => unkeyed.push(row),
        }
    }
    let mut unkeyed = unkeyed.into_iter();
    Ok(tasks
        .iter()
        .map(|task| match &task.idempotency_key {
            Some(key) => keyed.remove(key),
            None => unkeyed.next(),
        })
        .collect())
}

/// Tasks of `owner` with these idempotency keys.
pub async fn by_idempotency_keys(
    db: &impl ConnectionTrait,
    owner: &str,
    keys: &[String],
) -> Result<Vec<Model>, DbErr> {
    Model::find_by_statement(stmt(
        include_str!("sql/tasks/by_idempotency_keys.sql"),
        [owner.into(), keys.to_vec().into()],
    ))
    .all(db)
    .await
}

/// Changes the priority and required tags of a task that is still queued.
pub async fn update_queued(
    db: &impl ConnectionTrait,
    id: TaskId,
    priority: i32,
    tags: &[String],
) -> Result<Option<Model>, DbErr> {
    Model::find_by_statement(stmt(
        include_str!("sql/tasks/update_queued.sql"),
        [id.0.into(), priority.into(), tags.to_vec().into()],
    ))
    .one(db)
    .await
}

/// One task by id.
pub async fn get(db: &impl ConnectionTrait, id: TaskId) -> Result<Option<Model>, DbErr> {
    Model::find_by_statement(stmt(include_str!("sql/tasks/get.sql"), [id.0.into()]))
        .one(db)
        .await
}

/// Filters of a listing; results come newest first.
#[derive(Debug, Clone, Default)]
pub struct ListFilter {
    pub state: Option<TaskState>,
    pub tag: Option<String>,
    pub label: Option<String>,
    /// Only ids below this one (the cursor).
    pub before: Option<i64>,
    /// Only tasks of this owner.
    pub owner: Option<String>,
    pub limit: u64,
}

/// A page of tasks matching `filter`.
#[tracing::instrument(skip_all, err)]
pub async fn list(db: &impl ConnectionTrait, filter: &ListFilter) -> Result<Vec<Model>, DbErr> {
    let sql = include_str!("sql/tasks/list.sql");
    Model::find_by_statement(stmt(sql, list_values(filter)))
        .all(db)
        .await
}

/// The parameters of a listing (`sql/tasks/list.sql`, `sql/archive/list.sql`).
pub(super) fn list_values(filter: &ListFilter) -> [Value; 6] {
    let state = filter.state.map(|s| s.to_value());
    [
        state.into(),
        filter.tag.clone().into(),
        filter.label.clone().into(),
        filter.before.into(),
        i64::try_from(filter.limit).unwrap_or(i64::MAX).into(),
        filter.owner.clone().into(),
    ]
}

/// Cancels a task that is still queued.
pub async fn cancel_queued(db: &impl ConnectionTrait, id: TaskId) -> Result<Option<Model>, DbErr> {
    Model::find_by_statement(stmt(
        include_str!("sql/tasks/cancel_queued.sql"),
        [id.0.into()],
    ))
    .one(db)
    .await
}

/// Flags a running task for its agent to kill at the next heartbeat.
pub async fn request_cancel(db: &impl ConnectionTrait, id: TaskId) -> Result<Option<Model>, DbErr> {
    Model::find_by_statement(stmt(
        include_str!("sql/tasks/request_cancel.sql"),
        [id.0.into()],
    ))
    .one(db)
    .await
}

#[derive(Debug, FromQueryResult)]
pub(super) struct IdRow {
    pub(super) id: i64,
}

/// A queued task as the dispatcher needs it.
#[derive(Debug, Clone, FromQueryResult)]
pub struct QueuedRow {
    pub id: i64,
    pub priority: i32,
    pub tags: Vec<String>,
    pub not_before: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

impl From<&Model> for QueuedRow {
    fn from(row: &Model) -> Self {
        Self {
            id: row.id,
            priority: row.priority,
            tags: row.tags.clone(),
            not_before: row.not_before,
            created_at: row.created_at,
        }
    }
}

/// Every queued task, in dispatch order (for seeding).
#[tracing::instrument(skip_all, err)]
pub async fn queued(db: &impl ConnectionTrait) -> Result<Vec<QueuedRow>, DbErr> {
    QueuedRow::find_by_statement(stmt(include_str!("sql/tasks/queued.sql"), []))
        .all(db)
        .await
}

/// Up to `limit` ids of queued tasks due now, above `after`, in id order.
pub async fn due_ids(
    db: &impl ConnectionTrait,
    after: TaskId,
    limit: u32,
) -> Result<Vec<TaskId>, DbErr> {
    let rows = IdRow::find_by_statement(stmt(
        include_str!("sql/tasks/due_ids.sql"),
        [after.0.into(), i64::from(limit).into()],
    ))
    .all(db)
    .await?;
    Ok(rows.into_iter().map(|row| TaskId(row.id)).collect())
}

/// The queued task `id`, if it is queued (for re-enqueueing after a retry back-off).
pub async fn queued_one(db: &impl ConnectionTrait, id: TaskId) -> Result<Option<QueuedRow>, DbErr> {
    Ok(queued_among(db, &[id]).await?.pop())
}

/// Those of `ids` that are queued, for re-enqueueing.
pub async fn queued_among(
    db: &impl ConnectionTrait,
    ids_: &[TaskId],
) -> Result<Vec<QueuedRow>, DbErr> {
    QueuedRow::find_by_statement(stmt(
        include_str!("sql/tasks/queued_among.sql"),
        [ids(ids_)],
    ))
    .all(db)
    .await
}

/// Lets `ids` go from the lost-attempt fence: those still queued and
/// waiting may start now. Answers them, for re-enqueueing. Fenced with
/// `epoch`.
#[tracing::instrument(skip_all, fields(n = ids_.len()), err)]
pub async fn end_fence(
    db: &impl ConnectionTrait,
    ids_: &[TaskId],
    epoch: Option<Epoch>,
) -> Result<Vec<QueuedRow>, DbErr> {
    QueuedRow::find_by_statement(stmt(
        include_str!("sql/tasks/end_fence.sql"),
        [ids(ids_), epoch.map(|e| e.0).into()],
    ))
    .all(db)
    .await
}

#[derive(Debug, FromQueryResult)]
struct RunningRow {
    id: i64,
    worker_id: i64,
}

/// Which worker runs which task, for every running task.
pub async fn running(db: &impl ConnectionTrait) -> Result<Vec<(WorkerId, TaskId)>, DbErr> {
    let rows = RunningRow::find_by_statement(stmt(include_str!("sql/tasks/running.sql"), []))
        .all(db)
        .await?;
    Ok(rows
        .into_iter()
        .map(|r| (WorkerId(r.worker_id), TaskId(r.id)))
        .collect())
}

/// Which of `tasks` exist in the hot table.
pub async fn existing_among(
    db: &impl ConnectionTrait,
    tasks: &[TaskId],
) -> Result<Vec<TaskId>, DbErr> {
    let rows = IdRow::find_by_statement(stmt(
        include_str!("sql/tasks/existing_among.sql"),
        [ids(tasks)],
    ))
    .all(db)
    .await?;
    Ok(rows.into_iter().map(|row| TaskId(row.id)).collect())
}
