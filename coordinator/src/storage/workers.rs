//! Statements on `workers`.

use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use switchyard_protocol::WorkerId;

use super::entities::worker::Model;
use super::stmt;
use crate::domain::{Epoch, NewWorker};

/// Records a newly registered, active worker, with the hash of its agent's
/// instance key when it gave one.
#[tracing::instrument(skip_all, err)]
pub async fn insert(
    db: &impl ConnectionTrait,
    worker: &NewWorker,
    instance_hash: Option<&[u8]>,
) -> Result<Model, DbErr> {
    Model::find_by_statement(stmt(
        include_str!("sql/workers/insert.sql"),
        [
            worker.name.clone().into(),
            worker.tags.clone().into(),
            worker.slots.into(),
            instance_hash.map(<[u8]>::to_vec).into(),
        ],
    ))
    .one(db)
    .await?
    .ok_or(DbErr::RecordNotInserted)
}

/// One worker by id, gone or not.
pub async fn get(db: &impl ConnectionTrait, id: WorkerId) -> Result<Option<Model>, DbErr> {
    Model::find_by_statement(stmt(include_str!("sql/workers/get.sql"), [id.0.into()]))
        .one(db)
        .await
}

/// Every worker that has not gone, oldest first.
pub async fn live(db: &impl ConnectionTrait) -> Result<Vec<Model>, DbErr> {
    Model::find_by_statement(stmt(include_str!("sql/workers/live.sql"), []))
        .all(db)
        .await
}

/// Notes that `workers` were heard from just now, in one statement; gone
/// workers stay gone.
#[tracing::instrument(skip_all, fields(n = workers.len()), err)]
pub async fn touch(db: &impl ConnectionTrait, workers: &[WorkerId]) -> Result<(), DbErr> {
    let ids: Vec<i64> = workers.iter().map(|id| id.0).collect();
    db.execute_raw(stmt(include_str!("sql/workers/touch.sql"), [ids.into()]))
        .await?;
    Ok(())
}

/// Restarts every live worker's heartbeat clock (see
/// `sql/workers/touch_live.sql`).
pub async fn touch_live(db: &impl ConnectionTrait) -> Result<(), DbErr> {
    db.execute_raw(stmt(include_str!("sql/workers/touch_live.sql"), []))
        .await?;
    Ok(())
}

/// Marks a worker gone and, in the same statement, revokes its worker
/// tokens; `None` when it was unknown or already gone. Fenced with `epoch`.
pub async fn mark_gone(
    db: &impl ConnectionTrait,
    id: WorkerId,
    epoch: Option<Epoch>,
) -> Result<Option<Model>, DbErr> {
    Model::find_by_statement(stmt(
        include_str!("sql/workers/mark_gone.sql"),
        [id.0.into(), epoch.map(|e| e.0).into()],
    ))
    .one(db)
    .await
}

#[derive(Debug, FromQueryResult)]
struct IdRow {
    id: i64,
}

/// Live workers whose last heartbeat is older than `timeout_secs`.
pub async fn silent_since(
    db: &impl ConnectionTrait,
    timeout_secs: f64,
) -> Result<Vec<WorkerId>, DbErr> {
    let rows = IdRow::find_by_statement(stmt(
        include_str!("sql/workers/silent_since.sql"),
        [timeout_secs.into()],
    ))
    .all(db)
    .await?;
    Ok(rows.into_iter().map(|r| WorkerId(r.id)).collect())
}

/// Other workers registered with the instance key hashed `instance_hash`
/// than `except`: live ones, and ones gone less than `window_secs` ago
/// (the longest a lost-attempt fence lasts).
pub async fn earlier_selves(
    db: &impl ConnectionTrait,
    instance_hash: &[u8],
    except: WorkerId,
    window_secs: f64,
) -> Result<Vec<WorkerId>, DbErr> {
    let rows = IdRow::find_by_statement(stmt(
        include_str!("sql/workers/earlier_selves.sql"),
        [
            instance_hash.to_vec().into(),
            except.0.into(),
            window_secs.into(),
        ],
    ))
    .all(db)
    .await?;
    Ok(rows.into_iter().map(|r| WorkerId(r.id)).collect())
}

/// Changes a live worker's tags and slots; `None` when unknown or gone.
pub async fn update(
    db: &impl ConnectionTrait,
    id: WorkerId,
    tags: &[String],
    slots: i32,
) -> Result<Option<Model>, DbErr> {
    Model::find_by_statement(stmt(
        include_str!("sql/workers/update.sql"),
        [id.0.into(), tags.to_vec().into(), slots.into()],
    ))
    .one(db)
    .await
}

/// Marks a live worker draining (or active again); `None` when unknown or gone.
pub async fn set_draining(
    db: &impl ConnectionTrait,
    id: WorkerId,
    draining: bool,
) -> Result<Option<Model>, DbErr> {
    Model::find_by_statement(stmt(
        include_str!("sql/workers/set_draining.sql"),
        [id.0.into(), draining.into()],
    ))
    .one(db)
    .await
}
