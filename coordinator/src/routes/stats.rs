//! `/stats` (the dashboard page) and `/api/v1/stats` (the same numbers as JSON).

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

/// The dashboard: an HTML page that reloads itself every few seconds.
#[utoipa::path(
    get,
    path = "/stats",
    tag = "operations",
    params(StatsQuery),
    responses(
        (status = 200, description = "The dashboard page", content_type = "text/html", body = String),
        (status = 400, description = "Malformed query", body = ErrorBody),
        (status = 401, description = "Missing or bad token (unless --public-stats)", body = ErrorBody),
        (status = 403, description = "A worker or registration token (unless --public-stats)", body = ErrorBody),
        (status = 422, description = "Invalid paging", body = ErrorBody),
    )
)]
pub async fn page(
    _: StatsAccess,
    State(state): State<AppState>,
    Query(query): Query<StatsQuery>,
) -> Result<Html<String>, ApiError> {
    let stats = stats::stats(&state, query).await?;
    Ok(Html(dashboard::page(&stats)))
}

/// The dashboard's numbers.
#[utoipa::path(
    get,
    path = "/api/v1/stats",
    tag = "operations",
    params(StatsQuery),
    responses(
        (status = 200, description = "Task counts, backlog, throughput, workers", body = Stats),
        (status = 400, description = "Malformed query", body = ErrorBody),
        (status = 401, description = "Missing or bad token (unless --public-stats)", body = ErrorBody),
        (status = 403, description = "A worker or registration token (unless --public-stats)", body = ErrorBody),
        (status = 422, description = "Invalid paging", body = ErrorBody),
    )
)]
pub async fn json(
    _: StatsAccess,
    State(state): State<AppState>,
    Query(query): Query<StatsQuery>,
) -> Result<Json<Stats>, ApiError> {
    Ok(Json(stats::stats(&state, query).await?))
}
