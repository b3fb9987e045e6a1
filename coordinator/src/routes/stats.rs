//! `/stats` (the dashboard page) and `/api/v1/stats` (the same numbers as JSON).
//! Both show tasks only to those who may see them: see [`stats::stats`].

use axum::extract::State;
use axum::response::Html;
use switchyard_protocol::{Stats, StatsQuery};
use utoipa_axum::router::UtoipaMethodRouter;
use utoipa_axum::routes;

use super::auth::StatsAccess;
use super::dashboard;
use super::extract::{Json, Query};
use super::responses::{AuthErrors, InputErrors};
use crate::error::ApiError;
use crate::service::{AppState, stats};

/// The dashboard routes, with their documentation.
pub fn routes() -> Vec<UtoipaMethodRouter<AppState>> {
    vec![routes!(stats_page), routes!(stats_json)]
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
        AuthErrors, InputErrors,
    )
)]
pub async fn stats_page(
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
        AuthErrors, InputErrors,
    )
)]
pub async fn stats_json(
    StatsAccess(reader): StatsAccess,
    State(state): State<AppState>,
    Query(query): Query<StatsQuery>,
) -> Result<Json<Stats>, ApiError> {
    Ok(Json(stats::stats(&state, reader.as_ref(), query).await?))
}
