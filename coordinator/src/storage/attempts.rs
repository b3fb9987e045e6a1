//! Statements on running attempts: handing tasks over, recording how each
//! attempt ended, and taking tasks back from workers that lost them. Each
//! statement also keeps `task_attempts` in step, in the same statement.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveEnum, ConnectionTrait, DbErr, FromQueryResult, Value};
use switchyard_protocol::{TaskId, WorkerId};

use super::entities::task::Model;
use super::tasks::ids;
use super::{column, stmt};
use crate::domain::{AttemptOutcome, Epoch, TaskState};

/// Hands queued tasks to workers, each pair `(task, worker)` of `handovers`:
/// each task still `queued`, and still matching its worker's tags, becomes
/// `running` on that worker with its attempt counted and recorded, in one
/// statement for all the workers. Other tasks are left alone and absent from
/// the answer; this UPDATE, not the dispatcher, decides. Answers each task
/// handed over as its agent needs it. (`sql/attempts/assign.sql`
/// says how the statement is shaped for one plan.) Fenced with `epoch`.
#[tracing::instrument(skip_all, fields(n = handovers.len()), err)]
pub async fn assign(
    db: &impl ConnectionTrait,
    handovers: &[(TaskId, WorkerId)],
    epoch: Epoch,
) -> Result<Vec<Handed>, DbErr> {
    Handed::find_by_statement(stmt(
        include_str!("sql/attempts/assign.sql"),
        [
            column(handovers, |(task, _)| task.0),
            column(handovers, |(_, worker)| worker.0),
            epoch.0.into(),
        ],
    ))
    .all(db)
    .await
}

/// A task [`assign`] handed over: what its agent needs to run it, and the
/// times its wait is measured by.
#[derive(Debug, Clone, PartialEq, FromQueryResult)]
pub struct Handed {
    pub id: i64,
    /// The attempt now running (from 1).
    pub attempts: i32,
    pub timeout_secs: i64,
    pub created_at: DateTime<Utc>,
    pub started_at: Option<DateTime<Utc>>,
    pub argv: Vec<String>,
    pub env: serde_json::Value,
    pub working_dir: Option<String>,
}

/// How one attempt ended, as a worker reported it.
#[derive(Debug, Clone)]
pub struct Finish {
    pub task: TaskId,
    pub worker: WorkerId,
    pub attempt: i32,
    /// How the worker saw it end (never [`AttemptOutcome::Lost`]: only the
    /// coordinator decides that).
    pub outcome: AttemptOutcome,
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

/// `finish_many`'s parameters, as `sql/attempts/finish.sql` numbers them:
/// the reports as one typed array per field, each optional one with a
/// second array saying where it is present; then the back-off, the
/// allowance of lost attempts and the epoch.
fn finish_values(finishes: &[Finish], backoff: Backoff, epoch: Option<Epoch>) -> [Value; 16] {
    [
        column(finishes, |f| f.task.0),
        column(finishes, |f| f.worker.0),
        column(finishes, |f| f.attempt),
        column(finishes, |f| f.outcome.to_value()),
        column(finishes, |f| f.exit_code.unwrap_or_default()),
        column(finishes, |f| f.exit_code.is_some()),
        column(finishes, |f| f.stdout.clone()),
        column(finishes, |f| f.stderr.clone()),
        column(finishes, |f| f.stdout_truncated),
        column(finishes, |f| f.stderr_truncated),
        column(finishes, |f| f.error.clone().unwrap_or_default()),
        column(finishes, |f| f.error.is_some()),
        backoff.base_secs.into(),
        backoff.max_secs.into(),
        backoff.lost_limit.into(),
        epoch.map(|e| e.0).into(),
    ]
}

/// Ends each reported attempt in `finishes` that its worker still holds,
/// in one statement (the workers may differ), and answers the tasks. The
/// task's new state follows from the outcome and the row: `succeeded`;
/// `cancelled` when the worker or a user cancelled it; `queued` with a
/// back-off in `not_before` when a failed or timed-out attempt has attempts
/// left (at once for an interrupted one, within `lost_limit`); `failed` or
/// `timed_out` otherwise. Reports whose attempt the worker no longer holds
/// change nothing and are absent from the answer (`sql/attempts/finish.sql`).
/// Fenced with `epoch`: only the leader's dispatcher, which frees the
/// slots, may record a report.
#[tracing::instrument(skip_all, fields(n = finishes.len()), err)]
pub async fn finish_many(
    db: &impl ConnectionTrait,
    finishes: &[Finish],
    backoff: Backoff,
    epoch: Option<Epoch>,
) -> Result<Vec<Ended>, DbErr> {
    Ended::find_by_statement(stmt(
        include_str!("sql/attempts/finish.sql"),
        finish_values(finishes, backoff, epoch),
    ))
    .all(db)
    .await
}

/// An attempt [`finish_many`] recorded: the task's new state and, for a
/// retry, when it may start again. (Only what settling the dispatcher needs:
/// a batch of reports answers no more.)
#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct Ended {
    pub id: i64,
    pub state: TaskState,
    pub not_before: Option<DateTime<Utc>>,
}

/// How tasks taken from a worker go back: the allowance of lost attempts
/// beyond `max_attempts`, the fence they wait behind, and the leader's
/// epoch the statement is fenced with (`None`, not leading: it fails).
#[derive(Debug, Clone, Copy)]
pub struct Release {
    pub lost_limit: i32,
    /// Seconds the tasks wait before they may run again; 0 when the worker's
    /// processes are known to be dead.
    pub fence_secs: f64,
    pub epoch: Option<Epoch>,
}

/// Takes running tasks back, as `sql/attempts/release.sql` says: those of
/// `worker` except `spared`, handed over more than `older_than_secs` ago
/// (any time ago when `None`); with no worker, those of every gone worker.
async fn release(
    db: &impl ConnectionTrait,
    how: Release,
    worker: Option<WorkerId>,
    spared: &[TaskId],
    older_than_secs: Option<f64>,
) -> Result<Vec<Model>, DbErr> {
    let values: [Value; 6] = [
        how.lost_limit.into(),
        how.fence_secs.into(),
        worker.map(|id| id.0).into(),
        ids(spared),
        older_than_secs.into(),
        how.epoch.map(|e| e.0).into(),
    ];
    Model::find_by_statement(stmt(include_str!("sql/attempts/release.sql"), values))
        .all(db)
        .await
}

/// A worker that left or died loses every running task: each goes back to
/// `queued` behind the fence, or ends `failed` past the allowance of lost
/// attempts, or `cancelled` when a user asked for that.
#[tracing::instrument(skip_all, fields(worker_id = %worker), err)]
pub async fn release_running_of(
    db: &impl ConnectionTrait,
    worker: WorkerId,
    how: Release,
) -> Result<Vec<Model>, DbErr> {
    release(db, how, Some(worker), &[], None).await
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
    epoch: Option<Epoch>,
) -> Result<Vec<Model>, DbErr> {
    let how = Release {
        lost_limit,
        fence_secs: 0.0,
        epoch,
    };
    release(db, how, Some(worker), running, Some(grace_secs)).await
}

/// Running tasks whose worker is gone (it left while a hand-over was in
/// flight): released like a lost worker's. Returns them.
#[tracing::instrument(skip_all, err)]
pub async fn release_orphans(db: &impl ConnectionTrait, how: Release) -> Result<Vec<Model>, DbErr> {
    release(db, how, None, &[], None).await
}

/// Running tasks whose timeout plus `grace_secs` has passed with no report
/// (their agent is hung or cut off): each is retried after a back-off when
/// attempts are left, and ends `timed_out` otherwise. Fenced with `epoch`.
#[tracing::instrument(skip_all, err)]
pub async fn expire_overdue(
    db: &impl ConnectionTrait,
    grace_secs: f64,
    retry_base_secs: f64,
    retry_max_secs: f64,
    epoch: Option<Epoch>,
) -> Result<Vec<Model>, DbErr> {
    let values: [Value; 4] = [
        grace_secs.into(),
        retry_base_secs.into(),
        retry_max_secs.into(),
        epoch.map(|e| e.0).into(),
    ];
    Model::find_by_statement(stmt(
        include_str!("sql/attempts/expire_overdue.sql"),
        values,
    ))
    .all(db)
    .await
}

/// One attempt of a task, as recorded.
#[derive(Debug, Clone, FromQueryResult)]
pub struct AttemptRow {
    pub attempt: i32,
    pub worker_id: i64,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub outcome: Option<AttemptOutcome>,
    pub exit_code: Option<i32>,
    pub error: Option<String>,
}

/// Every attempt of task `id`, first to last.
pub async fn attempts(db: &impl ConnectionTrait, id: TaskId) -> Result<Vec<AttemptRow>, DbErr> {
    AttemptRow::find_by_statement(stmt(include_str!("sql/attempts/list.sql"), [id.0.into()]))
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
        include_str!("sql/attempts/held_by.sql"),
        [worker.0.into(), grace_secs.into()],
    ))
    .all(db)
    .await
}
