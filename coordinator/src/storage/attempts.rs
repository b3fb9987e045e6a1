//! Statements on running attempts: handing tasks over, recording how each
//! attempt ended, and taking tasks back from workers that lost them. Each
//! statement also keeps `task_attempts` in step, in the same statement.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, Value};
use switchyard_protocol::{TaskId, WorkerId};

use super::entities::task::Model;
use super::stmt;
use super::tasks::{COLUMNS, IdRow, ids};
use crate::domain::TaskState;

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
    let values: [Value; 3] = [
        grace_secs.into(),
        retry_base_secs.into(),
        retry_max_secs.into(),
    ];
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
