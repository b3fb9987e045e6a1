//! HTTP routes: one module per resource, each a `Router<AppState>`. Handlers
//! only extract, call a service and answer; the logic lives in `service`.

pub mod admin;
pub mod auth;
mod dashboard;
pub mod extract;
pub mod health;
pub mod metrics;
pub mod openapi;
pub mod stats;
pub mod tasks;
pub mod tokens;
pub mod workers;

use axum::Router;
use axum::http::StatusCode;
use axum::middleware;
use axum::response::IntoResponse;

use crate::error::ApiError;
use crate::service::AppState;

/// Every route of the API, with JSON answers for unknown routes and methods.
pub fn router(state: AppState) -> Router {
    let api = Router::new()
        .merge(tasks::router())
        .merge(workers::router())
        .merge(admin::router())
        .merge(tokens::router());
    Router::new()
        .nest("/api/v1", api)
        .merge(health::router())
        .merge(stats::router())
        .merge(metrics::router())
        .merge(openapi::router())
        .fallback(|| async { ApiError::RouteNotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::metrics::http::track,
        ))
        .with_state(state)
}

/// `201 Created` with a JSON body.
pub fn created<T: serde::Serialize>(body: T) -> impl IntoResponse {
    (StatusCode::CREATED, axum::Json(body))
}
