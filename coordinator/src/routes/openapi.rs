//! `/api/openapi.json`: the OpenAPI 3.1 description of every route, built
//! from the handlers' `#[utoipa::path]` attributes and the protocol types'
//! schemas, so it cannot drift from the code.

use axum::Router;
use axum::routing::get;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::extract::Json;
use crate::service::AppState;

/// The document's root: every path and the schemas they use.
#[derive(Debug, OpenApi)]
#[openapi(
    info(
        title = "Switchyard coordinator",
        description = "Submit tasks, run workers, and watch the fleet. \
                       Every route but `/health` and this document needs \
                       `Authorization: Bearer <token>`; admin routes need an admin's."
    ),
    paths(
        super::tasks::submit,
        super::tasks::submit_batch,
        super::tasks::list,
        super::tasks::show,
        super::tasks::update,
        super::tasks::cancel,
        super::tasks::attempts,
        super::workers::register,
        super::workers::list,
        super::workers::show,
        super::workers::update,
        super::workers::heartbeat,
        super::workers::fetch,
        super::workers::report,
        super::workers::report_batch,
        super::workers::unregister,
        super::admin::seed,
        super::admin::rebalance,
        super::admin::dispatcher,
        super::admin::update_worker,
        super::admin::drain,
        super::admin::activate,
        super::tokens::create_principal,
        super::tokens::create_token,
        super::tokens::list_tokens,
        super::tokens::revoke_token,
        super::tokens::whoami,
        super::health::check,
        super::metrics::metrics,
        super::stats::page,
        super::stats::json,
        document,
    ),
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

/// The document route.
pub fn router() -> Router<AppState> {
    Router::new().route("/api/openapi.json", get(document))
}

/// This document.
#[utoipa::path(
    get,
    path = "/api/openapi.json",
    tag = "operations",
    security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document", body = Object))
)]
pub async fn document() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}
