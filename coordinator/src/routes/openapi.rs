//! `/api/openapi.json`: the OpenAPI 3.1 description of every route. Each
//! handler's `#[utoipa::path]` is both its documentation and, through
//! `utoipa_axum`'s `routes!`, its registration (path and method), so the
//! document cannot drift from what the router serves. This module holds the
//! document's root (title, security schemes, tags) and serves the document.

use std::sync::Arc;

use axum::Extension;
use axum::response::{IntoResponse, Response};
use switchyard_protocol::ErrorBody;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::UtoipaMethodRouter;
use utoipa_axum::routes;

use super::extract::Json;
use crate::service::AppState;

/// The document's root: what the routes add their paths and schemas to.
/// [`ErrorBody`] is named here because the error families of
/// [`responses`](super::responses) reference it without adding it.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Switchyard coordinator",
        description = "Submit tasks, run workers, and watch the fleet. \
                       Every route but `/health` and this document needs \
                       `Authorization: Bearer <token>`; admin routes need an admin's."
    ),
    components(schemas(ErrorBody)),
    modifiers(&AdminToken),
    security(("token" = [])),
    tags(
        (name = "tasks", description = "Submitting, reading and cancelling tasks"),
        (name = "workers", description = "The worker agent's side: register, heartbeat, fetch, report"),
        (name = "admin", description = "Dispatcher and fleet administration; needs the admin token"),
        (name = "operations", description = "Health, metrics, dashboard and this document"),
    )
)]
pub struct ApiDoc;

/// Declares the admin token as an HTTP bearer scheme named `admin_token`.
#[derive(Debug)]
struct AdminToken;

impl Modify for AdminToken {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "admin_token",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
        components.add_security_scheme(
            "token",
            SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)),
        );
    }
}

/// The document route. It serves the [`Document`] that
/// [`routes::router`](super::router) adds to each request once the whole
/// document is known.
pub fn routes() -> Vec<UtoipaMethodRouter<AppState>> {
    vec![routes!(openapi)]
}

/// The finished document, shared by every request for it.
#[derive(Clone)]
pub struct Document(Arc<utoipa::openapi::OpenApi>);

impl std::fmt::Debug for Document {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Document").finish_non_exhaustive()
    }
}

impl Document {
    /// Wraps the document the routes built.
    pub fn new(document: utoipa::openapi::OpenApi) -> Self {
        Self(Arc::new(document))
    }
}

/// This document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "operations",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object))
)]
async fn openapi(Extension(document): Extension<Document>) -> Response {
    Json(document.0.as_ref()).into_response()
}
