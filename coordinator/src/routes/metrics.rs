//! `/metrics`: Prometheus text exposition of this coordinator's metrics.

use super::auth::MetricsAccess;
use axum::Router;
use axum::extract::State;
use axum::http::header::CONTENT_TYPE;
use axum::response::IntoResponse;
use axum::routing::get;

use crate::service::{AppState, stats};

/// The content type of the Prometheus text format.
pub const CONTENT_TYPE_TEXT: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The metrics route.
pub fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// Counters and histograms since start-up, and gauges read now.
#[utoipa::path(
    get,
    path = "/metrics",
    tag = "operations",
    responses(
        (status = 200, description = "Prometheus text format (version 0.0.4)",
         content_type = "text/plain", body = String),
        (status = 401, description = "Missing or bad token (unless --public-metrics)",
         body = switchyard_protocol::ErrorBody),
        (status = 403, description = "A worker or registration token (unless --public-metrics)",
         body = switchyard_protocol::ErrorBody),
    )
)]
pub async fn metrics(_: MetricsAccess, State(state): State<AppState>) -> impl IntoResponse {
    let gauges = stats::scrape_gauges(&state).await;
    (
        [(CONTENT_TYPE, CONTENT_TYPE_TEXT)],
        state.metrics().render(gauges),
    )
}
