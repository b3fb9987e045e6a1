//! `/api/v1/tasks`: submit (one or a batch), get, list, change, cancel, attempts.

use axum::Router;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use switchyard_protocol::{
    AttemptView, BatchView, ListTasksQuery, SubmitBatch, SubmitTask, TaskId, TaskPage, TaskView,
    UpdateTask,
};

use super::auth::Caller;
use super::created;
use super::extract::{Json, Path, Query};
use crate::error::ApiError;
use crate::service::{AppState, submit, tasks};

/// The task routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tasks", post(submit).get(list))
        .route("/tasks/batch", post(submit_batch))
        .route("/tasks/{id}", get(show).patch(update))
        .route("/tasks/{id}/cancel", post(cancel))
        .route("/tasks/{id}/attempts", get(attempts))
}

/// 201 with the new task; 200 with the existing one when its idempotency
/// key was used before on the same terms.
#[utoipa::path(
    post,
    path = "/api/v1/tasks",
    tag = "tasks",
    request_body = SubmitTask,
    responses(
        (status = 201, description = "Stored and queued", body = TaskView),
        (status = 200, description = "An earlier task with this idempotency key, on the same terms", body = TaskView),
        (status = 400, description = "Malformed body or query", body = switchyard_protocol::ErrorBody),
        (status = 401, description = "Missing or bad token", body = switchyard_protocol::ErrorBody),
        (status = 403, description = "The token's role may not do this", body = switchyard_protocol::ErrorBody),
        (status = 409, description = "The idempotency key was used with other terms", body = switchyard_protocol::ErrorBody),
        (status = 422, description = "A value is out of bounds", body = switchyard_protocol::ErrorBody),
        (status = 429, description = "The queue is at its limit", body = switchyard_protocol::ErrorBody),
        (status = 503, description = "The database is unavailable", body = switchyard_protocol::ErrorBody),
    )
)]
async fn submit(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Json(request): Json<SubmitTask>,
) -> Result<Response, ApiError> {
    let submitted = submit::submit(&state, &caller, request).await?;
    Ok(if submitted.created {
        created(submitted.task).into_response()
    } else {
        Json(submitted.task).into_response()
    })
}

/// 201 with the tasks in the order submitted (some may be earlier ones,
/// found by idempotency key).
#[utoipa::path(
    post,
    path = "/api/v1/tasks/batch",
    tag = "tasks",
    request_body = SubmitBatch,
    responses(
        (status = 201, description = "All stored and queued, in the order submitted", body = BatchView),
        (status = 400, description = "Malformed body or query", body = switchyard_protocol::ErrorBody),
        (status = 401, description = "Missing or bad token", body = switchyard_protocol::ErrorBody),
        (status = 403, description = "The token's role may not do this", body = switchyard_protocol::ErrorBody),
        (status = 409, description = "An idempotency key was used with other terms", body = switchyard_protocol::ErrorBody),
        (status = 422, description = "A value is out of bounds", body = switchyard_protocol::ErrorBody),
        (status = 429, description = "The queue is at its limit", body = switchyard_protocol::ErrorBody),
        (status = 503, description = "The database is unavailable", body = switchyard_protocol::ErrorBody),
    )
)]
async fn submit_batch(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Json(request): Json<SubmitBatch>,
) -> Result<impl IntoResponse, ApiError> {
    let submitted = submit::submit_batch(&state, &caller, request.tasks).await?;
    Ok(created(BatchView {
        tasks: submitted.into_iter().map(|s| s.task).collect(),
    }))
}

#[utoipa::path(
    patch,
    path = "/api/v1/tasks/{id}",
    tag = "tasks",
    params(("id" = i64, Path, description = "Task id")),
    request_body = UpdateTask,
    responses(
        (status = 200, description = "The changed task", body = TaskView),
        (status = 400, description = "Malformed body or query", body = switchyard_protocol::ErrorBody),
        (status = 401, description = "Missing or bad token", body = switchyard_protocol::ErrorBody),
        (status = 403, description = "The token's role may not do this", body = switchyard_protocol::ErrorBody),
        (status = 404, description = "No such task", body = switchyard_protocol::ErrorBody),
        (status = 409, description = "The task is no longer queued", body = switchyard_protocol::ErrorBody),
        (status = 422, description = "A value is out of bounds", body = switchyard_protocol::ErrorBody),
        (status = 503, description = "The database is unavailable", body = switchyard_protocol::ErrorBody),
    )
)]
async fn update(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Path(id): Path<TaskId>,
    Json(request): Json<UpdateTask>,
) -> Result<Json<TaskView>, ApiError> {
    Ok(Json(tasks::update(&state, &caller, id, request).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/tasks/{id}/attempts",
    tag = "tasks",
    params(("id" = i64, Path, description = "Task id")),
    responses(
        (status = 200, description = "Every attempt, oldest first", body = Vec<AttemptView>),
        (status = 400, description = "Malformed body or query", body = switchyard_protocol::ErrorBody),
        (status = 401, description = "Missing or bad token", body = switchyard_protocol::ErrorBody),
        (status = 403, description = "The token's role may not do this", body = switchyard_protocol::ErrorBody),
        (status = 404, description = "No such task", body = switchyard_protocol::ErrorBody),
        (status = 503, description = "The database is unavailable", body = switchyard_protocol::ErrorBody),
    )
)]
async fn attempts(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Path(id): Path<TaskId>,
) -> Result<Json<Vec<AttemptView>>, ApiError> {
    Ok(Json(tasks::attempts(&state, &caller, id).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/tasks/{id}",
    tag = "tasks",
    params(("id" = i64, Path, description = "Task id")),
    responses(
        (status = 200, description = "The task", body = TaskView),
        (status = 400, description = "Malformed body or query", body = switchyard_protocol::ErrorBody),
        (status = 401, description = "Missing or bad token", body = switchyard_protocol::ErrorBody),
        (status = 403, description = "The token's role may not do this", body = switchyard_protocol::ErrorBody),
        (status = 404, description = "No such task", body = switchyard_protocol::ErrorBody),
        (status = 503, description = "The database is unavailable", body = switchyard_protocol::ErrorBody),
    )
)]
async fn show(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Path(id): Path<TaskId>,
) -> Result<Json<TaskView>, ApiError> {
    Ok(Json(tasks::get(&state, &caller, id).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/tasks",
    tag = "tasks",
    params(ListTasksQuery),
    responses(
        (status = 200, description = "A page of tasks, newest first", body = TaskPage),
        (status = 400, description = "Malformed body or query", body = switchyard_protocol::ErrorBody),
        (status = 401, description = "Missing or bad token", body = switchyard_protocol::ErrorBody),
        (status = 403, description = "The token's role may not do this", body = switchyard_protocol::ErrorBody),
        (status = 422, description = "A value is out of bounds", body = switchyard_protocol::ErrorBody),
        (status = 503, description = "The database is unavailable", body = switchyard_protocol::ErrorBody),
    )
)]
async fn list(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Query(query): Query<ListTasksQuery>,
) -> Result<Json<TaskPage>, ApiError> {
    Ok(Json(tasks::list(&state, &caller, query).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/tasks/{id}/cancel",
    tag = "tasks",
    params(("id" = i64, Path, description = "Task id")),
    responses(
        (status = 200, description = "Cancelled, or flagged for cancellation while it runs", body = TaskView),
        (status = 400, description = "Malformed body or query", body = switchyard_protocol::ErrorBody),
        (status = 401, description = "Missing or bad token", body = switchyard_protocol::ErrorBody),
        (status = 403, description = "The token's role may not do this", body = switchyard_protocol::ErrorBody),
        (status = 404, description = "No such task", body = switchyard_protocol::ErrorBody),
        (status = 409, description = "The task already finished otherwise", body = switchyard_protocol::ErrorBody),
        (status = 503, description = "The database is unavailable", body = switchyard_protocol::ErrorBody),
    )
)]
async fn cancel(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Path(id): Path<TaskId>,
) -> Result<Json<TaskView>, ApiError> {
    Ok(Json(tasks::cancel(&state, &caller, id).await?))
}
