//! Statements on `tasks_archive`: where retention moves finished tasks past
//! the configured age, and where reads look when the hot table has no such
//! task. An archived row is the task row as it was, plus `archived_at`.

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbErr, FromQueryResult, TransactionTrait, Value,
};
use switchyard_protocol::TaskId;

use super::entities::task::Model;
use super::stmt;
use super::tasks::ListFilter;

/// Moves up to `limit` tasks that finished more than `age_secs` ago from
/// `tasks` into `tasks_archive`, in one statement, and returns how many
/// moved.
///
/// Only rows in a final state are read, locked and deleted, and rows another
/// transaction holds are skipped (`SKIP LOCKED`), so a move never waits for,
/// nor makes wait, any statement on queued or running tasks: dispatch goes
/// on while it runs. Skipped rows are taken by a later move.
#[tracing::instrument(skip(db), err)]
pub async fn move_finished(
    db: &impl ConnectionTrait,
    age_secs: f64,
    limit: u32,
) -> Result<u64, DbErr> {
    let values: [Value; 2] = [age_secs.into(), i64::from(limit).into()];
    let result = db
        .execute_raw(stmt(include_str!("sql/archive/move_finished.sql"), values))
        .await?;
    Ok(result.rows_affected())
}

/// [`move_finished`] in its own transaction that commits asynchronously
/// (`synchronous_commit = off`): it neither waits for nor adds a WAL flush
/// of its own, so dispatch's commits do not queue behind a large archive
/// write. A crash can undo only whole moves, whose rows are then still in
/// `tasks` and move again: nothing is lost.
pub async fn move_finished_unsynced(
    db: &DatabaseConnection,
    age_secs: f64,
    limit: u32,
) -> Result<u64, DbErr> {
    let txn = db.begin().await?;
    txn.execute_unprepared(include_str!("sql/archive/unsynced.sql"))
        .await?;
    let moved = move_finished(&txn, age_secs, limit).await?;
    txn.commit().await?;
    Ok(moved)
}

/// One archived task by id.
pub async fn get(db: &impl ConnectionTrait, id: TaskId) -> Result<Option<Model>, DbErr> {
    Model::find_by_statement(stmt(include_str!("sql/archive/get.sql"), [id.0.into()]))
        .one(db)
        .await
}

/// A page of archived tasks matching `filter`, newest first: the same
/// filters and cursor as a listing of live tasks.
#[tracing::instrument(skip_all, err)]
pub async fn list(db: &impl ConnectionTrait, filter: &ListFilter) -> Result<Vec<Model>, DbErr> {
    let sql = include_str!("sql/archive/list.sql");
    Model::find_by_statement(stmt(sql, super::tasks::list_values(filter)))
        .all(db)
        .await
}
