//! Statements on `workers`.

use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};
use switchyard_protocol::WorkerId;

use super::entities::worker::Model;
use super::stmt;
use crate::domain::NewWorker;

const COLUMNS: &str =
    "id, name, tags, slots, state::text AS state, registered_at, last_heartbeat, left_at";

/// Records a newly registered, active worker, with the hash of its agent's
/// instance key when it gave one.
#[tracing::instrument(skip_all, err)]
pub async fn insert(
    db: &impl ConnectionTrait,
    worker: &NewWorker,
    instance_hash: Option<&[u8]>,
) -> Result<Model, DbErr> {
    let sql = format!(
        "INSERT INTO workers (name, tags, slots, instance_hash) VALUES ($1, $2, $3, $4) \
         RETURNING {COLUMNS}"
    );
    Model::find_by_statement(stmt(
        &sql,
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
    let sql = format!("SELECT {COLUMNS} FROM workers WHERE id = $1");
    Model::find_by_statement(stmt(&sql, [id.0.into()]))
        .one(db)
        .await
}

/// Every worker that has not gone, oldest first.
pub async fn live(db: &impl ConnectionTrait) -> Result<Vec<Model>, DbErr> {
    let sql = format!("SELECT {COLUMNS} FROM workers WHERE state <> 'gone' ORDER BY id");
    Model::find_by_statement(stmt(&sql, [])).all(db).await
}

/// Notes that `workers` were heard from just now, in one statement; gone
/// workers stay gone.
#[tracing::instrument(skip_all, fields(n = workers.len()), err)]
pub async fn touch(db: &impl ConnectionTrait, workers: &[WorkerId]) -> Result<(), DbErr> {
    let ids: Vec<i64> = workers.iter().map(|id| id.0).collect();
    db.execute_raw(stmt(
        "UPDATE workers SET last_heartbeat = now() WHERE id = ANY($1) AND state <> 'gone'",
        [ids.into()],
    ))
    .await?;
    Ok(())
}

/// Marks a worker gone and, in the same statement, revokes its worker
/// tokens; `None` when it was unknown or already gone.
pub async fn mark_gone(db: &impl ConnectionTrait, id: WorkerId) -> Result<Option<Model>, DbErr> {
    let sql = format!(
        "WITH w AS ( \
             UPDATE workers SET state = 'gone', left_at = now() WHERE id = $1 AND state <> 'gone' \
             RETURNING {COLUMNS}), \
         revoked AS ( \
             UPDATE api_tokens SET revoked_at = now() \
             WHERE worker_id IN (SELECT id FROM w) AND revoked_at IS NULL) \
         SELECT * FROM w"
    );
    Model::find_by_statement(stmt(&sql, [id.0.into()]))
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
        "SELECT id FROM workers WHERE state <> 'gone' \
         AND last_heartbeat < now() - make_interval(secs => $1)",
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
        "SELECT id FROM workers WHERE instance_hash = $1 AND id <> $2 \
         AND (state <> 'gone' OR left_at > now() - make_interval(secs => $3)) ORDER BY id",
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
    let sql = format!(
        "UPDATE workers SET tags = $2, slots = $3 WHERE id = $1 AND state <> 'gone' \
         RETURNING {COLUMNS}"
    );
    Model::find_by_statement(stmt(
        &sql,
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
    let sql = format!(
        "UPDATE workers SET state = CASE WHEN $2 THEN 'draining'::worker_state \
                                         ELSE 'active'::worker_state END \
         WHERE id = $1 AND state <> 'gone' RETURNING {COLUMNS}"
    );
    Model::find_by_statement(stmt(&sql, [id.0.into(), draining.into()]))
        .one(db)
        .await
}
