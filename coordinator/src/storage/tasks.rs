//! Statements on `tasks`. Every state change is a conditional UPDATE that
//! names the state it starts from, so two racing requests cannot both win.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveEnum, ConnectionTrait, DbErr, FromQueryResult, Value};
use switchyard_protocol::{TaskId, WorkerId};

use super::entities::task::Model;
use super::{column, stmt};
use crate::domain::{Epoch, NewTask, TaskState};

pub(super) fn ids(tasks: &[TaskId]) -> Value {
    column(tasks, |id| id.0)
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
    let inserted = Inserted::find_by_statement(stmt(
        include_str!("sql/tasks/insert_many.sql"),
        insert_values(owner, tasks),
    ))
    .all(db)
    .await?;
    let mut rows: Vec<Option<Model>> = vec![None; tasks.len()];
    for row in inserted {
        // `ord` counts from 1.
        let index = usize::try_from(row.ord - 1)
            .ok()
            .filter(|&i| i < tasks.len());
        let Some(index) = index else {
            return Err(DbErr::Custom(format!(
                "insert_many answered place {} of {} tasks",
                row.ord,
                tasks.len()
            )));
        };
        rows[index] = Some(queued_row(owner, &tasks[index], row.id, row.created_at));
    }
    Ok(rows)
}

/// A task `insert_many` inserted: its place in the input (from 1).
#[derive(Debug, FromQueryResult)]
struct Inserted {
    ord: i64,
    id: i64,
    created_at: DateTime<Utc>,
}

/// `insert_many`'s parameters, as `sql/tasks/insert_many.sql` numbers them:
/// one typed array per column, each task's argv, tags and labels as an
/// array literal. An absent working directory or key is sent as '', which
/// validation refuses as a value.
fn insert_values(owner: &str, tasks: &[NewTask]) -> Vec<Value> {
    vec![
        owner.into(),
        column(tasks, |t| array_literal(&t.argv)),
        column(tasks, |t| serde_json::json!(t.env)),
        column(tasks, |t| t.working_dir.clone().unwrap_or_default()),
        column(tasks, |t| array_literal(&t.tags)),
        column(tasks, |t| array_literal(&t.labels)),
        column(tasks, |t| t.priority),
        column(tasks, |t| t.timeout_secs),
        column(tasks, |t| t.max_attempts),
        column(tasks, |t| t.idempotency_key.clone().unwrap_or_default()),
    ]
}

/// `items` as PostgreSQL's text form of a `text[]`: every element in
/// double quotes, in which only `"` and `\` are special (each escaped with
/// a backslash), so any string comes back as it was.
fn array_literal(items: &[String]) -> String {
    let mut out = String::with_capacity(2 + items.iter().map(|i| i.len() + 3).sum::<usize>());
    out.push('{');
    for (n, item) in items.iter().enumerate() {
        if n > 0 {
            out.push(',');
        }
        out.push('"');
        for c in item.chars() {
            if c == '"' || c == '\\' {
                out.push('\\');
            }
            out.push(c);
        }
        out.push('"');
    }
    out.push('}');
    out
}

/// The row of `task`, just inserted under `id` at `created_at`: what was
/// sent, and the defaults of a queued task.
fn queued_row(owner: &str, task: &NewTask, id: i64, created_at: DateTime<Utc>) -> Model {
    Model {
        id,
        owner: owner.to_owned(),
        state: TaskState::Queued,
        argv: task.argv.clone(),
        env: serde_json::json!(task.env),
        working_dir: task.working_dir.clone(),
        tags: task.tags.clone(),
        labels: task.labels.clone(),
        priority: task.priority,
        timeout_secs: task.timeout_secs,
        max_attempts: task.max_attempts,
        attempts: 0,
        worker_id: None,
        cancel_requested: false,
        not_before: None,
        exit_code: None,
        stdout: None,
        stderr: None,
        stdout_truncated: false,
        stderr_truncated: false,
        error: None,
        idempotency_key: task.idempotency_key.clone(),
        created_at,
        started_at: None,
        finished_at: None,
    }
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

/// The tasks `worker` runs, newest first, only `owner`'s when given.
pub async fn running_on_worker(
    db: &impl ConnectionTrait,
    worker: WorkerId,
    owner: Option<String>,
    limit: u64,
) -> Result<Vec<Model>, DbErr> {
    Model::find_by_statement(stmt(
        include_str!("sql/tasks/running_on_worker.sql"),
        [
            worker.0.into(),
            owner.into(),
            i64::try_from(limit).unwrap_or(i64::MAX).into(),
        ],
    ))
    .all(db)
    .await
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

/// Queues a finished task again for one more attempt.
pub async fn retry(db: &impl ConnectionTrait, id: TaskId) -> Result<Option<Model>, DbErr> {
    Model::find_by_statement(stmt(include_str!("sql/tasks/retry.sql"), [id.0.into()]))
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

#[derive(Debug, FromQueryResult)]
struct AttemptRow {
    id: i64,
    attempts: i32,
}

/// Which of `tasks` `worker` runs now, with the attempt it runs.
pub async fn running_on(
    db: &impl ConnectionTrait,
    worker: WorkerId,
    tasks: &[TaskId],
) -> Result<Vec<(TaskId, i32)>, DbErr> {
    let rows = AttemptRow::find_by_statement(stmt(
        include_str!("sql/tasks/running_on.sql"),
        [ids(tasks), worker.0.into()],
    ))
    .all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|r| (TaskId(r.id), r.attempts))
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

#[cfg(test)]
mod tests {
    use super::array_literal;

    #[test]
    fn an_array_literal_quotes_every_element_and_escapes_quotes_and_backslashes() {
        let items = [
            "plain",
            "a \"quoted\" word",
            r"back\slash",
            "",
            "NULL",
            "{x,y}",
        ]
        .map(String::from);
        assert_eq!(
            array_literal(&items),
            r#"{"plain","a \"quoted\" word","back\\slash","","NULL","{x,y}"}"#
        );
        assert_eq!(array_literal(&[]), "{}");
    }
}
