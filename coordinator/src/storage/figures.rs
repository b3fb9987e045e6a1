//! What a standby reads in place of the dispatcher it does not have: the
//! fleet and the backlog as the database has them (see
//! `service::figures`). The leader never runs these.

use std::collections::HashMap;

use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use switchyard_protocol::WorkerId;

use super::stmt;
use crate::domain::WorkerState;

#[derive(Debug, FromQueryResult)]
struct TagSet {
    tags: Vec<String>,
}

/// The distinct tag sets of the workers that take work (active: neither
/// draining nor gone).
pub async fn active_tag_sets(db: &impl ConnectionTrait) -> Result<Vec<Vec<String>>, DbErr> {
    let rows = TagSet::find_by_statement(stmt(include_str!("sql/figures/active_tag_sets.sql"), []))
        .all(db)
        .await?;
    Ok(rows.into_iter().map(|row| row.tags).collect())
}

#[derive(Debug, FromQueryResult)]
struct Running {
    worker_id: i64,
    n: i64,
}

/// How many tasks each of `workers` runs; one that runs none is absent.
pub async fn running_on(
    db: &impl ConnectionTrait,
    workers: &[WorkerId],
) -> Result<HashMap<WorkerId, u64>, DbErr> {
    let ids: Vec<i64> = workers.iter().map(|id| id.0).collect();
    let rows = Running::find_by_statement(stmt(
        include_str!("sql/figures/running_on.sql"),
        [ids.into()],
    ))
    .all(db)
    .await?;
    Ok(rows
        .into_iter()
        .map(|row| (WorkerId(row.worker_id), u64::try_from(row.n).unwrap_or(0)))
        .collect())
}

/// A worker that has not gone, with how many tasks it runs.
#[derive(Debug, Clone, FromQueryResult)]
pub struct FleetRow {
    pub id: i64,
    pub tags: Vec<String>,
    pub slots: i32,
    pub state: WorkerState,
    pub running: i64,
}

/// Every worker that has not gone, by id, with how many tasks it runs.
pub async fn fleet(db: &impl ConnectionTrait) -> Result<Vec<FleetRow>, DbErr> {
    FleetRow::find_by_statement(stmt(include_str!("sql/figures/fleet.sql"), []))
        .all(db)
        .await
}

/// Queued tasks due now that require one tag set, and the active workers
/// that have every tag of it.
#[derive(Debug, Clone, FromQueryResult)]
pub struct BacklogRow {
    pub tags: Vec<String>,
    pub queued: i64,
    pub candidates: i64,
}

/// The backlog per required tag set: queued tasks due now (no back-off or
/// fence ahead), in no particular order. Reads every such task once.
pub async fn backlog(db: &impl ConnectionTrait) -> Result<Vec<BacklogRow>, DbErr> {
    BacklogRow::find_by_statement(stmt(include_str!("sql/figures/backlog.sql"), []))
        .all(db)
        .await
}
