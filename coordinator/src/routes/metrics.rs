//! `/metrics`: Prometheus text exposition of this coordinator's metrics.

use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use utoipa_axum::router::UtoipaMethodRouter;
use utoipa_axum::routes;

use super::auth::MetricsAccess;
use super::responses::AuthErrors;
use crate::service::{AppState, stats};

/// The content type of the Prometheus text format.
pub const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The metrics route, with its documentation.
pub fn routes() -> Vec<UtoipaMethodRouter<AppState>> {
    vec![routes!(metrics)]
}

/// Counters and histograms since start-up, and gauges read now.
///
/// Needs a user's or admin's token unless the coordinator runs with
/// `--public-metrics`.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus text format (version 0.0.4)",
         content_type = "text/plain", body = String),
        AuthErrors,
    )
)]
pub async fn metrics(_: MetricsAccess, State(state): State<AppState>) -> impl IntoResponse {
    let gauges = stats::scrape_gauges(&state).await;
    (
        [(CONTENT_TYPE, CONTENT_TYPE_TEXT)],
        state.metrics().render(gauges),
    )
}
