//! Statements on `tasks`. Every state change is a conditional UPDATE that
//! names the state it starts from, so two racing requests cannot both win.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, Value};
use switchyard_protocol::{TaskId, WorkerId};

use super::entities::task::Model;
use super::stmt;
use crate::domain::{NewTask, TaskState};

/// The columns of a task row, with the enum read as text for sea-orm.
const COLUMNS: &str = "id, owner, state::text AS state, argv, env, working_dir, tags, labels, \
    priority, timeout_secs, max_attempts, attempts, worker_id, cancel_requested, not_before, \
    exit_code, stdout, stderr, stdout_truncated, stderr_truncated, error, idempotency_key, \
    created_at, started_at, finished_at";

fn ids(tasks: &[TaskId]) -> Value {
    tasks.iter().map(|id| id.0).collect::<Vec<i64>>().into()
}

/// Inserts a new queued task.
#[tracing::instrument(skip_all, err)]
pub async fn insert(db: &impl ConnectionTrait, task: &NewTask) -> Result<Model, DbErr> {
    let env = serde_json::to_value(&task.env).map_err(|e| DbErr::Custom(e.to_string()))?;
    let sql = format!(
        "INSERT INTO tasks (argv, env, working_dir, tags, labels, priority, timeout_secs, max_attempts) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {COLUMNS}"
    );
    let values: [Value; 8] = [
        task.argv.clone().into(),
        env.into(),
        task.working_dir.clone().into(),
        task.tags.clone().into(),
        task.labels.clone().into(),
        task.priority.into(),
        task.timeout_secs.into(),
        task.max_attempts.into(),
    ];
    Model::find_by_statement(stmt(&sql, values))
        .one(db)
        .await?
        .ok_or_else(|| DbErr::RecordNotInserted)
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
    pub limit: u64,
}

/// A page of tasks matching `filter`.
#[tracing::instrument(skip_all, err)]
pub async fn list(db: &impl ConnectionTrait, filter: &ListFilter) -> Result<Vec<Model>, DbErr> {
    let state = filter.state.map(|s| {
        use sea_orm::ActiveEnum;
        s.to_value()
    });
    let sql = format!(
        "SELECT {COLUMNS} FROM tasks \
         WHERE ($1::text IS NULL OR state = $1::task_state) \
           AND ($2::text IS NULL OR tags @> ARRAY[$2::text]) \
           AND ($3::text IS NULL OR labels @> ARRAY[$3::text]) \
           AND ($4::bigint IS NULL OR id < $4) \
         ORDER BY id DESC LIMIT $5"
    );
    let values: [Value; 5] = [
        state.into(),
        filter.tag.clone().into(),
        filter.label.clone().into(),
        filter.before.into(),
        (filter.limit as i64).into(),
    ];
    Model::find_by_statement(stmt(&sql, values)).all(db).await
}

/// Hands queued tasks to `worker`: each one still `queued` becomes `running`
/// with its attempt counted. Tasks no longer queued are left alone and
/// absent from the answer; this UPDATE, not the dispatcher, decides.
#[tracing::instrument(skip_all, fields(worker_id = %worker, n = tasks.len()), err)]
pub async fn assign(
    db: &impl ConnectionTrait,
    worker: WorkerId,
    tasks: &[TaskId],
) -> Result<Vec<Model>, DbErr> {
    let sql = format!(
        "UPDATE tasks SET state = 'running', worker_id = $1, attempts = attempts + 1, \
             started_at = now(), finished_at = NULL, not_before = NULL \
         WHERE id = ANY($2) AND state = 'queued' RETURNING {COLUMNS}"
    );
    Model::find_by_statement(stmt(&sql, [worker.0.into(), ids(tasks)]))
        .all(db)
        .await
}

/// What a report writes.
#[derive(Debug, Clone)]
pub struct Finish {
    pub task: TaskId,
    pub worker: WorkerId,
    pub attempt: i32,
    /// The new state: a final one, or `queued` for a retry.
    pub state: TaskState,
    /// For a retry: the earliest next start.
    pub not_before: Option<DateTime<Utc>>,
    pub exit_code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    pub error: Option<String>,
}

/// Records the end of a running attempt, if `worker` still holds that attempt.
#[tracing::instrument(skip_all, fields(task_id = %finish.task, worker_id = %finish.worker), err)]
pub async fn finish(db: &impl ConnectionTrait, finish: &Finish) -> Result<Option<Model>, DbErr> {
    use sea_orm::ActiveEnum;
    let sql = format!(
        "UPDATE tasks SET state = $4::task_state, not_before = $5, exit_code = $6, stdout = $7, \
             stderr = $8, stdout_truncated = $9, stderr_truncated = $10, error = $11, \
             finished_at = now() \
         WHERE id = $1 AND worker_id = $2 AND attempts = $3 AND state = 'running' \
         RETURNING {COLUMNS}"
    );
    let values: [Value; 11] = [
        finish.task.0.into(),
        finish.worker.0.into(),
        finish.attempt.into(),
        finish.state.to_value().into(),
        finish.not_before.into(),
        finish.exit_code.into(),
        finish.stdout.clone().into(),
        finish.stderr.clone().into(),
        finish.stdout_truncated.into(),
        finish.stderr_truncated.into(),
        finish.error.clone().into(),
    ];
    Model::find_by_statement(stmt(&sql, values)).one(db).await
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
struct IdRow {
    id: i64,
}

/// Running tasks of `worker` that a user asked to cancel.
pub async fn cancel_requested_of(
    db: &impl ConnectionTrait,
    worker: WorkerId,
) -> Result<Vec<TaskId>, DbErr> {
    let rows = IdRow::find_by_statement(stmt(
        "SELECT id FROM tasks WHERE worker_id = $1 AND state = 'running' AND cancel_requested",
        [worker.0.into()],
    ))
    .all(db)
    .await?;
    Ok(rows.into_iter().map(|r| TaskId(r.id)).collect())
}

/// A queued task as the dispatcher needs it.
#[derive(Debug, Clone, FromQueryResult)]
pub struct QueuedRow {
    pub id: i64,
    pub priority: i32,
    pub tags: Vec<String>,
    pub not_before: Option<DateTime<Utc>>,
}

/// Every queued task, in dispatch order (for seeding).
#[tracing::instrument(skip_all, err)]
pub async fn queued(db: &impl ConnectionTrait) -> Result<Vec<QueuedRow>, DbErr> {
    QueuedRow::find_by_statement(stmt(
        "SELECT id, priority, tags, not_before FROM tasks WHERE state = 'queued' \
         ORDER BY priority DESC, id",
        [],
    ))
    .all(db)
    .await
}

/// The queued task `id`, if it is queued (for re-enqueueing after a retry back-off).
pub async fn queued_one(db: &impl ConnectionTrait, id: TaskId) -> Result<Option<QueuedRow>, DbErr> {
    QueuedRow::find_by_statement(stmt(
        "SELECT id, priority, tags, not_before FROM tasks WHERE id = $1 AND state = 'queued'",
        [id.0.into()],
    ))
    .one(db)
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

/// The new state of a running task taken from its worker: back to `queued`
/// (its attempt stays counted), `failed` once it has been lost `$1` attempts
/// beyond its `max_attempts` (a task that kills its machine must not loop
/// forever), or `cancelled` when a user asked for that. `$1` is that limit.
const RELEASE_SET: &str = "state = CASE WHEN cancel_requested THEN 'cancelled'::task_state \
                  WHEN attempts >= max_attempts + $1 THEN 'failed'::task_state \
                  ELSE 'queued'::task_state END, \
     error = CASE WHEN cancel_requested THEN error \
                  ELSE 'worker ' || worker_id::text || ' was lost while running this task' END, \
     finished_at = CASE WHEN cancel_requested OR attempts >= max_attempts + $1 \
                        THEN now() ELSE NULL END";

/// A worker that left or died loses every running task (see [`RELEASE_SET`]).
#[tracing::instrument(skip_all, fields(worker_id = %worker), err)]
pub async fn release_running_of(
    db: &impl ConnectionTrait,
    worker: WorkerId,
    lost_limit: i32,
) -> Result<Vec<Model>, DbErr> {
    let sql = format!(
        "UPDATE tasks SET {RELEASE_SET} WHERE worker_id = $2 AND state = 'running' \
         RETURNING {COLUMNS}"
    );
    Model::find_by_statement(stmt(&sql, [lost_limit.into(), worker.0.into()]))
        .all(db)
        .await
}

/// Running tasks handed to `worker` more than `grace_secs` ago that its agent
/// does not list as running: the assignment never arrived (the fetch answer
/// was lost), so they are released like a lost worker's.
#[tracing::instrument(skip_all, fields(worker_id = %worker), err)]
pub async fn release_undelivered(
    db: &impl ConnectionTrait,
    worker: WorkerId,
    lost_limit: i32,
    running: &[TaskId],
    grace_secs: f64,
) -> Result<Vec<Model>, DbErr> {
    let sql = format!(
        "UPDATE tasks SET {RELEASE_SET} WHERE worker_id = $2 AND state = 'running' \
           AND NOT (id = ANY($3)) AND started_at < now() - make_interval(secs => $4) \
         RETURNING {COLUMNS}"
    );
    let values: [Value; 4] = [
        lost_limit.into(),
        worker.0.into(),
        ids(running),
        grace_secs.into(),
    ];
    Model::find_by_statement(stmt(&sql, values)).all(db).await
}

/// Running tasks whose worker is gone (it left while a hand-over was in
/// flight): released like a lost worker's. Returns them.
#[tracing::instrument(skip_all, err)]
pub async fn release_orphans(
    db: &impl ConnectionTrait,
    lost_limit: i32,
) -> Result<Vec<Model>, DbErr> {
    let sql = format!(
        "UPDATE tasks SET {RELEASE_SET} WHERE state = 'running' AND worker_id IN \
             (SELECT w.id FROM workers w JOIN tasks t ON t.worker_id = w.id \
              WHERE t.state = 'running' AND w.state = 'gone') \
         RETURNING {COLUMNS}"
    );
    Model::find_by_statement(stmt(&sql, [lost_limit.into()]))
        .all(db)
        .await
}
