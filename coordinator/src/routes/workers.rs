//! `/api/v1/workers`: register, heartbeat, fetch, report, unregister.

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use switchyard_protocol::{
    FetchRequest, FetchResponse, HeartbeatRequest, HeartbeatResponse, RegisterWorker, TaskReport,
    TaskView, UpdateWorker, WorkerId, WorkerView,
};

use super::created;
use super::extract::{Json, Path};
use crate::error::ApiError;
use crate::service::{AppState, workers};

/// The worker routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/workers", post(register).get(list))
        .route("/workers/{id}", get(show).patch(update).delete(unregister))
        .route("/workers/{id}/heartbeat", post(heartbeat))
        .route("/workers/{id}/fetch", post(fetch))
        .route("/workers/{id}/report", post(report))
}

async fn register(
    State(state): State<AppState>,
    Json(request): Json<RegisterWorker>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(created(workers::register(&state, request).await?))
}

async fn list(State(state): State<AppState>) -> Result<Json<Vec<WorkerView>>, ApiError> {
    Ok(Json(workers::list(&state).await?))
}

async fn show(
    State(state): State<AppState>,
    Path(id): Path<WorkerId>,
) -> Result<Json<WorkerView>, ApiError> {
    Ok(Json(workers::get(&state, id).await?))
}

async fn update(
    State(state): State<AppState>,
    Path(id): Path<WorkerId>,
    Json(request): Json<UpdateWorker>,
) -> Result<Json<WorkerView>, ApiError> {
    Ok(Json(workers::update(&state, id, request).await?))
}

async fn heartbeat(
    State(state): State<AppState>,
    Path(id): Path<WorkerId>,
    Json(request): Json<HeartbeatRequest>,
) -> Result<Json<HeartbeatResponse>, ApiError> {
    Ok(Json(workers::heartbeat(&state, id, request).await?))
}

async fn fetch(
    State(state): State<AppState>,
    Path(id): Path<WorkerId>,
    Json(request): Json<FetchRequest>,
) -> Result<Json<FetchResponse>, ApiError> {
    Ok(Json(workers::fetch(&state, id, request).await?))
}

async fn report(
    State(state): State<AppState>,
    Path(id): Path<WorkerId>,
    Json(request): Json<TaskReport>,
) -> Result<Json<TaskView>, ApiError> {
    Ok(Json(workers::report(&state, id, request).await?))
}

async fn unregister(
    State(state): State<AppState>,
    Path(id): Path<WorkerId>,
) -> Result<Json<WorkerView>, ApiError> {
    Ok(Json(workers::unregister(&state, id).await?))
}
