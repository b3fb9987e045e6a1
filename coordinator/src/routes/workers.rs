//! `/api/v1/workers`: register, heartbeat, fetch, send output, report (one
//! or a batch), unregister.

use axum::extract::State;
use axum::response::IntoResponse;
use switchyard_protocol::{
    FetchRequest, FetchResponse, HeartbeatRequest, HeartbeatResponse, OutputAccepted, OutputBatch,
    RegisterWorker, ReportBatch, ReportBatchResponse, TaskReport, TaskView, UpdateWorker, WorkerId,
    WorkerView,
};
use utoipa_axum::router::UtoipaMethodRouter;
use utoipa_axum::routes;

use super::auth::{Caller, Observer};
use super::created;
use super::extract::{Json, Path};
use super::responses::{
    AuthErrors, BadRequest, Conflict, InputErrors, TaskNotFound, Unavailable, WorkerGone,
    WorkerNotFound,
};
use crate::error::ApiError;
use crate::service::{AppState, fetch, output, report, workers};

/// The worker routes, with their documentation.
pub fn routes() -> Vec<UtoipaMethodRouter<AppState>> {
    vec![
        routes!(register_worker, list_workers),
        routes!(show_worker, update_worker, unregister_worker),
        routes!(heartbeat),
        routes!(fetch),
        routes!(report),
        routes!(report_batch),
        routes!(send_output),
    ]
}

/// Output the worker's running tasks printed lately; best effort (see the
/// answer's `refused`).
#[utoipa::path(
    post,
    path = "/api/v1/workers/{id}/output",
    tag = "workers",
    params(("id" = i64, Path, description = "Worker id")),
    request_body = OutputBatch,
    responses(
        (status = 200, description = "Taken; `refused` names tasks this worker does not run, whose output was dropped", body = OutputAccepted),
        AuthErrors, InputErrors, Unavailable,
    )
)]
async fn send_output(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Path(id): Path<WorkerId>,
    Json(batch): Json<OutputBatch>,
) -> Result<Json<OutputAccepted>, ApiError> {
    caller.may_act_as(id)?;
    Ok(Json(output::receive(&state, id, batch).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/workers",
    tag = "workers",
    request_body = RegisterWorker,
    responses(
        (status = 201, description = "Registered; the answer carries its id", body = WorkerView),
        AuthErrors, InputErrors, Unavailable,
    )
)]
async fn register_worker(
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
        (status = 200, description = "Every worker that has not gone", body = Vec<WorkerView>),
        AuthErrors, Unavailable,
    )
)]
async fn list_workers(
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
        AuthErrors, BadRequest, WorkerNotFound, Unavailable,
    )
)]
async fn show_worker(
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
        AuthErrors, InputErrors, WorkerNotFound, WorkerGone, Unavailable,
    )
)]
async fn update_worker(
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
        AuthErrors, BadRequest, WorkerNotFound, WorkerGone, Unavailable,
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
        AuthErrors, InputErrors, WorkerNotFound, WorkerGone, Unavailable,
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
        AuthErrors, InputErrors, TaskNotFound, Conflict, Unavailable,
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
        AuthErrors, InputErrors, Unavailable,
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
        AuthErrors, BadRequest, WorkerNotFound, Unavailable,
    )
)]
async fn unregister_worker(
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
