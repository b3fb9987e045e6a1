//! `/api/v1/workers`: register, heartbeat, fetch, report (one or a batch),
//! unregister.

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use switchyard_protocol::{
    FetchRequest, FetchResponse, HeartbeatRequest, HeartbeatResponse, RegisterWorker, ReportBatch,
    ReportBatchResponse, TaskReport, TaskView, UpdateWorker, WorkerId, WorkerView,
};

use super::auth::{Caller, Observer};
use super::created;
use super::extract::{Json, Path};
use crate::error::ApiError;
use crate::service::{AppState, fetch, report, workers};

/// The worker routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/workers", post(register).get(list))
        .route("/workers/{id}", get(show).patch(update).delete(unregister))
        .route("/workers/{id}/heartbeat", post(heartbeat))
        .route("/workers/{id}/fetch", post(fetch))
        .route("/workers/{id}/report", post(report))
        .route("/workers/{id}/reports", post(report_batch))
}

#[utoipa::path(
    post,
    path = "/api/v1/workers",
    tag = "workers",
    request_body = RegisterWorker,
    responses(
        (status = 201, description = "Registered; the answer carries its id", body = WorkerView),
        (status = 400, description = "Malformed body or query", body = switchyard_protocol::ErrorBody),
        (status = 401, description = "Missing or bad token", body = switchyard_protocol::ErrorBody),
        (status = 403, description = "The token may not act as this worker", body = switchyard_protocol::ErrorBody),
        (status = 422, description = "A value is out of bounds", body = switchyard_protocol::ErrorBody),
        (status = 503, description = "The database is unavailable", body = switchyard_protocol::ErrorBody),
    )
)]
async fn register(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Json(request): Json<RegisterWorker>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(created(workers::register(&state, &caller, request).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/workers",
    tag = "workers",
    responses(
        (status = 401, description = "Missing or bad token", body = switchyard_protocol::ErrorBody),
        (status = 403, description = "A worker or registration token", body = switchyard_protocol::ErrorBody),
        (status = 200, description = "Every worker that has not gone", body = Vec<WorkerView>),
        (status = 503, description = "The database is unavailable", body = switchyard_protocol::ErrorBody),
    )
)]
async fn list(
    _: Observer,
    State(state): State<AppState>,
) -> Result<Json<Vec<WorkerView>>, ApiError> {
    Ok(Json(workers::list(&state).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/workers/{id}",
    tag = "workers",
    params(("id" = i64, Path, description = "Worker id")),
    responses(
        (status = 200, description = "The worker", body = WorkerView),
        (status = 400, description = "Malformed body or query", body = switchyard_protocol::ErrorBody),
        (status = 401, description = "Missing or bad token", body = switchyard_protocol::ErrorBody),
        (status = 403, description = "The token may not act as this worker", body = switchyard_protocol::ErrorBody),
        (status = 404, description = "No such worker", body = switchyard_protocol::ErrorBody),
        (status = 503, description = "The database is unavailable", body = switchyard_protocol::ErrorBody),
    )
)]
async fn show(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Path(id): Path<WorkerId>,
) -> Result<Json<WorkerView>, ApiError> {
    caller.may_read_worker(id)?;
    Ok(Json(workers::get(&state, id).await?))
}

#[utoipa::path(
    patch,
    path = "/api/v1/workers/{id}",
    tag = "workers",
    params(("id" = i64, Path, description = "Worker id")),
    request_body = UpdateWorker,
    responses(
        (status = 200, description = "The changed worker", body = WorkerView),
        (status = 400, description = "Malformed body or query", body = switchyard_protocol::ErrorBody),
        (status = 401, description = "Missing or bad token", body = switchyard_protocol::ErrorBody),
        (status = 403, description = "The token may not act as this worker", body = switchyard_protocol::ErrorBody),
        (status = 404, description = "No such worker", body = switchyard_protocol::ErrorBody),
        (status = 410, description = "The worker is gone: register again", body = switchyard_protocol::ErrorBody),
        (status = 422, description = "A value is out of bounds", body = switchyard_protocol::ErrorBody),
        (status = 503, description = "The database is unavailable", body = switchyard_protocol::ErrorBody),
    )
)]
async fn update(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Path(id): Path<WorkerId>,
    Json(request): Json<UpdateWorker>,
) -> Result<Json<WorkerView>, ApiError> {
    caller.may_act_as(id)?;
    Ok(Json(workers::update(&state, id, request).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/workers/{id}/heartbeat",
    tag = "workers",
    params(("id" = i64, Path, description = "Worker id")),
    request_body = HeartbeatRequest,
    responses(
        (status = 200, description = "Noted; running tasks to kill", body = HeartbeatResponse),
        (status = 400, description = "Malformed body or query", body = switchyard_protocol::ErrorBody),
        (status = 401, description = "Missing or bad token", body = switchyard_protocol::ErrorBody),
        (status = 403, description = "The token may not act as this worker", body = switchyard_protocol::ErrorBody),
        (status = 404, description = "No such worker", body = switchyard_protocol::ErrorBody),
        (status = 410, description = "The worker is gone: register again", body = switchyard_protocol::ErrorBody),
        (status = 503, description = "The database is unavailable", body = switchyard_protocol::ErrorBody),
    )
)]
async fn heartbeat(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Path(id): Path<WorkerId>,
    Json(request): Json<HeartbeatRequest>,
) -> Result<Json<HeartbeatResponse>, ApiError> {
    caller.may_act_as(id)?;
    Ok(Json(workers::heartbeat(&state, id, request).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/workers/{id}/fetch",
    tag = "workers",
    params(("id" = i64, Path, description = "Worker id")),
    request_body = FetchRequest,
    responses(
        (status = 200, description = "Tasks handed over; empty when the wait ended with no work", body = FetchResponse),
        (status = 400, description = "Malformed body or query", body = switchyard_protocol::ErrorBody),
        (status = 401, description = "Missing or bad token", body = switchyard_protocol::ErrorBody),
        (status = 403, description = "The token may not act as this worker", body = switchyard_protocol::ErrorBody),
        (status = 404, description = "No such worker", body = switchyard_protocol::ErrorBody),
        (status = 410, description = "The worker is gone: register again", body = switchyard_protocol::ErrorBody),
        (status = 422, description = "A value is out of bounds", body = switchyard_protocol::ErrorBody),
        (status = 503, description = "The database is unavailable", body = switchyard_protocol::ErrorBody),
    )
)]
async fn fetch(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Path(id): Path<WorkerId>,
    Json(request): Json<FetchRequest>,
) -> Result<Json<FetchResponse>, ApiError> {
    caller.may_act_as(id)?;
    Ok(Json(fetch::fetch(&state, id, request).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/workers/{id}/report",
    tag = "workers",
    params(("id" = i64, Path, description = "Worker id")),
    request_body = TaskReport,
    responses(
        (status = 200, description = "The task after this attempt", body = TaskView),
        (status = 400, description = "Malformed body or query", body = switchyard_protocol::ErrorBody),
        (status = 401, description = "Missing or bad token", body = switchyard_protocol::ErrorBody),
        (status = 403, description = "The token may not act as this worker", body = switchyard_protocol::ErrorBody),
        (status = 404, description = "No such task", body = switchyard_protocol::ErrorBody),
        (status = 409, description = "The worker does not hold this attempt", body = switchyard_protocol::ErrorBody),
        (status = 422, description = "A value is out of bounds", body = switchyard_protocol::ErrorBody),
        (status = 503, description = "The database is unavailable", body = switchyard_protocol::ErrorBody),
    )
)]
async fn report(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Path(id): Path<WorkerId>,
    Json(request): Json<TaskReport>,
) -> Result<Json<TaskView>, ApiError> {
    caller.may_act_as(id)?;
    Ok(Json(report::report(&state, id, request).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/workers/{id}/reports",
    tag = "workers",
    params(("id" = i64, Path, description = "Worker id")),
    request_body = ReportBatch,
    responses(
        (status = 200, description = "Each report's fate, in request order: the task's new state, or why it was refused", body = ReportBatchResponse),
        (status = 400, description = "Malformed body or query", body = switchyard_protocol::ErrorBody),
        (status = 401, description = "Missing or bad token", body = switchyard_protocol::ErrorBody),
        (status = 403, description = "The token may not act as this worker", body = switchyard_protocol::ErrorBody),
        (status = 422, description = "A report is out of bounds or repeated; nothing was written", body = switchyard_protocol::ErrorBody),
        (status = 503, description = "The database is unavailable", body = switchyard_protocol::ErrorBody),
    )
)]
async fn report_batch(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Path(id): Path<WorkerId>,
    Json(request): Json<ReportBatch>,
) -> Result<Json<ReportBatchResponse>, ApiError> {
    caller.may_act_as(id)?;
    Ok(Json(report::report_batch(&state, id, request).await?))
}

#[utoipa::path(
    delete,
    path = "/api/v1/workers/{id}",
    tag = "workers",
    params(("id" = i64, Path, description = "Worker id")),
    responses(
        (status = 200, description = "Gone; its work goes to other workers", body = WorkerView),
        (status = 400, description = "Malformed body or query", body = switchyard_protocol::ErrorBody),
        (status = 401, description = "Missing or bad token", body = switchyard_protocol::ErrorBody),
        (status = 403, description = "The token may not act as this worker", body = switchyard_protocol::ErrorBody),
        (status = 404, description = "No such worker", body = switchyard_protocol::ErrorBody),
        (status = 503, description = "The database is unavailable", body = switchyard_protocol::ErrorBody),
    )
)]
async fn unregister(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Path(id): Path<WorkerId>,
) -> Result<Json<WorkerView>, ApiError> {
    caller.may_act_as(id)?;
    // A worker leaving by itself has stopped its tasks; one an admin
    // removes may still be running them.
    let lost = if caller.worker() == Some(id) {
        workers::Lost::Confirmed
    } else {
        workers::Lost::Unconfirmed
    };
    Ok(Json(workers::unregister(&state, id, lost).await?))
}
