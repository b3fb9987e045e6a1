//! The head of the queue as people look at it: queued tasks in dispatch
//! order, and how many there are.

use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};

use super::entities::task::Model;
use super::stmt;

/// Which queued tasks to show.
#[derive(Debug, Clone, Default)]
pub struct QueueFilter {
    /// Only tasks that require this tag.
    pub tag: Option<String>,
    /// Only tasks of this owner.
    pub owner: Option<String>,
}

/// The first `limit` queued tasks matching `filter`, highest priority
/// first, then oldest.
pub async fn head(
    db: &impl ConnectionTrait,
    filter: &QueueFilter,
    limit: u32,
) -> Result<Vec<Model>, DbErr> {
    Model::find_by_statement(stmt(
        include_str!("sql/tasks/queue_head.sql"),
        [
            filter.tag.clone().into(),
            filter.owner.clone().into(),
            i64::from(limit).into(),
        ],
    ))
    .all(db)
    .await
}

#[derive(Debug, FromQueryResult)]
struct Count {
    n: i64,
}

/// How many queued tasks match `filter`, counted up to `cap`.
pub async fn count(
    db: &impl ConnectionTrait,
    filter: &QueueFilter,
    cap: u64,
) -> Result<u64, DbErr> {
    let row = Count::find_by_statement(stmt(
        include_str!("sql/tasks/count_queued.sql"),
        [
            filter.tag.clone().into(),
            filter.owner.clone().into(),
            i64::try_from(cap).unwrap_or(i64::MAX).into(),
        ],
    ))
    .one(db)
    .await?;
    Ok(row.map_or(0, |row| u64::try_from(row.n).unwrap_or(0)))
}
