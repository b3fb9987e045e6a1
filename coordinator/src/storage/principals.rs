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
    /// `None` for a worker token the bootstrap admin registered.
    pub principal_id: Option<i64>,
    /// The principal's name and role; `None` with `principal_id`.
    pub principal: Option<String>,
    pub role: Option<String>,
    pub kind: String,
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

const TOKEN_COLUMNS: &str = "t.id, t.principal_id, p.name AS principal, p.role::text AS role, \
    t.kind, t.prefix, t.label, t.worker_id, t.registered_with, t.created_at, t.expires_at, \
    EXTRACT(EPOCH FROM t.expires_at - now())::float8 AS expires_in_secs, t.revoked_at";

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
    /// `None` only for a worker token the bootstrap admin registered.
    pub principal_id: Option<i64>,
    pub kind: &'a str,
    pub hash: Vec<u8>,
    pub prefix: String,
    pub label: Option<String>,
    pub worker_id: Option<i64>,
    /// The token that registered the worker (worker tokens only).
    pub registered_with: Option<i64>,
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
                                     registered_with, expires_at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, \
                     CASE WHEN $8::bigint IS NULL THEN NULL \
                          ELSE now() + make_interval(secs => $8::bigint) END) \
             RETURNING *) \
         SELECT {TOKEN_COLUMNS} FROM t LEFT JOIN principals p ON p.id = t.principal_id"
    );
    let values: [Value; 8] = [
        token.principal_id.into(),
        token.kind.into(),
        token.hash.into(),
        token.prefix.into(),
        token.label.into(),
        token.worker_id.into(),
        token.registered_with.into(),
        token.expires_in_secs.into(),
    ];
    TokenRow::find_by_statement(stmt(&sql, values))
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
    let sql = format!(
        "SELECT {TOKEN_COLUMNS} FROM api_tokens t LEFT JOIN principals p ON p.id = t.principal_id \
         WHERE t.token_hash = $1 AND t.revoked_at IS NULL \
           AND (t.expires_at IS NULL OR t.expires_at > now()) \
           AND (t.worker_id IS NULL OR EXISTS ( \
                SELECT 1 FROM workers w WHERE w.id = t.worker_id AND w.state <> 'gone')) \
           AND (t.registered_with IS NULL OR EXISTS ( \
                SELECT 1 FROM api_tokens r WHERE r.id = t.registered_with AND r.revoked_at IS NULL))"
    );
    TokenRow::find_by_statement(stmt(&sql, [hash.to_vec().into()]))
        .one(db)
        .await
}

/// Every token, newest first.
pub async fn tokens(db: &impl ConnectionTrait) -> Result<Vec<TokenRow>, DbErr> {
    let sql = format!(
        "SELECT {TOKEN_COLUMNS} FROM api_tokens t LEFT JOIN principals p ON p.id = t.principal_id \
         ORDER BY t.id DESC"
    );
    TokenRow::find_by_statement(stmt(&sql, [])).all(db).await
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
    let sql = format!(
        "WITH t AS ( \
             UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1 \
             RETURNING *), \
         made AS ( \
             UPDATE api_tokens SET revoked_at = now() \
             WHERE registered_with = $1 AND revoked_at IS NULL RETURNING id) \
         SELECT {TOKEN_COLUMNS}, (SELECT count(*) FROM made) AS cascaded \
         FROM t LEFT JOIN principals p ON p.id = t.principal_id"
    );
    let row = RevokedRow::find_by_statement(stmt(&sql, [id.into()]))
        .one(db)
        .await?;
    Ok(row.map(|row| Revoked {
        token: row.token,
        cascaded: row.cascaded,
    }))
}
