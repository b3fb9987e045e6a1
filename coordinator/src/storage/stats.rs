//! Read-only statements behind the dashboard, `/metrics` and `/health`.
//! Each one is served by an index (`tasks_state_id`, `tasks_queued`) except
//! the per-state count, which scans `tasks` once.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use switchyard_protocol::stats::TaskCounts;

use super::stmt;
use crate::domain::{TaskState, WorkerState};

#[derive(Debug, FromQueryResult)]
struct StateCount {
    state: TaskState,
    n: i64,
}

fn add(counts: &mut TaskCounts, rows: Vec<StateCount>) {
    for StateCount { state, n } in rows {
        let n = u64::try_from(n).unwrap_or(0);
        match state {
            TaskState::Queued => counts.queued = n,
            TaskState::Running => counts.running = n,
            TaskState::Succeeded => counts.succeeded = n,
            TaskState::Failed => counts.failed = n,
            TaskState::Cancelled => counts.cancelled = n,
            TaskState::TimedOut => counts.timed_out = n,
        }
    }
}

/// Tasks in each state.
pub async fn count_by_state(db: &impl ConnectionTrait) -> Result<TaskCounts, DbErr> {
    let rows =
        StateCount::find_by_statement(stmt(include_str!("sql/stats/count_by_state.sql"), []))
            .all(db)
            .await?;
    let mut counts = TaskCounts::default();
    add(&mut counts, rows);
    Ok(counts)
}

/// Tasks queued and running only (the other fields stay 0): cheap enough
/// for every scrape and health probe.
pub async fn count_active(db: &impl ConnectionTrait) -> Result<TaskCounts, DbErr> {
    let rows = StateCount::find_by_statement(stmt(include_str!("sql/stats/count_active.sql"), []))
        .all(db)
        .await?;
    let mut counts = TaskCounts::default();
    add(&mut counts, rows);
    Ok(counts)
}

#[derive(Debug, FromQueryResult)]
struct Oldest {
    created_at: DateTime<Utc>,
}

/// When the oldest queued task was submitted (ids grow with submission).
pub async fn oldest_queued(db: &impl ConnectionTrait) -> Result<Option<DateTime<Utc>>, DbErr> {
    let row = Oldest::find_by_statement(stmt(include_str!("sql/stats/oldest_queued.sql"), []))
        .one(db)
        .await?;
    Ok(row.map(|row| row.created_at))
}

/// A queued task, with what the dashboard shows of it.
#[derive(Debug, Clone, FromQueryResult)]
pub struct QueuedSummaryRow {
    pub id: i64,
    pub priority: i32,
    pub tags: Vec<String>,
    pub labels: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub attempts: i32,
    pub not_before: Option<DateTime<Utc>>,
    /// When its last attempt ended; empty after a lost one (see
    /// `service::figures::Figures::fenced`).
    pub finished_at: Option<DateTime<Utc>>,
}

/// The `limit` queued tasks that run next (highest priority, then oldest),
/// of `owner` only when given.
pub async fn top_queued(
    db: &impl ConnectionTrait,
    owner: Option<&str>,
    limit: u64,
) -> Result<Vec<QueuedSummaryRow>, DbErr> {
    let limit = i64::try_from(limit).unwrap_or(i64::MAX);
    QueuedSummaryRow::find_by_statement(stmt(
        include_str!("sql/stats/top_queued.sql"),
        [limit.into(), owner.map(str::to_owned).into()],
    ))
    .all(db)
    .await
}

/// A worker, with what the dashboard shows of it.
#[derive(Debug, Clone, FromQueryResult)]
pub struct WorkerSummaryRow {
    pub id: i64,
    pub name: String,
    pub tags: Vec<String>,
    pub slots: i32,
    pub state: WorkerState,
    pub last_heartbeat: DateTime<Utc>,
}

/// Workers not gone, and those that left within `recent_secs`, by id.
pub async fn dashboard_workers(
    db: &impl ConnectionTrait,
    recent_secs: f64,
) -> Result<Vec<WorkerSummaryRow>, DbErr> {
    WorkerSummaryRow::find_by_statement(stmt(
        include_str!("sql/stats/dashboard_workers.sql"),
        [recent_secs.into()],
    ))
    .all(db)
    .await
}

#[derive(Debug, FromQueryResult)]
struct Count {
    n: i64,
}

/// Queued tasks, counted up to `cap + 1` at most: enough to tell whether
/// the backlog is over `cap`, at a bounded cost however long it is.
pub async fn queued_up_to(db: &impl ConnectionTrait, cap: u64) -> Result<u64, DbErr> {
    let limit = i64::try_from(cap.saturating_add(1)).unwrap_or(i64::MAX);
    let row = Count::find_by_statement(stmt(
        include_str!("sql/stats/queued_up_to.sql"),
        [limit.into()],
    ))
    .one(db)
    .await?;
    Ok(row.map_or(0, |row| u64::try_from(row.n).unwrap_or(0)))
}

/// A trivial round trip, to see whether the database answers and how fast.
pub async fn ping(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    db.execute_unprepared(include_str!("sql/stats/ping.sql"))
        .await
        .map(|_| ())
}
