//! Statements on running attempts: handing tasks over, recording how each
//! attempt ended, and taking tasks back from workers that lost them. Each
//! statement also keeps `task_attempts` in step, in the same statement.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, Value};
use switchyard_protocol::{TaskId, WorkerId};

use super::entities::task::Model;
use super::stmt;
use super::tasks::{COLUMNS, ids};
use crate::domain::TaskState;

/// Hands queued tasks to workers, each pair `(task, worker)` of `handovers`:
/// each task still `queued`, and still matching its worker's tags, becomes
/// `running` on that worker with its attempt counted and recorded, in one
/// statement for all the workers. Other tasks are left alone and absent from
/// the answer; this UPDATE, not the dispatcher, decides.
///
/// The statement is shaped for one plan: for each pair, the task by its
/// primary key and the worker's tags by theirs. `state::text` keeps the
/// planner off the partial index `tasks_queued`: on statistics taken while
/// few tasks were queued it chose to scan that whole index for a 32-task
/// hand-over (36 ms instead of 0.8 ms with 30,000 queued). A join with
/// `workers` instead of the subquery went through the GIN index on tags;
/// `id = ANY(…)` beside the join made it rescan the input per task.
#[tracing::instrument(skip_all, fields(n = handovers.len()), err)]
pub async fn assign(
    db: &impl ConnectionTrait,
    handovers: &[(TaskId, WorkerId)],
) -> Result<Vec<Model>, DbErr> {
    let sql = format!(
        "WITH input AS ( \
             SELECT * FROM unnest($1::bigint[], $2::bigint[]) AS i(task_id, worker_id)), \
         assigned AS ( \
             UPDATE tasks t SET state = 'running', worker_id = i.worker_id, \
                 attempts = t.attempts + 1, started_at = now(), finished_at = NULL, \
                 not_before = NULL \
             FROM input i \
             WHERE t.id = i.task_id AND t.state::text = 'queued' \
               AND t.tags <@ (SELECT w.tags FROM workers w WHERE w.id = i.worker_id) \
             RETURNING t.*), \
         recorded AS ( \
             INSERT INTO task_attempts (task_id, attempt, worker_id, started_at) \
             SELECT id, attempts, worker_id, started_at FROM assigned) \
         SELECT {COLUMNS} FROM assigned"
    );
    let tasks: Vec<i64> = handovers.iter().map(|(task, _)| task.0).collect();
    let workers: Vec<i64> = handovers.iter().map(|(_, worker)| worker.0).collect();
    Model::find_by_statement(stmt(&sql, [tasks.into(), workers.into()]))
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

/// How one attempt ended, as a worker reported it.
#[derive(Debug, Clone)]
pub struct Finish {
    pub task: TaskId,
    pub worker: WorkerId,
    pub attempt: i32,
    /// How the worker saw it end: `succeeded`, `failed`, `timed_out`,
    /// `cancelled` or `interrupted`.
    pub outcome: &'static str,
    pub exit_code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    pub error: Option<String>,
}

/// Back-off before a retry: doubling from `base` per attempt made, capped
/// at `max`, plus up to a quarter more so retries spread out; and how many
/// attempts an agent may interrupt beyond `max_attempts` (as with lost ones).
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub base_secs: f64,
    pub max_secs: f64,
    pub lost_limit: i32,
}

/// Ends each reported attempt that its worker still holds, in one
/// statement. The task's new state follows from the outcome and the row:
/// `succeeded`; `cancelled` when the worker or a user cancelled it; `queued`
/// with a back-off in `not_before` when a failed or timed-out attempt has
/// attempts left; `failed` or `timed_out` otherwise. The attempt is closed
/// with the outcome (`cancelled` when a user asked, whatever the process
/// did, unless it succeeded). Reports whose attempt the worker no longer
/// holds change nothing and are absent from the answer. `returning` lists
/// the columns answered (of the changed task rows).
///
/// The ids again as an array, and the state compared as text, keep the
/// planner on the primary key (see [`assign`]); otherwise it scans every
/// running task to join them with the reports.
fn finish_sql(returning: &str) -> String {
    let retry = "NOT t.cancel_requested AND t.attempts < t.max_attempts \
                 AND i.r_outcome IN ('failed', 'timed_out')";
    // Interrupted by its agent, not by its own doing: runs again at once,
    // within the allowance for lost attempts ($5 beyond `max_attempts`).
    let again = "NOT t.cancel_requested AND i.r_outcome = 'interrupted' \
                 AND t.attempts < t.max_attempts + $5";
    format!(
        "WITH input AS ( \
             SELECT * FROM jsonb_to_recordset($1::jsonb) \
                 AS i(r_id bigint, r_worker bigint, r_attempt int, r_outcome text, \
                      r_exit_code int, r_stdout text, r_stderr text, \
                      r_stdout_truncated bool, r_stderr_truncated bool, r_error text)), \
         changed AS ( \
             UPDATE tasks t SET \
                 state = CASE WHEN i.r_outcome = 'succeeded' THEN 'succeeded' \
                              WHEN t.cancel_requested OR i.r_outcome = 'cancelled' THEN 'cancelled' \
                              WHEN {retry} OR {again} THEN 'queued' \
                              WHEN i.r_outcome = 'timed_out' THEN 'timed_out' \
                              ELSE 'failed' END::task_state, \
                 not_before = CASE WHEN {retry} THEN now() + make_interval(secs => \
                     LEAST($3, $2 * power(2, LEAST(t.attempts - 1, 20))) * (1 + random() / 4)) END, \
                 exit_code = i.r_exit_code, stdout = i.r_stdout, stderr = i.r_stderr, \
                 stdout_truncated = i.r_stdout_truncated, stderr_truncated = i.r_stderr_truncated, \
                 error = i.r_error, finished_at = now() \
             FROM input i \
             WHERE t.id = ANY($4) AND t.id = i.r_id AND t.worker_id = i.r_worker \
               AND t.attempts = i.r_attempt AND t.state::text = 'running' \
             RETURNING t.*, CASE WHEN t.cancel_requested AND i.r_outcome <> 'succeeded' \
                                 THEN 'cancelled' ELSE i.r_outcome END AS attempt_outcome), \
         closed AS ( \
             UPDATE task_attempts a SET finished_at = now(), outcome = c.attempt_outcome, \
                 exit_code = c.exit_code, error = c.error \
             FROM changed c WHERE a.task_id = c.id AND a.attempt = c.attempts) \
         SELECT {returning} FROM changed"
    )
}

fn finish_values(finishes: &[Finish], backoff: Backoff) -> [Value; 5] {
    let input: Vec<serde_json::Value> = finishes
        .iter()
        .map(|f| {
            serde_json::json!({
                "r_id": f.task.0,
                "r_worker": f.worker.0,
                "r_attempt": f.attempt,
                "r_outcome": f.outcome,
                "r_exit_code": f.exit_code,
                "r_stdout": f.stdout,
                "r_stderr": f.stderr,
                "r_stdout_truncated": f.stdout_truncated,
                "r_stderr_truncated": f.stderr_truncated,
                "r_error": f.error,
            })
        })
        .collect();
    [
        serde_json::Value::Array(input).into(),
        backoff.base_secs.into(),
        backoff.max_secs.into(),
        finishes.iter().map(|f| f.task.0).collect::<Vec<_>>().into(),
        backoff.lost_limit.into(),
    ]
}

/// Records the end of one running attempt, if its worker still holds it;
/// answers the whole task row.
#[tracing::instrument(skip_all, fields(task_id = %finish.task, worker_id = %finish.worker), err)]
pub async fn finish(
    db: &impl ConnectionTrait,
    finish: Finish,
    backoff: Backoff,
) -> Result<Option<Model>, DbErr> {
    let values = finish_values(std::slice::from_ref(&finish), backoff);
    Model::find_by_statement(stmt(&finish_sql(COLUMNS), values))
        .one(db)
        .await
}

/// A task whose running attempt a report ended: what the service needs to
/// settle the dispatcher and schedule a retry.
#[derive(Debug, Clone, FromQueryResult)]
pub struct Finished {
    pub id: i64,
    pub state: TaskState,
    pub not_before: Option<DateTime<Utc>>,
}

/// Records the end of each running attempt in `finishes` that its worker
/// still holds, in one statement; answers those recorded (see
/// [`finish_sql`]). The workers may differ.
#[tracing::instrument(skip_all, fields(n = finishes.len()), err)]
pub async fn finish_many(
    db: &impl ConnectionTrait,
    finishes: &[Finish],
    backoff: Backoff,
) -> Result<Vec<Finished>, DbErr> {
    let sql = finish_sql("id, state::text AS state, not_before");
    Finished::find_by_statement(stmt(&sql, finish_values(finishes, backoff)))
        .all(db)
        .await
}

/// The new state of a running task taken from its worker: back to `queued`
/// (its attempt stays counted), `failed` once it has been lost `$1` attempts
/// beyond its `max_attempts` (a task that kills its machine must not loop
/// forever), or `cancelled` when a user asked for that. A task back in the
/// queue waits `$2` seconds (the lost-attempt fence; none when 0).
const RELEASE_SET: &str = "state = CASE WHEN cancel_requested THEN 'cancelled'::task_state \
                  WHEN attempts >= max_attempts + $1 THEN 'failed'::task_state \
                  ELSE 'queued'::task_state END, \
     not_before = CASE WHEN NOT cancel_requested AND attempts < max_attempts + $1 AND $2 > 0 \
                       THEN now() + make_interval(secs => $2) END, \
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

/// How tasks taken from a worker go back: the allowance of lost attempts
/// beyond `max_attempts`, and the fence they wait behind.
#[derive(Debug, Clone, Copy)]
pub struct Release {
    pub lost_limit: i32,
    /// Seconds the tasks wait before they may run again; 0 when the worker's
    /// processes are known to be dead.
    pub fence_secs: f64,
}

/// A worker that left or died loses every running task (see [`RELEASE_SET`]).
#[tracing::instrument(skip_all, fields(worker_id = %worker), err)]
pub async fn release_running_of(
    db: &impl ConnectionTrait,
    worker: WorkerId,
    how: Release,
) -> Result<Vec<Model>, DbErr> {
    let sql = release(&format!(
        "UPDATE tasks SET {RELEASE_SET} WHERE worker_id = $3 AND state = 'running' \
         RETURNING {COLUMNS}"
    ));
    let values: [Value; 3] = [
        how.lost_limit.into(),
        how.fence_secs.into(),
        worker.0.into(),
    ];
    Model::find_by_statement(stmt(&sql, values)).all(db).await
}

/// Running tasks handed to `worker` more than `grace_secs` ago that its agent
/// does not list as running: the assignment never arrived (the fetch answer
/// was lost), so they are released like a lost worker's, with no fence.
#[tracing::instrument(skip_all, fields(worker_id = %worker), err)]
pub async fn release_undelivered(
    db: &impl ConnectionTrait,
    worker: WorkerId,
    lost_limit: i32,
    running: &[TaskId],
    grace_secs: f64,
) -> Result<Vec<Model>, DbErr> {
    let sql = release(&format!(
        "UPDATE tasks SET {RELEASE_SET} WHERE worker_id = $3 AND state = 'running' \
           AND NOT (id = ANY($4)) AND started_at < now() - make_interval(secs => $5) \
         RETURNING {COLUMNS}"
    ));
    let values: [Value; 5] = [
        lost_limit.into(),
        0f64.into(),
        worker.0.into(),
        ids(running),
        grace_secs.into(),
    ];
    Model::find_by_statement(stmt(&sql, values)).all(db).await
}

/// Running tasks whose worker is gone (it left while a hand-over was in
/// flight): released like a lost worker's. Returns them.
#[tracing::instrument(skip_all, err)]
pub async fn release_orphans(db: &impl ConnectionTrait, how: Release) -> Result<Vec<Model>, DbErr> {
    let sql = release(&format!(
        "UPDATE tasks SET {RELEASE_SET} WHERE state = 'running' AND worker_id IN \
             (SELECT w.id FROM workers w JOIN tasks t ON t.worker_id = w.id \
              WHERE t.state = 'running' AND w.state = 'gone') \
         RETURNING {COLUMNS}"
    ));
    let values: [Value; 2] = [how.lost_limit.into(), how.fence_secs.into()];
    Model::find_by_statement(stmt(&sql, values)).all(db).await
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

/// A task running on a worker, as its heartbeat needs it.
#[derive(Debug, Clone, FromQueryResult)]
pub struct Held {
    pub id: i64,
    /// A user asked to cancel it.
    pub cancel_requested: bool,
    /// Handed over more than the grace ago: if its agent does not list it,
    /// the assignment never arrived.
    pub overdue: bool,
}

/// The tasks running on `worker` in the database, each with whether a
/// cancel was asked and whether it was handed over more than `grace_secs`
/// ago. One read on the running-tasks index.
pub async fn held_by(
    db: &impl ConnectionTrait,
    worker: WorkerId,
    grace_secs: f64,
) -> Result<Vec<Held>, DbErr> {
    Held::find_by_statement(stmt(
        "SELECT id, cancel_requested, started_at < now() - make_interval(secs => $2) AS overdue \
         FROM tasks WHERE worker_id = $1 AND state = 'running'",
        [worker.0.into(), grace_secs.into()],
    ))
    .all(db)
    .await
}
