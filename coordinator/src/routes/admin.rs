//! `/api/v1/admin`: seed, rebalance, dispatcher snapshot, worker changes.
//! Every route requires the admin token.

use axum::Router;
use axum::extract::State;
use axum::routing::{get, patch, post};
use serde::Deserialize;
use switchyard_protocol::{
    RebalanceResult, SeedResult, TaskId, UpdateWorker, WorkerId, WorkerView,
};

use super::auth::Admin;
use super::extract::{Json, Path, Query};
use crate::error::ApiError;
use crate::service::admin::DispatcherView;
use crate::service::{AppState, admin, workers};

/// The admin routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/admin/seed", post(seed))
        .route("/admin/rebalance", post(rebalance))
        .route("/admin/dispatcher", get(dispatcher))
        .route("/admin/workers/{id}", patch(update_worker))
}

async fn seed(_: Admin, State(state): State<AppState>) -> Result<Json<SeedResult>, ApiError> {
    Ok(Json(admin::seed(&state).await?))
}

async fn rebalance(_: Admin, State(state): State<AppState>) -> Json<RebalanceResult> {
    Json(admin::rebalance(&state))
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SnapshotQuery {
    task: Option<TaskId>,
}

async fn dispatcher(
    _: Admin,
    State(state): State<AppState>,
    Query(query): Query<SnapshotQuery>,
) -> Json<DispatcherView> {
    Json(admin::snapshot(&state, query.task))
}

async fn update_worker(
    _: Admin,
    State(state): State<AppState>,
    Path(id): Path<WorkerId>,
    Json(request): Json<UpdateWorker>,
) -> Result<Json<WorkerView>, ApiError> {
    Ok(Json(workers::update(&state, id, request).await?))
}
