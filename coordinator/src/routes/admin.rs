//! `/api/v1/admin`: seed, rebalance, dispatcher snapshot, worker changes
//! and drains.
//! Every route requires the admin token.

use axum::extract::State;
use serde::Deserialize;
use switchyard_protocol::{
    DispatcherView, RebalanceResult, SeedResult, TaskId, UpdateWorker, WorkerId, WorkerView,
};
use utoipa_axum::router::UtoipaMethodRouter;
use utoipa_axum::routes;

use super::auth::Admin;
use super::extract::{Json, Path, Query};
use super::responses::{
    AuthErrors, BadRequest, InputErrors, Unavailable, WorkerGone, WorkerNotFound,
};
use crate::error::ApiError;
use crate::service::{AppState, admin, workers};

/// The admin routes, with their documentation.
pub fn routes() -> Vec<UtoipaMethodRouter<AppState>> {
    vec![
        routes!(seed),
        routes!(rebalance),
        routes!(dispatcher),
        routes!(admin_update_worker),
        routes!(drain),
        routes!(activate),
    ]
}

#[utoipa::path(
    post,
    path = "/api/v1/admin/seed",
    tag = "admin",
    security(("admin_token" = [])),
    responses(
        (status = 200, description = "The dispatcher was rebuilt from the database", body = SeedResult),
        AuthErrors, Unavailable,
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
        AuthErrors, Unavailable,
    )
)]
async fn rebalance(
    _: Admin,
    State(state): State<AppState>,
) -> Result<Json<RebalanceResult>, ApiError> {
    Ok(Json(admin::rebalance(&state)?))
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
        AuthErrors, BadRequest, Unavailable,
    )
)]
async fn dispatcher(
    _: Admin,
    State(state): State<AppState>,
    Query(query): Query<SnapshotQuery>,
) -> Result<Json<DispatcherView>, ApiError> {
    Ok(Json(admin::snapshot(&state, query.task)?))
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
        AuthErrors, InputErrors, WorkerNotFound, WorkerGone, Unavailable,
    )
)]
async fn admin_update_worker(
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
        AuthErrors, BadRequest, WorkerNotFound, WorkerGone, Unavailable,
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
        AuthErrors, BadRequest, WorkerNotFound, WorkerGone, Unavailable,
    )
)]
async fn activate(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<WorkerId>,
) -> Result<Json<WorkerView>, ApiError> {
    Ok(Json(workers::set_draining(&state, id, false).await?))
}
