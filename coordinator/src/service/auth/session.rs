//! Dashboard sessions: a person logs in with an API token and their
//! browser holds a random secret instead.
//!
//! The database keeps the SHA-256 of the secret, the SHA-256 of the token
//! that logged in, the token the session's forms must carry (against
//! cross-site requests) and the expiry. Every use authenticates the token's
//! hash again through the token cache, so the session acts exactly as the
//! token would and ends with it (revoked or expired). A session past its
//! expiry is deleted when next presented, and every login deletes the
//! expired ones. Sessions live in the database, so any coordinator on it
//! serves them.

use subtle::ConstantTimeEq;

use super::secret::{self, TokenHash};
use super::{Principal, authenticate, authenticate_hash};
use crate::error::ApiError;
use crate::service::AppState;
use crate::storage;

/// What every refused session is told.
const ENDED: ApiError = ApiError::Unauthorized("no session, or it has ended: log in again");

/// What a refused login is told: not which part was wrong.
const REFUSED: ApiError = ApiError::Unauthorized("invalid, expired or revoked token");

/// A live session: who acts through it and the token its forms carry.
#[derive(Debug, Clone)]
pub struct Session {
    pub principal: Principal,
    pub csrf: String,
}

impl Session {
    /// Whether `presented` is this session's form token (compared in
    /// constant time).
    pub fn csrf_matches(&self, presented: &str) -> bool {
        self.csrf.as_bytes().ct_eq(presented.as_bytes()).into()
    }
}

/// A session just begun, with the secret for its cookie (shown only here).
#[derive(Debug)]
pub struct Begun {
    pub secret: String,
    pub session: Session,
}

/// Logs in with `token`; `user`, when given, must name the token's
/// principal. Only users and admins may log in (a worker's token may not).
pub async fn login(state: &AppState, token: &str, user: Option<&str>) -> Result<Begun, ApiError> {
    let principal = authenticate(state, token).await?;
    if user.is_some_and(|user| user != principal.name) || principal.may_observe().is_err() {
        return Err(REFUSED);
    }
    let secret = secret::random()?;
    let csrf = secret::random()?;
    storage::sessions::insert(
        state.db(),
        &secret::hash(&secret),
        &secret::hash(token),
        &csrf,
        state.settings().session_lifetime.as_secs_f64(),
    )
    .await?;
    let expired = storage::sessions::delete_expired(state.db()).await?;
    if expired > 0 {
        tracing::debug!(expired, "deleted expired sessions");
    }
    tracing::info!(principal = %principal.name, "logged in to the dashboard");
    Ok(Begun {
        secret,
        session: Session { principal, csrf },
    })
}

/// The session whose cookie holds `secret`: 401 when there is none, it has
/// expired (it is deleted then), or its token is no longer valid.
pub async fn resume(state: &AppState, secret: &str) -> Result<Session, ApiError> {
    if !secret::well_formed_random(secret) {
        return Err(ENDED);
    }
    let hash = secret::hash(secret);
    let Some(row) = storage::sessions::live(state.db(), &hash).await? else {
        storage::sessions::delete(state.db(), &hash).await?;
        return Err(ENDED);
    };
    let token = TokenHash::try_from(row.token_hash.as_slice()).map_err(|_| {
        ApiError::Internal(anyhow::anyhow!("a session's token hash is not 32 bytes"))
    })?;
    match authenticate_hash(state, token).await {
        Ok(principal) => Ok(Session {
            principal,
            csrf: row.csrf,
        }),
        Err(ApiError::Unauthorized(_)) => {
            storage::sessions::delete(state.db(), &hash).await?;
            Err(ENDED)
        }
        Err(other) => Err(other),
    }
}

/// Ends the session whose cookie holds `secret`.
pub async fn logout(state: &AppState, secret: &str) -> Result<(), ApiError> {
    storage::sessions::delete(state.db(), &secret::hash(secret)).await?;
    Ok(())
}
