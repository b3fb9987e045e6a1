//! Statements on the leader's lease and the coordinators' records.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};

use super::stmt;

/// The epoch an election or renewal answers.
#[derive(Debug, FromQueryResult)]
struct EpochRow {
    epoch: i64,
}

/// Takes the lease as a new epoch if it has lapsed; the new epoch, or
/// `None` when another coordinator holds it.
pub async fn elect(
    db: &impl ConnectionTrait,
    holder: &str,
    url: &str,
    lease_secs: f64,
) -> Result<Option<i64>, DbErr> {
    let row = EpochRow::find_by_statement(stmt(
        include_str!("sql/leadership/elect.sql"),
        [holder.into(), url.into(), lease_secs.into()],
    ))
    .one(db)
    .await?;
    Ok(row.map(|r| r.epoch))
}

/// Extends the lease of `epoch`; false when `holder` no longer holds it.
pub async fn renew(
    db: &impl ConnectionTrait,
    holder: &str,
    epoch: i64,
    lease_secs: f64,
) -> Result<bool, DbErr> {
    let row = EpochRow::find_by_statement(stmt(
        include_str!("sql/leadership/renew.sql"),
        [holder.into(), epoch.into(), lease_secs.into()],
    ))
    .one(db)
    .await?;
    Ok(row.is_some())
}

/// Gives the lease of `epoch` up and tells the standbys.
pub async fn resign(db: &impl ConnectionTrait, holder: &str, epoch: i64) -> Result<(), DbErr> {
    db.execute_raw(stmt(
        include_str!("sql/leadership/resign.sql"),
        [holder.into(), epoch.into()],
    ))
    .await?;
    Ok(())
}

/// The lease as it stands.
#[derive(Debug, Clone, FromQueryResult)]
pub struct Lease {
    pub epoch: i64,
    pub holder: Option<String>,
    pub url: Option<String>,
    pub renewed_at: Option<DateTime<Utc>>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Unlapsed now.
    pub held: bool,
}

/// Reads the lease.
pub async fn lease(db: &impl ConnectionTrait) -> Result<Option<Lease>, DbErr> {
    Lease::find_by_statement(stmt(include_str!("sql/leadership/lease.sql"), []))
        .one(db)
        .await
}

/// Notes that coordinator `id` is alive, leading `epoch` or standing by.
pub async fn record(
    db: &impl ConnectionTrait,
    id: &str,
    url: &str,
    host: &str,
    epoch: Option<i64>,
) -> Result<(), DbErr> {
    db.execute_raw(stmt(
        include_str!("sql/leadership/record.sql"),
        [id.into(), url.into(), host.into(), epoch.into()],
    ))
    .await?;
    Ok(())
}

/// A coordinator's record.
#[derive(Debug, Clone, FromQueryResult)]
pub struct Member {
    pub id: String,
    pub url: String,
    pub host: String,
    pub started_at: DateTime<Utc>,
    pub seen_at: DateTime<Utc>,
    /// The epoch it leads under, when it holds the current lease.
    pub epoch: Option<i64>,
}

/// The coordinators seen in the last `within_secs`, the leader first.
pub async fn members(db: &impl ConnectionTrait, within_secs: f64) -> Result<Vec<Member>, DbErr> {
    Member::find_by_statement(stmt(
        include_str!("sql/leadership/members.sql"),
        [within_secs.into()],
    ))
    .all(db)
    .await
}

/// Removes coordinator `id`'s record, and those unseen for `stale_secs`.
pub async fn forget(db: &impl ConnectionTrait, id: &str, stale_secs: f64) -> Result<(), DbErr> {
    db.execute_raw(stmt(
        include_str!("sql/leadership/forget.sql"),
        [id.into(), stale_secs.into()],
    ))
    .await?;
    Ok(())
}
