//! Who is calling: tokens, principals and what each may do.
//!
//! A token is 32 random bytes, shown once and stored only as its SHA-256.
//! A lookup hashes the presented token and finds the row by hash, so the
//! database never holds a usable secret and comparing secrets never happens
//! byte by byte. The bootstrap admin token from the configuration is
//! compared in constant time.
//!
//! A token's rights are its [`Scope`]: a worker token acts only as its
//! worker, whoever registered it. A worker token dies with its worker
//! (unregistered or declared dead) and with the token that registered it.
//! Recently seen tokens are cached ([`cache`]); revoking through this
//! coordinator clears the cache at once, other coordinators notice within
//! [`CACHE_TTL`], and an expired token is refused at its expiry everywhere.
//!
//! # Layout
//! - [`principal`]: the caller, its scope and the permission checks.
//! - [`secret`]: making, recognising and hashing token secrets.
//! - [`cache`]: live and refused tokens, and the gate of database lookups.
//! - [`session`]: dashboard logins, which stand for the token they began with.

pub mod cache;
pub mod principal;
pub mod secret;
pub mod session;

use std::time::{Duration, Instant};

use switchyard_protocol::{CreatePrincipal, CreateToken, IssuedToken, Role, TokenInfo, WorkerId};

use sea_orm::ConnectionTrait;

use super::AppState;
use crate::domain::validate;
use crate::error::ApiError;
use crate::storage::{self, principals::NewToken, principals::TokenRow};
pub use cache::{CACHE_TTL, TokenCache};
use cache::{Known, Live};
pub use principal::{Principal, Scope};
pub use secret::TokenHash;

pub use switchyard_protocol::text::BOOTSTRAP_ADMIN;

/// What every refused token is told: nothing about why.
const REFUSED: ApiError = ApiError::Unauthorized("invalid, expired or revoked token");

/// The scope a token row grants; `None` for a row no issued token has.
fn scope_of(row: &TokenRow) -> Option<Scope> {
    Scope::of(
        row.kind.into(),
        row.role.map(Role::from),
        row.worker_id.map(WorkerId),
    )
}

fn principal_of(row: &TokenRow, scope: Scope) -> Principal {
    Principal {
        name: row
            .principal
            .clone()
            .unwrap_or_else(|| BOOTSTRAP_ADMIN.to_owned()),
        scope,
        token_id: Some(row.id),
        principal_id: row.principal_id,
    }
}

fn info(row: TokenRow) -> TokenInfo {
    let scope = scope_of(&row);
    TokenInfo {
        id: row.id,
        // What the token acts as; a row no token is issued with shows its
        // principal's role (and is refused when presented).
        role: scope.map_or_else(|| row.role.map_or(Role::User, Role::from), Scope::role),
        kind: row.kind.into(),
        principal: row.principal.unwrap_or_else(|| BOOTSTRAP_ADMIN.to_owned()),
        prefix: row.prefix,
        label: row.label,
        worker_id: row.worker_id.map(WorkerId),
        registered_with: row.registered_with,
        created_at: row.created_at,
        expires_at: row.expires_at,
        revoked_at: row.revoked_at,
    }
}

/// The cache entry for a token the database confirmed, asked at `asked`:
/// its expiry is counted from then, so it is never later than the
/// database's (whose clock read the remaining time after `asked`).
fn live(row: &TokenRow, principal: Principal, asked: Instant) -> Live {
    Live {
        principal,
        registered_with: row.registered_with,
        confirmed: asked,
        expires: row
            .expires_in_secs
            .map(|secs| asked + Duration::try_from_secs_f64(secs).unwrap_or(Duration::ZERO)),
    }
}

/// Who presents `token`: 401 when nobody (unknown, revoked or expired, or
/// not even shaped like a token), 429 `auth_busy` when too many
/// unrecognised tokens are being looked up to look this one up now.
pub async fn authenticate(state: &AppState, token: &str) -> Result<Principal, ApiError> {
    let hash = secret::hash(token);
    if let Some(admin) = bootstrap_admin(state, &hash) {
        return Ok(admin);
    }
    if !secret::well_formed(token) {
        return Err(REFUSED);
    }
    authenticate_hash(state, hash).await
}

/// The bootstrap admin, when `hash` is its token's.
fn bootstrap_admin(state: &AppState, hash: &TokenHash) -> Option<Principal> {
    let admin = state.settings().admin_token_hash.as_ref()?;
    secret::same(hash, admin).then(|| Principal {
        name: BOOTSTRAP_ADMIN.to_owned(),
        scope: Scope::Admin,
        token_id: None,
        principal_id: None,
    })
}

/// Who presents the token whose hash is `hash` (a dashboard session
/// keeps only the hash of the token it logged in with): answered as
/// [`authenticate`] answers, through the same cache, so a revoked or
/// expired token is refused here as soon as there.
pub async fn authenticate_hash(state: &AppState, hash: TokenHash) -> Result<Principal, ApiError> {
    if let Some(admin) = bootstrap_admin(state, &hash) {
        return Ok(admin);
    }
    let cache = state.tokens();
    match cache.check(&hash, Instant::now()) {
        Known::Valid(principal) => Ok(principal),
        Known::Refused => Err(REFUSED),
        // Valid lately: a real token's bearer, who does not queue behind
        // whoever sprays guesses.
        Known::Stale => look_up(state, hash).await,
        Known::Unknown => {
            let _permit = cache.lookup_permit().await?;
            // Another request may have looked it up while this one waited.
            match cache.check(&hash, Instant::now()) {
                Known::Valid(principal) => Ok(principal),
                Known::Refused => Err(REFUSED),
                Known::Stale | Known::Unknown => look_up(state, hash).await,
            }
        }
    }
}

/// Asks the database about a token and remembers the answer.
async fn look_up(state: &AppState, hash: TokenHash) -> Result<Principal, ApiError> {
    let asked = Instant::now();
    let seen = state.tokens().forgets();
    let row = storage::principals::live_token(state.db(), &hash).await?;
    let Some((row, scope)) = row.and_then(|row| match scope_of(&row) {
        Some(scope) => Some((row, scope)),
        None => {
            tracing::warn!(token_id = row.id, kind = ?row.kind, "refused a token whose row no issued token has");
            None
        }
    }) else {
        state.tokens().refuse(hash, Instant::now());
        return Err(REFUSED);
    };
    let principal = principal_of(&row, scope);
    state
        .tokens()
        .remember(hash, live(&row, principal.clone(), asked), seen);
    Ok(principal)
}

/// A token just stored, to be remembered as valid once what stored it is
/// committed (so its first use here needs no lookup).
#[derive(Debug)]
#[must_use = "remember the token once its row is committed"]
pub struct Issued {
    hash: TokenHash,
    live: Live,
    seen: u64,
}

impl Issued {
    /// Remembers the token as valid (its row is committed).
    pub fn remember(self, state: &AppState) {
        state.tokens().remember(self.hash, self.live, self.seen);
    }
}

/// Stores a new token on `db` (a transaction, or the pool).
async fn issue(
    state: &AppState,
    db: &impl ConnectionTrait,
    principal: Option<(i64, String)>,
    scope: Scope,
    label: Option<String>,
    registered_with: Option<i64>,
    expires_in_secs: Option<i64>,
) -> Result<(IssuedToken, Issued), ApiError> {
    let token = secret::generate()?;
    let hash = secret::hash(&token);
    let asked = Instant::now();
    let seen = state.tokens().forgets();
    let row = storage::principals::insert_token(
        db,
        NewToken {
            principal_id: principal.as_ref().map(|(id, _)| *id),
            kind: scope.kind().into(),
            hash: hash.to_vec(),
            prefix: token.chars().take(10).collect(),
            label,
            worker_id: scope.worker().map(|id| id.0),
            registered_with,
            expires_in_secs,
        },
    )
    .await?;
    let principal = Principal {
        name: principal.map_or_else(|| BOOTSTRAP_ADMIN.to_owned(), |(_, name)| name),
        scope,
        token_id: Some(row.id),
        principal_id: row.principal_id,
    };
    let issued = Issued {
        hash,
        live: live(&row, principal, asked),
        seen,
    };
    Ok((
        IssuedToken {
            token,
            info: info(row),
        },
        issued,
    ))
}

/// The scope of the tokens a principal of `role` is issued (worker tokens
/// are issued only at registration).
fn scope_for(role: Role) -> Scope {
    match role {
        Role::Worker => Scope::Registrar,
        Role::User => Scope::User,
        Role::Admin => Scope::Admin,
    }
}

/// Creates a principal and its first token (a registration token for a
/// worker principal, an API token otherwise).
pub async fn create_principal(
    state: &AppState,
    request: CreatePrincipal,
) -> Result<IssuedToken, ApiError> {
    validate::principal_name(&request.name)?;
    let row = storage::principals::create_principal(state.db(), &request.name, request.role.into())
        .await?
        .ok_or_else(|| ApiError::PrincipalExists(request.name.clone()))?;
    let scope = scope_for(request.role);
    let (token, issued) = issue(
        state,
        state.db(),
        Some((row.id, row.name)),
        scope,
        None,
        None,
        None,
    )
    .await?;
    issued.remember(state);
    Ok(token)
}

/// Creates another token for the principal `name`.
pub async fn create_token(
    state: &AppState,
    name: &str,
    request: CreateToken,
) -> Result<IssuedToken, ApiError> {
    validate::token_request(&request)?;
    if validate::principal_name(name).is_err() {
        return Err(ApiError::PrincipalNotFound(name.to_owned()));
    }
    let row = storage::principals::principal_by_name(state.db(), name)
        .await?
        .ok_or_else(|| ApiError::PrincipalNotFound(name.to_owned()))?;
    let role = Role::from(row.role);
    let (token, issued) = issue(
        state,
        state.db(),
        Some((row.id, row.name)),
        scope_for(role),
        request.label,
        None,
        request.expires_in_secs,
    )
    .await?;
    issued.remember(state);
    Ok(token)
}

/// The token a newly registered worker acts with: it acts only as that
/// worker, whoever `registrar` is. It records its registrar's principal
/// (none for the bootstrap admin) and token, so that revoking that token
/// revokes it too. It never expires by itself: it dies with its worker.
/// Stored on `db`, the transaction that records the worker; remember it
/// once that is committed.
pub async fn issue_worker_token(
    state: &AppState,
    db: &impl ConnectionTrait,
    registrar: &Principal,
    worker: WorkerId,
) -> Result<(String, Issued), ApiError> {
    let principal = registrar
        .principal_id
        .map(|id| (id, registrar.name.clone()));
    let (token, issued) = issue(
        state,
        db,
        principal,
        Scope::Worker(worker),
        Some(format!("worker {worker}")),
        registrar.token_id,
        None,
    )
    .await?;
    Ok((token.token, issued))
}

/// Every token, without secrets, newest first.
pub async fn list_tokens(state: &AppState) -> Result<Vec<TokenInfo>, ApiError> {
    let rows = storage::principals::tokens(state.db()).await?;
    Ok(rows.into_iter().map(info).collect())
}

/// Revokes a token and every worker token registered with it; they all
/// stop working at once on this coordinator. Answers the revoked token.
pub async fn revoke_token(state: &AppState, id: i64) -> Result<TokenInfo, ApiError> {
    let revoked = storage::principals::revoke(state.db(), id)
        .await?
        .ok_or(ApiError::TokenNotFound(id))?;
    state.tokens().forget_token(id, Instant::now());
    tracing::info!(
        token_id = id,
        worker_tokens = revoked.cascaded,
        "token revoked, with the worker tokens registered with it"
    );
    Ok(info(revoked.token))
}

/// Forgets the tokens of a worker that left (their rows were revoked with
/// the worker's): they stop working at once on this coordinator.
pub fn forget_worker(state: &AppState, worker: WorkerId) {
    state.tokens().forget_worker(worker, Instant::now());
}
