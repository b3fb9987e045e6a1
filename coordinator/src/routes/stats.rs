//! `/stats` (the dashboard page) and `/api/v1/stats` (the same numbers as JSON).
//! Both show tasks only to those who may see them: see [`stats::stats`].

use axum::extract::{OriginalUri, State};
use axum::http::HeaderMap;
use axum::http::header::{ACCEPT, AUTHORIZATION};
use axum::response::{Html, IntoResponse, Response};
use switchyard_protocol::{Stats, StatsQuery};
use utoipa_axum::router::UtoipaMethodRouter;
use utoipa_axum::routes;

use super::auth::StatsAccess;
use super::dashboard::{self, layout::Nav};
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
/// no token with `--public-stats`, no task. It also takes the dashboard's
/// session cookie (see `/login`); a browser with neither is sent to log in.
#[utoipa::path(
    get,
    path = "/stats",
    tag = "operations",
    params(StatsQuery),
    responses(
        (status = 200, description = "The dashboard page", content_type = "text/html", body = String),
        (status = 303, description = "A browser (`Accept: text/html`) without a token or session is sent to `/login`"),
        AuthErrors, InputErrors,
    )
)]
pub async fn stats_page(
    access: Result<StatsAccess, ApiError>,
    headers: HeaderMap,
    OriginalUri(uri): OriginalUri,
    State(state): State<AppState>,
    Query(query): Query<StatsQuery>,
) -> Result<Response, ApiError> {
    let StatsAccess(reader, session) = match access {
        Ok(access) => access,
        // A browser without credentials logs in first.
        Err(ApiError::Unauthorized(_)) if wants_html(&headers) => {
            let next =
                dashboard::percent_encode(uri.path_and_query().map_or("/stats", |p| p.as_str()));
            return Ok((
                axum::http::StatusCode::SEE_OTHER,
                [(axum::http::header::LOCATION, format!("/login?next={next}"))],
            )
                .into_response());
        }
        Err(other) => return Err(other),
    };
    let stats = stats::stats(&state, reader.as_ref(), query).await?;
    let nav = session.as_ref().map(|session| Nav {
        name: &session.principal.name,
        csrf: &session.csrf,
        admin: session.principal.is_admin(),
    });
    Ok(Html(dashboard::page(&stats, nav)).into_response())
}

/// Whether the request is a browser's without a token: it accepts HTML
/// and sends no `Authorization`.
fn wants_html(headers: &HeaderMap) -> bool {
    !headers.contains_key(AUTHORIZATION)
        && headers
            .get(ACCEPT)
            .and_then(|accept| accept.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"))
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
    StatsAccess(reader, _): StatsAccess,
    State(state): State<AppState>,
    Query(query): Query<StatsQuery>,
) -> Result<Json<Stats>, ApiError> {
    Ok(Json(stats::stats(&state, reader.as_ref(), query).await?))
}
