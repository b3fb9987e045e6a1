//! Statements on principals and their tokens. Tokens are looked up by the
//! SHA-256 of the secret; the secret itself is never stored.

use chrono::{DateTime, Utc};
use sea_orm::{ConnectionTrait, DbErr, FromQueryResult, Value};

use super::stmt;

/// A principal row.
#[derive(Debug, Clone, FromQueryResult)]
pub struct PrincipalRow {
    pub id: i64,
    pub name: String,
    pub role: String,
}

/// A token row joined with its principal.
#[derive(Debug, Clone, FromQueryResult)]
pub struct TokenRow {
    pub id: i64,
    pub principal_id: i64,
    pub principal: String,
    pub role: String,
    pub kind: String,
    pub prefix: String,
    pub label: Option<String>,
    pub worker_id: Option<i64>,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

const TOKEN_COLUMNS: &str = "t.id, t.principal_id, p.name AS principal, p.role::text AS role, \
    t.kind, t.prefix, t.label, t.worker_id, t.created_at, t.expires_at, t.revoked_at";

/// Creates a principal; `None` when the name is taken.
pub async fn create_principal(
    db: &impl ConnectionTrait,
    name: &str,
    role: &str,
) -> Result<Option<PrincipalRow>, DbErr> {
    PrincipalRow::find_by_statement(stmt(
        "INSERT INTO principals (name, role) VALUES ($1, $2::principal_role) \
         ON CONFLICT (name) DO NOTHING RETURNING id, name, role::text AS role",
        [name.into(), role.into()],
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
        "SELECT id, name, role::text AS role FROM principals WHERE name = $1",
        [name.into()],
    ))
    .one(db)
    .await
}

/// What a new token row holds.
#[derive(Debug, Clone)]
pub struct NewToken<'a> {
    pub principal_id: i64,
    pub kind: &'a str,
    pub hash: Vec<u8>,
    pub prefix: String,
    pub label: Option<String>,
    pub worker_id: Option<i64>,
    pub expires_in_secs: Option<i64>,
}

/// Stores a token's hash.
pub async fn insert_token(
    db: &impl ConnectionTrait,
    token: NewToken<'_>,
) -> Result<TokenRow, DbErr> {
    let sql = format!(
        "WITH t AS ( \
             INSERT INTO api_tokens (principal_id, kind, token_hash, prefix, label, worker_id, \
                                     expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, \
                     CASE WHEN $7::bigint IS NULL THEN NULL \
                          ELSE now() + make_interval(secs => $7::bigint) END) \
             RETURNING *) \
         SELECT {TOKEN_COLUMNS} FROM t JOIN principals p ON p.id = t.principal_id"
    );
    let values: [Value; 7] = [
        token.principal_id.into(),
        token.kind.into(),
        token.hash.into(),
        token.prefix.into(),
        token.label.into(),
        token.worker_id.into(),
        token.expires_in_secs.into(),
    ];
    TokenRow::find_by_statement(stmt(&sql, values))
        .one(db)
        .await?
        .ok_or(DbErr::RecordNotInserted)
}

/// The live token with this hash (not revoked, not expired).
pub async fn live_token(db: &impl ConnectionTrait, hash: &[u8]) -> Result<Option<TokenRow>, DbErr> {
    let sql = format!(
        "SELECT {TOKEN_COLUMNS} FROM api_tokens t JOIN principals p ON p.id = t.principal_id \
         WHERE t.token_hash = $1 AND t.revoked_at IS NULL \
           AND (t.expires_at IS NULL OR t.expires_at > now())"
    );
    TokenRow::find_by_statement(stmt(&sql, [hash.to_vec().into()]))
        .one(db)
        .await
}

/// Every token, newest first.
pub async fn tokens(db: &impl ConnectionTrait) -> Result<Vec<TokenRow>, DbErr> {
    let sql = format!(
        "SELECT {TOKEN_COLUMNS} FROM api_tokens t JOIN principals p ON p.id = t.principal_id \
         ORDER BY t.id DESC"
    );
    TokenRow::find_by_statement(stmt(&sql, [])).all(db).await
}

/// Revokes a token; `None` when there is no such token.
pub async fn revoke(db: &impl ConnectionTrait, id: i64) -> Result<Option<TokenRow>, DbErr> {
    let sql = format!(
        "WITH t AS ( \
             UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 \
             RETURNING *) \
         SELECT {TOKEN_COLUMNS} FROM t JOIN principals p ON p.id = t.principal_id"
    );
    TokenRow::find_by_statement(stmt(&sql, [id.into()]))
        .one(db)
        .await
}
