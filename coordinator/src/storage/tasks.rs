//! Statements on `tasks`. Every state change is a conditional UPDATE that
//! names the state it starts from, so two racing requests cannot both win.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, Value};
use switchyard_protocol::{TaskId, WorkerId};

use super::entities::task::Model;
use super::stmt;
use crate::domain::{NewTask, TaskState};

/// The columns of a task row, with the enum read as text for sea-orm.
pub(super) const COLUMNS: &str = "id, owner, state::text AS state, argv, env, working_dir, tags, labels, \
    priority, timeout_secs, max_attempts, attempts, worker_id, cancel_requested, not_before, \
    exit_code, stdout, stderr, stdout_truncated, stderr_truncated, error, idempotency_key, \
    created_at, started_at, finished_at";

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
    let sql = format!(
        "WITH input AS ( \
             SELECT t, ord FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS x(t, ord)), \
         inserted AS ( \
             INSERT INTO tasks (owner, argv, env, working_dir, tags, labels, priority, \
                                timeout_secs, max_attempts, idempotency_key) \
             SELECT $2, {argv}, t->'env', t->>'working_dir', {tags}, {labels}, \
                    (t->>'priority')::int, (t->>'timeout_secs')::bigint, \
                    (t->>'max_attempts')::int, t->>'idempotency_key' \
             FROM input ORDER BY ord \
             ON CONFLICT (owner, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING \
             RETURNING {COLUMNS}) \
         SELECT * FROM inserted ORDER BY id",
        argv = text_array("argv"),
        tags = text_array("tags"),
        labels = text_array("labels"),
    );
    let values: [Value; 2] = [serde_json::Value::Array(input).into(), owner.into()];
    let inserted = Model::find_by_statement(stmt(&sql, values)).all(db).await?;

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

/// A JSON array field of `t` as `text[]`, in order.
fn text_array(field: &str) -> String {
    format!(
        "ARRAY(SELECT v FROM jsonb_array_elements_text(t->'{field}') WITH ORDINALITY AS a(v, i) \
         ORDER BY i)"
    )
}

/// Tasks of `owner` with these idempotency keys.
pub async fn by_idempotency_keys(
    db: &impl ConnectionTrait,
    owner: &str,
    keys: &[String],
) -> Result<Vec<Model>, DbErr> {
    let sql = format!("SELECT {COLUMNS} FROM tasks WHERE owner = $1 AND idempotency_key = ANY($2)");
    Model::find_by_statement(stmt(&sql, [owner.into(), keys.to_vec().into()]))
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
    let sql = format!(
        "UPDATE tasks SET priority = $2, tags = $3 WHERE id = $1 AND state = 'queued' \
         RETURNING {COLUMNS}"
    );
    Model::find_by_statement(stmt(
        &sql,
        [id.0.into(), priority.into(), tags.to_vec().into()],
    ))
    .one(db)
    .await
}

/// One task by id.
pub async fn get(db: &impl ConnectionTrait, id: TaskId) -> Result<Option<Model>, DbErr> {
    let sql = format!("SELECT {COLUMNS} FROM tasks WHERE id = $1");
    Model::find_by_statement(stmt(&sql, [id.0.into()]))
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
pub async fn list(db: &impl ConnectionTrait, filter: &ListFilter) -> Result<Vec<Model>, DbErr> {
    list_from(db, "tasks", filter).await
}

/// A page of the rows of `table` (`tasks` or `tasks_archive`, which share
/// their columns) matching `filter`, newest first.
#[tracing::instrument(skip(db, filter), err)]
pub(super) async fn list_from(
    db: &impl ConnectionTrait,
    table: &'static str,
    filter: &ListFilter,
) -> Result<Vec<Model>, DbErr> {
    let state = filter.state.map(|s| {
        use sea_orm::ActiveEnum;
        s.to_value()
    });
    let sql = format!(
        "SELECT {COLUMNS} FROM {table} \
         WHERE ($1::text IS NULL OR state = $1::task_state) \
           AND ($2::text IS NULL OR tags @> ARRAY[$2::text]) \
           AND ($3::text IS NULL OR labels @> ARRAY[$3::text]) \
           AND ($4::bigint IS NULL OR id < $4) \
           AND ($6::text IS NULL OR owner = $6) \
         ORDER BY id DESC LIMIT $5"
    );
    let values: [Value; 6] = [
        state.into(),
        filter.tag.clone().into(),
        filter.label.clone().into(),
        filter.before.into(),
        i64::try_from(filter.limit).unwrap_or(i64::MAX).into(),
        filter.owner.clone().into(),
    ];
    Model::find_by_statement(stmt(&sql, values)).all(db).await
}

/// Cancels a task that is still queued.
pub async fn cancel_queued(db: &impl ConnectionTrait, id: TaskId) -> Result<Option<Model>, DbErr> {
    let sql = format!(
        "UPDATE tasks SET state = 'cancelled', finished_at = now(), not_before = NULL \
         WHERE id = $1 AND state = 'queued' RETURNING {COLUMNS}"
    );
    Model::find_by_statement(stmt(&sql, [id.0.into()]))
        .one(db)
        .await
}

/// Flags a running task for its agent to kill at the next heartbeat.
pub async fn request_cancel(db: &impl ConnectionTrait, id: TaskId) -> Result<Option<Model>, DbErr> {
    let sql = format!(
        "UPDATE tasks SET cancel_requested = true WHERE id = $1 AND state = 'running' \
         RETURNING {COLUMNS}"
    );
    Model::find_by_statement(stmt(&sql, [id.0.into()]))
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
    QueuedRow::find_by_statement(stmt(
        "SELECT id, priority, tags, not_before, created_at FROM tasks WHERE state = 'queued' \
         ORDER BY priority DESC, id",
        [],
    ))
    .all(db)
    .await
}

/// The queued task `id`, if it is queued (for re-enqueueing after a retry back-off).
pub async fn queued_one(db: &impl ConnectionTrait, id: TaskId) -> Result<Option<QueuedRow>, DbErr> {
    QueuedRow::find_by_statement(stmt(
        "SELECT id, priority, tags, not_before, created_at FROM tasks WHERE id = $1 AND state = 'queued'",
        [id.0.into()],
    ))
    .one(db)
    .await
}

/// Those of `ids` that are queued, for re-enqueueing.
pub async fn queued_among(
    db: &impl ConnectionTrait,
    ids_: &[TaskId],
) -> Result<Vec<QueuedRow>, DbErr> {
    QueuedRow::find_by_statement(stmt(
        "SELECT id, priority, tags, not_before, created_at FROM tasks WHERE id = ANY($1) AND state = 'queued'",
        [ids(ids_)],
    ))
    .all(db)
    .await
}

/// Lets `ids` go from the lost-attempt fence: those still queued and
/// waiting may start now. Answers them, for re-enqueueing.
#[tracing::instrument(skip_all, fields(n = ids_.len()), err)]
pub async fn end_fence(
    db: &impl ConnectionTrait,
    ids_: &[TaskId],
) -> Result<Vec<QueuedRow>, DbErr> {
    QueuedRow::find_by_statement(stmt(
        "UPDATE tasks SET not_before = NULL \
         WHERE id = ANY($1) AND state::text = 'queued' AND not_before > now() \
         RETURNING id, priority, tags, not_before, created_at",
        [ids(ids_)],
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
    let rows = RunningRow::find_by_statement(stmt(
        "SELECT id, worker_id FROM tasks WHERE state = 'running' AND worker_id IS NOT NULL",
        [],
    ))
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
        "SELECT id FROM tasks WHERE id = ANY($1)",
        [ids(tasks)],
    ))
    .all(db)
    .await?;
    Ok(rows.into_iter().map(|row| TaskId(row.id)).collect())
}
