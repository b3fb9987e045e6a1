//! Request guards: who is calling (`Caller`), admin-only routes (`Admin`),
//! readers of the fleet (`Observer`), and the operator pages that
//! configuration may open (`StatsAccess`, `MetricsAccess`).
//! Missing or bad credentials answer 401; a caller without the right, 403;
//! 429 `auth_busy` when unrecognised tokens queue for their lookup.

use axum::extract::FromRequestParts;
use axum::http::header::AUTHORIZATION;
use axum::http::request::Parts;

use crate::error::ApiError;
use crate::server::Parking;
use crate::service::AppState;
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

/// Authenticates the request's bearer token. A refusal is answered only
/// after `--auth-failure-delay`: a client that tries token after token on
/// a connection gets few tries a second (and costs little CPU), while a
/// person with a wrong token loses a moment. The wait holds no database
/// connection, no lookup permit, and not the connection's place under the
/// connection limit (the connection may be evicted meanwhile, which ends
/// the wait).
pub async fn caller(parts: &Parts, state: &AppState) -> Result<Principal, ApiError> {
    let result = match bearer(parts) {
        Some(token) => auth::authenticate(state, token).await,
        None => Err(ApiError::Unauthorized(
            "missing `Authorization: Bearer <token>`",
        )),
    };
    if matches!(result, Err(ApiError::Unauthorized(_))) {
        let delay = state.settings().auth_failure_delay;
        match parts.extensions.get::<Parking>() {
            Some(parking) => parking.wait(delay).await,
            // Served without the server (a router called directly).
            None => tokio::time::sleep(delay).await,
        }
    }
    result
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

/// Access to `/stats` and `/api/v1/stats`: a user's or admin's token, or
/// none with `--public-stats`. Carries who reads (`None`: no token), since
/// what the page shows of tasks depends on it; a token that is sent must be
/// valid.
#[derive(Debug, Clone)]
pub struct StatsAccess(pub Option<Principal>);

impl FromRequestParts<AppState> for StatsAccess {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        if state.settings().public_stats {
            if !parts.headers.contains_key(AUTHORIZATION) {
                return Ok(StatsAccess(None));
            }
            return caller(parts, state)
                .await
                .map(|reader| StatsAccess(Some(reader)));
        }
        Observer::from_request_parts(parts, state)
            .await
            .map(|Observer(reader)| StatsAccess(Some(reader)))
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
