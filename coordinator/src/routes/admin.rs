//! `/api/v1/admin`: seed, rebalance, dispatcher snapshot, worker changes
//! and drains.
//! Every route requires the admin token.

use axum::Router;
use axum::extract::State;
use axum::routing::{get, patch, post};
use serde::Deserialize;
use switchyard_protocol::{
    DispatcherView, RebalanceResult, SeedResult, TaskId, UpdateWorker, WorkerId, WorkerView,
};

use super::auth::Admin;
use super::extract::{Json, Path, Query};
use crate::error::ApiError;
use crate::service::{AppState, admin, workers};

/// The admin routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/seed", post(seed))
        .route("/admin/rebalance", post(rebalance))
        .route("/admin/dispatcher", get(dispatcher))
        .route("/admin/workers/{id}", patch(update_worker))
        .route("/admin/workers/{id}/drain", post(drain))
        .route("/admin/workers/{id}/activate", post(activate))
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/seed",
    tag = "admin",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The dispatcher was rebuilt from the database", body = SeedResult),
        (status = 401, description = "Missing or bad token", body = switchyard_protocol::ErrorBody),
        (status = 403, description = "Not an admin", body = switchyard_protocol::ErrorBody),
        (status = 503, description = "The database is unavailable", body = switchyard_protocol::ErrorBody),
    )
)]
async fn seed(_: Admin, State(state): State<AppState>) -> Result<Json<SeedResult>, ApiError> {
    Ok(Json(admin::seed(&state).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/rebalance",
    tag = "admin",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Queued tasks moved to less loaded workers (Balanced mode)", body = RebalanceResult),
        (status = 401, description = "Missing or bad token", body = switchyard_protocol::ErrorBody),
        (status = 403, description = "Not an admin", body = switchyard_protocol::ErrorBody),
    )
)]
async fn rebalance(_: Admin, State(state): State<AppState>) -> Json<RebalanceResult> {
    Json(admin::rebalance(&state))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapshotQuery {
    task: Option<TaskId>,
}

#[utoipa::path(
    get,
    path = "/api/v1/admin/dispatcher",
    tag = "admin",
    params(("task" = Option<i64>, Query, description = "Also show where this task is held")),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The dispatcher's state", body = DispatcherView),
        (status = 400, description = "Malformed body or query", body = switchyard_protocol::ErrorBody),
        (status = 401, description = "Missing or bad token", body = switchyard_protocol::ErrorBody),
        (status = 403, description = "Not an admin", body = switchyard_protocol::ErrorBody),
    )
)]
async fn dispatcher(
    _: Admin,
    State(state): State<AppState>,
    Query(query): Query<SnapshotQuery>,
) -> Json<DispatcherView> {
    Json(admin::snapshot(&state, query.task))
}

#[utoipa::path(
    patch,
    path = "/api/v1/admin/workers/{id}",
    tag = "admin",
    params(("id" = i64, Path, description = "Worker id")),
    request_body = UpdateWorker,
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The changed worker", body = WorkerView),
        (status = 400, description = "Malformed body or query", body = switchyard_protocol::ErrorBody),
        (status = 401, description = "Missing or bad token", body = switchyard_protocol::ErrorBody),
        (status = 403, description = "Not an admin", body = switchyard_protocol::ErrorBody),
        (status = 404, description = "No such worker", body = switchyard_protocol::ErrorBody),
        (status = 410, description = "The worker is gone: register again", body = switchyard_protocol::ErrorBody),
        (status = 422, description = "A value is out of bounds", body = switchyard_protocol::ErrorBody),
        (status = 503, description = "The database is unavailable", body = switchyard_protocol::ErrorBody),
    )
)]
async fn update_worker(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<WorkerId>,
    Json(request): Json<UpdateWorker>,
) -> Result<Json<WorkerView>, ApiError> {
    Ok(Json(workers::update(&state, id, request).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/workers/{id}/drain",
    tag = "admin",
    params(("id" = i64, Path, description = "Worker id")),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Draining: it finishes what it runs and takes no new work", body = WorkerView),
        (status = 400, description = "Malformed body or query", body = switchyard_protocol::ErrorBody),
        (status = 401, description = "Missing or bad token", body = switchyard_protocol::ErrorBody),
        (status = 403, description = "Not an admin", body = switchyard_protocol::ErrorBody),
        (status = 404, description = "No such worker", body = switchyard_protocol::ErrorBody),
        (status = 410, description = "The worker is gone: register again", body = switchyard_protocol::ErrorBody),
        (status = 503, description = "The database is unavailable", body = switchyard_protocol::ErrorBody),
    )
)]
async fn drain(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<WorkerId>,
) -> Result<Json<WorkerView>, ApiError> {
    Ok(Json(workers::set_draining(&state, id, true).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/workers/{id}/activate",
    tag = "admin",
    params(("id" = i64, Path, description = "Worker id")),
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "Active again", body = WorkerView),
        (status = 400, description = "Malformed body or query", body = switchyard_protocol::ErrorBody),
        (status = 401, description = "Missing or bad token", body = switchyard_protocol::ErrorBody),
        (status = 403, description = "Not an admin", body = switchyard_protocol::ErrorBody),
        (status = 404, description = "No such worker", body = switchyard_protocol::ErrorBody),
        (status = 410, description = "The worker is gone: register again", body = switchyard_protocol::ErrorBody),
        (status = 503, description = "The database is unavailable", body = switchyard_protocol::ErrorBody),
    )
)]
async fn activate(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<WorkerId>,
) -> Result<Json<WorkerView>, ApiError> {
    Ok(Json(workers::set_draining(&state, id, false).await?))
}
