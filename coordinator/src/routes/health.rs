//! `/health`: whether the coordinator can serve, for load balancers and
//! people. 200 for `healthy` and `degraded` (keep sending traffic), 503 for
//! `unhealthy` (take it out of rotation).

use axum::extract::State;
use axum::http::StatusCode;
use switchyard_protocol::{HealthReport, HealthStatus};
use utoipa_axum::router::UtoipaMethodRouter;
use utoipa_axum::routes;

use super::extract::Json;
use crate::service::{AppState, health};

/// The health route, with its documentation.
pub fn routes() -> Vec<UtoipaMethodRouter<AppState>> {
    vec![routes!(health)]
}

/// `healthy`, `degraded` or `unhealthy`, with the reasons.
#[utoipa::path(
    get,
    path = "/health",
    tag = "operations",
    security(()),
    responses(
        (status = 200, description = "Healthy, or degraded (serving; see the reasons)", body = HealthReport),
        (status = 503, description = "Unhealthy: cannot serve (see the reasons)", body = HealthReport),
    )
)]
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<HealthReport>) {
    let report = health::check(&state).await;
    let status = match report.status {
        HealthStatus::Healthy | HealthStatus::Degraded => StatusCode::OK,
        HealthStatus::Unhealthy => StatusCode::SERVICE_UNAVAILABLE,
    };
    (status, Json(report))
}
