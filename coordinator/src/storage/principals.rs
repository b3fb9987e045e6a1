//! Statements on principals and their tokens. Tokens are looked up by the
//! SHA-256 of the secret; the secret itself is never stored.

use chrono::{DateTime, Utc};
use sea_orm::{ActiveEnum, ConnectionTrait, DbErr, FromQueryResult, Value};

use super::stmt;
use crate::domain::{Role, TokenKind};

/// A principal row.
#[derive(Debug, Clone, FromQueryResult)]
pub struct PrincipalRow {
    pub id: i64,
    pub name: String,
    pub role: Role,
}

/// A token row joined with its principal.
#[derive(Debug, Clone, FromQueryResult)]
pub struct TokenRow {
    pub id: i64,
    /// `None` for a worker token the bootstrap admin registered.
    pub principal_id: Option<i64>,
    /// The principal's name and role; `None` with `principal_id`.
    pub principal: Option<String>,
    pub role: Option<Role>,
    /// Read strictly: a kind this release does not know fails the read.
    pub kind: TokenKind,
    pub prefix: String,
    pub label: Option<String>,
    pub worker_id: Option<i64>,
    /// For a worker token: the token that registered its worker.
    pub registered_with: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    /// Seconds from now (the database's clock) to `expires_at`, so callers
    /// need not trust their own clock to agree with the database's.
    pub expires_in_secs: Option<f64>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// Creates a principal; `None` when the name is taken.
pub async fn create_principal(
    db: &impl ConnectionTrait,
    name: &str,
    role: Role,
) -> Result<Option<PrincipalRow>, DbErr> {
    PrincipalRow::find_by_statement(stmt(
        include_str!("sql/principals/create_principal.sql"),
        [name.into(), role.to_value().into()],
    ))
    .one(db)
    .await
}

/// A principal by name.
pub async fn principal_by_name(
    db: &impl ConnectionTrait,
    name: &str,
) -> Result<Option<PrincipalRow>, DbErr> {
    PrincipalRow::find_by_statement(stmt(
        include_str!("sql/principals/principal_by_name.sql"),
        [name.into()],
    ))
    .one(db)
    .await
}

/// What a new token row holds.
#[derive(Debug, Clone)]
pub struct NewToken {
    /// `None` only for a worker token the bootstrap admin registered.
    pub principal_id: Option<i64>,
    pub kind: TokenKind,
    pub hash: Vec<u8>,
    pub prefix: String,
    pub label: Option<String>,
    pub worker_id: Option<i64>,
    /// The token that registered the worker (worker tokens only).
    pub registered_with: Option<i64>,
    pub expires_in_secs: Option<i64>,
}

/// Stores a token's hash.
pub async fn insert_token(db: &impl ConnectionTrait, token: NewToken) -> Result<TokenRow, DbErr> {
    let values: [Value; 8] = [
        token.principal_id.into(),
        token.kind.to_value().into(),
        token.hash.into(),
        token.prefix.into(),
        token.label.into(),
        token.worker_id.into(),
        token.registered_with.into(),
        token.expires_in_secs.into(),
    ];
    TokenRow::find_by_statement(stmt(
        include_str!("sql/principals/insert_token.sql"),
        values,
    ))
    .one(db)
    .await?
    .ok_or(DbErr::RecordNotInserted)
}

/// The live token with this hash: not revoked, not expired, and for a
/// worker token, its worker not gone and the token that registered it not
/// revoked. The last two are also written into the token row when they
/// happen ([`revoke`], `workers::mark_gone`); checking them here as well
/// closes the race with a worker token issued at the same moment.
pub async fn live_token(db: &impl ConnectionTrait, hash: &[u8]) -> Result<Option<TokenRow>, DbErr> {
    TokenRow::find_by_statement(stmt(
        include_str!("sql/principals/live_token.sql"),
        [hash.to_vec().into()],
    ))
    .one(db)
    .await
}

/// Every token, newest first.
pub async fn tokens(db: &impl ConnectionTrait) -> Result<Vec<TokenRow>, DbErr> {
    TokenRow::find_by_statement(stmt(include_str!("sql/principals/tokens.sql"), []))
        .all(db)
        .await
}

/// A revoked token, and how many worker tokens registered with it were
/// revoked with it.
#[derive(Debug, Clone)]
pub struct Revoked {
    pub token: TokenRow,
    pub cascaded: i64,
}

#[derive(Debug, FromQueryResult)]
struct RevokedRow {
    #[sea_orm(nested)]
    token: TokenRow,
    cascaded: i64,
}

/// Revokes a token and, in the same statement, every live worker token
/// registered with it; `None` when there is no such token. Revoking twice
/// keeps the first time.
pub async fn revoke(db: &impl ConnectionTrait, id: i64) -> Result<Option<Revoked>, DbErr> {
    let row =
        RevokedRow::find_by_statement(stmt(include_str!("sql/principals/revoke.sql"), [id.into()]))
            .one(db)
            .await?;
    Ok(row.map(|row| Revoked {
        token: row.token,
        cascaded: row.cascaded,
    }))
}
