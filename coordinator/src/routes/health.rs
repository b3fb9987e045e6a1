//! `/health`: whether the coordinator can serve, for load balancers.

use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use sea_orm::ConnectionTrait;
use serde_json::json;

use crate::service::AppState;

/// The health route.
pub fn router() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

/// 200 `healthy` when the database answers, 503 `unhealthy` otherwise.
async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let probe = tokio::time::timeout(
        std::time::Duration::from_secs(2),
        state.db().execute_unprepared("SELECT 1"),
    )
    .await;
    match probe {
        Ok(Ok(_)) => (
            StatusCode::OK,
            axum::Json(json!({ "status": "healthy", "reasons": [] })),
        ),
        _ => (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({ "status": "unhealthy", "reasons": ["database unreachable"] })),
        ),
    }
}
