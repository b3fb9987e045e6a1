//! `/stats` (the dashboard page) and `/api/v1/stats` (the same numbers as JSON).
//! Both show tasks only to those who may see them: see [`stats::stats`].

use super::auth::StatsAccess;
use axum::Router;
use axum::extract::State;
use axum::response::Html;
use axum::routing::get;
use switchyard_protocol::{ErrorBody, Stats, StatsQuery};

use super::dashboard;
use super::extract::{Json, Query};
use crate::error::ApiError;
use crate::service::{AppState, stats};

/// The dashboard routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/stats", get(page))
        .route("/api/v1/stats", get(json))
}

/// The dashboard: an HTML page that reloads itself every few seconds. An
/// admin sees every queued task; a user only their own; a worker's token, or
/// no token with `--public-stats`, no task.
#[utoipa::path(
    get,
    path = "/stats",
    tag = "operations",
    params(StatsQuery),
    responses(
        (status = 200, description = "The dashboard page", content_type = "text/html", body = String),
        (status = 400, description = "Malformed query", body = ErrorBody),
        (status = 401, description = "Missing token (unless --public-stats), or a bad one", body = ErrorBody),
        (status = 403, description = "A worker or registration token (unless --public-stats)", body = ErrorBody),
        (status = 422, description = "Invalid paging", body = ErrorBody),
    )
)]
pub async fn page(
    StatsAccess(reader): StatsAccess,
    State(state): State<AppState>,
    Query(query): Query<StatsQuery>,
) -> Result<Html<String>, ApiError> {
    let stats = stats::stats(&state, reader.as_ref(), query).await?;
    Ok(Html(dashboard::page(&stats)))
}

/// The dashboard's numbers; `scope` says whose tasks they show (as for the page).
#[utoipa::path(
    get,
    path = "/api/v1/stats",
    tag = "operations",
    params(StatsQuery),
    responses(
        (status = 200, description = "Task counts, backlog, throughput, workers", body = Stats),
        (status = 400, description = "Malformed query", body = ErrorBody),
        (status = 401, description = "Missing token (unless --public-stats), or a bad one", body = ErrorBody),
        (status = 403, description = "A worker or registration token (unless --public-stats)", body = ErrorBody),
        (status = 422, description = "Invalid paging", body = ErrorBody),
    )
)]
pub async fn json(
    StatsAccess(reader): StatsAccess,
    State(state): State<AppState>,
    Query(query): Query<StatsQuery>,
) -> Result<Json<Stats>, ApiError> {
    Ok(Json(stats::stats(&state, reader.as_ref(), query).await?))
}
