//! HTTP routes: one module per resource, each handing out its handlers as
//! utoipa-axum `routes!`, which take a handler's path and method from its
//! `#[utoipa::path]`: a route and its documentation are declared once, and
//! no module holds a router it could add an undocumented route to.
//! Handlers only extract, call a service and answer; the logic lives in
//! `service`.
//!
//! The dashboard's pages for people (`web`) are HTML, not API: they are
//! served beside the documented routes, outside the OpenAPI document.

pub mod admin;
pub mod auth;
mod dashboard;
pub mod extract;
pub mod health;
pub mod metrics;
pub mod openapi;
pub mod output;
pub mod responses;
pub mod stats;
pub mod tasks;
pub mod tokens;
mod web;
pub mod workers;

use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::{Extension, Router, middleware};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;

use crate::error::ApiError;
use crate::service::AppState;

/// Every route of the API with its documentation: the one list of routes.
fn documented() -> OpenApiRouter<AppState> {
    [
        tasks::routes(),
        output::routes(),
        workers::routes(),
        admin::routes(),
        tokens::routes(),
        health::routes(),
        stats::routes(),
        metrics::routes(),
        openapi::routes(),
    ]
    .into_iter()
    .flatten()
    .fold(
        OpenApiRouter::with_openapi(openapi::ApiDoc::openapi()),
        OpenApiRouter::routes,
    )
}

/// Every route of the API, with JSON answers for unknown routes and methods.
pub fn router(state: AppState) -> Router {
    let (routes, document) = documented().split_for_parts();
    routes
        .merge(web::router())
        .fallback(|| async { ApiError::RouteNotFound })
        .method_not_allowed_fallback(|| async { ApiError::MethodNotAllowed })
        .route_layer(Extension(openapi::Document::new(document)))
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
