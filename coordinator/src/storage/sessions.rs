//! Statements on dashboard sessions. A session is found by the SHA-256 of
//! its secret; the secret itself is never stored.

use sea_orm::{ConnectionTrait, DbErr, FromQueryResult};

use super::stmt;

/// What a live session holds.
#[derive(Debug, Clone, FromQueryResult)]
pub struct SessionRow {
    /// The SHA-256 of the API token it logged in with.
    pub token_hash: Vec<u8>,
    /// The token its forms carry.
    pub csrf: String,
}

/// Stores a new session, lasting `lifetime_secs` from now (the database's clock).
pub async fn insert(
    db: &impl ConnectionTrait,
    secret_hash: &[u8],
    token_hash: &[u8],
    csrf: &str,
    lifetime_secs: f64,
) -> Result<(), DbErr> {
    db.execute_raw(stmt(
        include_str!("sql/sessions/insert.sql"),
        [
            secret_hash.to_vec().into(),
            token_hash.to_vec().into(),
            csrf.into(),
            lifetime_secs.into(),
        ],
    ))
    .await?;
    Ok(())
}

/// The unexpired session whose secret hashes to `secret_hash`.
pub async fn live(
    db: &impl ConnectionTrait,
    secret_hash: &[u8],
) -> Result<Option<SessionRow>, DbErr> {
    SessionRow::find_by_statement(stmt(
        include_str!("sql/sessions/live.sql"),
        [secret_hash.to_vec().into()],
    ))
    .one(db)
    .await
}

/// Deletes the session whose secret hashes to `secret_hash`, if any.
pub async fn delete(db: &impl ConnectionTrait, secret_hash: &[u8]) -> Result<(), DbErr> {
    db.execute_raw(stmt(
        include_str!("sql/sessions/delete.sql"),
        [secret_hash.to_vec().into()],
    ))
    .await?;
    Ok(())
}

/// Deletes every expired session; answers how many.
pub async fn delete_expired(db: &impl ConnectionTrait) -> Result<u64, DbErr> {
    let done = db
        .execute_raw(stmt(include_str!("sql/sessions/delete_expired.sql"), []))
        .await?;
    Ok(done.rows_affected())
}
