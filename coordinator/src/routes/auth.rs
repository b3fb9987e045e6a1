//! Request guards: who is calling (`Caller`, by bearer token or, for reads,
//! dashboard session), admin-only routes (`Admin`),
//! readers of the fleet (`Observer`), and the operator pages that
//! configuration may open (`StatsAccess`, `MetricsAccess`).
//! Missing or bad credentials answer 401; a caller without the right, 403;
//! 429 `auth_busy` when unrecognised tokens queue for their lookup.

use axum::extract::FromRequestParts;
use axum::http::Method;
use axum::http::header::{AUTHORIZATION, COOKIE};
use axum::http::request::Parts;

use crate::error::ApiError;
use crate::server::Parking;
use crate::service::AppState;
use crate::service::auth::session::{self, Session};
use crate::service::auth::{self, Principal};

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

/// An authenticated admin.
#[derive(Debug, Clone)]
pub struct Admin(pub Principal);

/// The token of `Authorization: Bearer <token>`, if any.
fn bearer(parts: &Parts) -> Option<&str> {
    let value = parts.headers.get(AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|token| !token.is_empty())
}

/// The name of the dashboard's session cookie.
pub const SESSION_COOKIE: &str = "switchyard_session";

/// The secret of the request's session cookie, if any.
pub fn session_secret(parts: &Parts) -> Option<&str> {
    parts
        .headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, secret)| secret.trim())
        .filter(|secret| !secret.is_empty())
}

/// Authenticates the request's bearer token. A refusal is answered only
/// after `--auth-failure-delay`: a client that tries token after token on
/// a connection gets few tries a second (and costs little CPU), while a
/// person with a wrong token loses a moment. The wait holds no database
/// connection, no lookup permit, and not the connection's place under the
/// connection limit (the connection may be evicted meanwhile, which ends
/// the wait).
///
/// Without a bearer token, a dashboard session's cookie authenticates
/// `GET` and `HEAD` requests (so that the dashboard's pages can follow a
/// task's output): a request that changes something needs the token, or
/// a page's form with its CSRF token.
pub async fn caller(parts: &Parts, state: &AppState) -> Result<Principal, ApiError> {
    authenticated(parts, state)
        .await
        .map(|(principal, _)| principal)
}

/// The caller as [`caller`] finds it, with its session when it came by the
/// session cookie.
pub async fn authenticated(
    parts: &Parts,
    state: &AppState,
) -> Result<(Principal, Option<Session>), ApiError> {
    let reading = parts.method == Method::GET || parts.method == Method::HEAD;
    let result = match (bearer(parts), session_secret(parts)) {
        (Some(token), _) => auth::authenticate(state, token)
            .await
            .map(|principal| (principal, None)),
        (None, Some(secret)) if reading => session::resume(state, secret)
            .await
            .map(|session| (session.principal.clone(), Some(session))),
        (None, Some(_)) => Err(ApiError::Unauthorized(
            "a session cookie serves only GET and HEAD requests: send `Authorization: Bearer <token>`",
        )),
        (None, None) => Err(ApiError::Unauthorized(
            "missing `Authorization: Bearer <token>`",
        )),
    };
    if matches!(result, Err(ApiError::Unauthorized(_))) {
        refusal_delay(parts.extensions.get::<Parking>(), state).await;
    }
    result
}

/// Waits `--auth-failure-delay` before a refusal is answered (see
/// [`caller`]), parked when the server gave the request a [`Parking`].
pub async fn refusal_delay(parking: Option<&Parking>, state: &AppState) {
    let delay = state.settings().auth_failure_delay;
    match parking {
        Some(parking) => parking.wait(delay).await,
        // Served without the server (a router called directly).
        None => tokio::time::sleep(delay).await,
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        caller(parts, state).await.map(Caller)
    }
}

impl FromRequestParts<AppState> for Admin {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = caller(parts, state).await?;
        principal.must_be_admin()?;
        Ok(Admin(principal))
    }
}

/// A user or an admin: who may read the fleet (workers, operator pages).
/// Worker and registration tokens may not.
#[derive(Debug, Clone)]
pub struct Observer(pub Principal);

impl FromRequestParts<AppState> for Observer {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let principal = caller(parts, state).await?;
        principal.may_observe()?;
        Ok(Observer(principal))
    }
}

/// Access to `/stats` and `/api/v1/stats`: a user's or admin's token or
/// dashboard session, or none with `--public-stats`. Carries who reads
/// (`None`: nobody), since what the page shows of tasks depends on it, and
/// the session it came by, if any; credentials that are sent must be valid.
#[derive(Debug, Clone)]
pub struct StatsAccess(pub Option<Principal>, pub Option<Session>);

impl FromRequestParts<AppState> for StatsAccess {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if state.settings().public_stats
            && !parts.headers.contains_key(AUTHORIZATION)
            && session_secret(parts).is_none()
        {
            return Ok(StatsAccess(None, None));
        }
        let (reader, session) = authenticated(parts, state).await?;
        if !state.settings().public_stats {
            reader.may_observe()?;
        }
        Ok(StatsAccess(Some(reader), session))
    }
}

/// Access to `/metrics`: a user's or admin's token, or none with
/// `--public-metrics`.
#[derive(Debug, Clone, Copy)]
pub struct MetricsAccess;

impl FromRequestParts<AppState> for MetricsAccess {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if !state.settings().public_metrics {
            Observer::from_request_parts(parts, state).await?;
        }
        Ok(MetricsAccess)
    }
}
