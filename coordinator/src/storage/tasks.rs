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
    let sql = format!(
        "SELECT {COLUMNS} FROM tasks WHERE owner = $1 AND idempotency_key = ANY($2)"
    );
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
    Model::find_by_statement(stmt(&sql, [id.0.into(), priority.into(), tags.to_vec().into()]))
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

/// Hands queued tasks to `worker`: each one still `queued`, and still
/// matching the worker's tags, becomes `running` with its attempt counted and
/// recorded. Other tasks are left alone and absent from the answer; this
/// UPDATE, not the dispatcher, decides.
#[tracing::instrument(skip_all, fields(worker_id = %worker, n = tasks.len()), err)]
pub async fn assign(
    db: &impl ConnectionTrait,
    worker: WorkerId,
    tasks: &[TaskId],
) -> Result<Vec<Model>, DbErr> {
    let sql = format!(
        "WITH assigned AS ( \
             UPDATE tasks SET state = 'running', worker_id = $1, attempts = attempts + 1, \
                 started_at = now(), finished_at = NULL, not_before = NULL \
             WHERE id = ANY($2) AND state = 'queued' \
               AND tags <@ (SELECT tags FROM workers WHERE id = $1) \
             RETURNING {COLUMNS}), \
         recorded AS ( \
             INSERT INTO task_attempts (task_id, attempt, worker_id, started_at) \
             SELECT id, attempts, worker_id, started_at FROM assigned) \
         SELECT * FROM assigned"
    );
    Model::find_by_statement(stmt(&sql, [worker.0.into(), ids(tasks)]))
        .all(db)
        .await
}

/// Wraps `update`, an `UPDATE tasks … RETURNING {COLUMNS}` that ends running
/// attempts, so that the same statement closes their `task_attempts` rows
/// with `outcome` and `exit_code` (SQL expressions over the changed row `c`).
fn closing_attempts(update: &str, outcome: &str, exit_code: &str) -> String {
    format!(
        "WITH changed AS ({update}), \
         closed AS ( \
             UPDATE task_attempts a SET finished_at = now(), outcome = {outcome}, \
                 exit_code = {exit_code}, error = c.error \
             FROM changed c WHERE a.task_id = c.id AND a.attempt = c.attempts) \
         SELECT * FROM changed"
    )
}

/// What a report writes.
#[derive(Debug, Clone)]
pub struct Finish {
    pub task: TaskId,
    pub worker: WorkerId,
    pub attempt: i32,
    /// The new state: a final one, or `queued` for a retry.
    pub state: TaskState,
    /// How the attempt itself ended, as recorded in `task_attempts`.
    pub outcome: &'static str,
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
    let update = format!(
        "UPDATE tasks SET state = $4::task_state, not_before = $5, exit_code = $6, stdout = $7, \
             stderr = $8, stdout_truncated = $9, stderr_truncated = $10, error = $11, \
             finished_at = now() \
         WHERE id = $1 AND worker_id = $2 AND attempts = $3 AND state = 'running' \
         RETURNING {COLUMNS}"
    );
    let sql = closing_attempts(&update, "$12", "c.exit_code");
    let values: [Value; 12] = [
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
        finish.outcome.into(),
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

/// Wraps a release so the lost attempts are closed as `lost` (or
/// `cancelled` when a user had asked for that).
fn release(update: &str) -> String {
    closing_attempts(
        update,
        "CASE WHEN c.cancel_requested THEN 'cancelled' ELSE 'lost' END",
        "NULL",
    )
}

/// A worker that left or died loses every running task (see [`RELEASE_SET`]).
#[tracing::instrument(skip_all, fields(worker_id = %worker), err)]
pub async fn release_running_of(
    db: &impl ConnectionTrait,
    worker: WorkerId,
    lost_limit: i32,
) -> Result<Vec<Model>, DbErr> {
    let sql = release(&format!(
        "UPDATE tasks SET {RELEASE_SET} WHERE worker_id = $2 AND state = 'running' \
         RETURNING {COLUMNS}"
    ));
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
    let sql = release(&format!(
        "UPDATE tasks SET {RELEASE_SET} WHERE worker_id = $2 AND state = 'running' \
           AND NOT (id = ANY($3)) AND started_at < now() - make_interval(secs => $4) \
         RETURNING {COLUMNS}"
    ));
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
    let sql = release(&format!(
        "UPDATE tasks SET {RELEASE_SET} WHERE state = 'running' AND worker_id IN \
             (SELECT w.id FROM workers w JOIN tasks t ON t.worker_id = w.id \
              WHERE t.state = 'running' AND w.state = 'gone') \
         RETURNING {COLUMNS}"
    ));
    Model::find_by_statement(stmt(&sql, [lost_limit.into()]))
        .all(db)
        .await
}

/// Running tasks whose timeout plus `grace_secs` has passed with no report
/// (their agent is hung or cut off): each is retried after a back-off when
/// attempts are left, and ends `timed_out` otherwise.
#[tracing::instrument(skip_all, err)]
pub async fn expire_overdue(
    db: &impl ConnectionTrait,
    grace_secs: f64,
    retry_base_secs: f64,
    retry_max_secs: f64,
) -> Result<Vec<Model>, DbErr> {
    let update = format!(
        "UPDATE tasks SET \
             state = CASE WHEN attempts < max_attempts AND NOT cancel_requested \
                          THEN 'queued'::task_state \
                          WHEN cancel_requested THEN 'cancelled'::task_state \
                          ELSE 'timed_out'::task_state END, \
             not_before = CASE WHEN attempts < max_attempts AND NOT cancel_requested \
                 THEN now() + make_interval(secs => \
                     LEAST($3, $2 * power(2, attempts - 1)) * (1 + random() / 4)) END, \
             finished_at = now(), exit_code = NULL, \
             error = 'no report within the timeout plus ' || $1::text || 's: presumed hung' \
         WHERE state = 'running' \
           AND started_at + make_interval(secs => timeout_secs + $1) < now() \
         RETURNING {COLUMNS}"
    );
    let sql = closing_attempts(
        &update,
        "CASE WHEN c.state = 'cancelled' THEN 'cancelled' ELSE 'timed_out' END",
        "NULL",
    );
    let values: [Value; 3] = [grace_secs.into(), retry_base_secs.into(), retry_max_secs.into()];
    Model::find_by_statement(stmt(&sql, values)).all(db).await
}

/// One attempt of a task, as recorded.
#[derive(Debug, Clone, FromQueryResult)]
pub struct AttemptRow {
    pub attempt: i32,
    pub worker_id: i64,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub outcome: Option<String>,
    pub exit_code: Option<i32>,
    pub error: Option<String>,
}

/// Every attempt of task `id`, first to last.
pub async fn attempts(db: &impl ConnectionTrait, id: TaskId) -> Result<Vec<AttemptRow>, DbErr> {
    AttemptRow::find_by_statement(stmt(
        "SELECT attempt, worker_id, started_at, finished_at, outcome, exit_code, error \
         FROM task_attempts WHERE task_id = $1 ORDER BY attempt",
        [id.0.into()],
    ))
    .all(db)
    .await
}

/// Which of `listed` are running on `worker` in the database; the rest the
/// agent should stop (they were timed out, cancelled or taken away).
pub async fn running_among(
    db: &impl ConnectionTrait,
    worker: WorkerId,
    listed: &[TaskId],
) -> Result<Vec<TaskId>, DbErr> {
    let rows = IdRow::find_by_statement(stmt(
        "SELECT id FROM tasks WHERE id = ANY($2) AND worker_id = $1 AND state = 'running'",
        [worker.0.into(), ids(listed)],
    ))
    .all(db)
    .await?;
    Ok(rows.into_iter().map(|r| TaskId(r.id)).collect())
}
