//! `/api/v1/tasks`: submit (one or a batch), get (or wait for its end),
//! list, change, cancel, retry, attempts; `/api/v1/queue`: the head of the
//! queue.

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use switchyard_protocol::{
    AttemptView, BatchView, ListTasksQuery, QueueQuery, QueueView, ShowTaskQuery, SubmitBatch,
    SubmitTask, TaskId, TaskPage, TaskView, UpdateTask,
};
use utoipa_axum::router::UtoipaMethodRouter;
use utoipa_axum::routes;

use super::auth::Caller;
use super::created;
use super::extract::{Json, Path, Query};
use super::responses::{
    AuthErrors, BadRequest, Conflict, InputErrors, QueueFull, TaskNotFound, Unavailable,
};
use crate::domain::validate;
use crate::error::ApiError;
use crate::service::{AppState, queue, submit, tasks};

/// The task routes, each with its documentation.
pub fn routes() -> Vec<UtoipaMethodRouter<AppState>> {
    vec![
        routes!(submit_task, list_tasks),
        routes!(submit_batch),
        routes!(show_task, update_task),
        routes!(cancel_task),
        routes!(retry_task),
        routes!(list_attempts),
        routes!(show_queue),
    ]
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
        AuthErrors, InputErrors, Conflict, QueueFull, Unavailable,
    )
)]
async fn submit_task(
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
        AuthErrors, InputErrors, Conflict, QueueFull, Unavailable,
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
        AuthErrors, InputErrors, TaskNotFound, Conflict, Unavailable,
    )
)]
async fn update_task(
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
        AuthErrors, BadRequest, TaskNotFound, Unavailable,
    )
)]
async fn list_attempts(
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
    params(("id" = i64, Path, description = "Task id"), ShowTaskQuery),
    responses(
        (status = 200, description = "The task; with `wait`, once it has finished or the wait is over", body = TaskView),
        AuthErrors, InputErrors, TaskNotFound, Unavailable,
    )
)]
async fn show_task(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Path(id): Path<TaskId>,
    Query(query): Query<ShowTaskQuery>,
) -> Result<Json<TaskView>, ApiError> {
    let task = match query.wait.as_deref() {
        None => tasks::get(&state, &caller, id).await?,
        Some(wait) => {
            let wait = validate::wait(wait)?;
            tasks::wait_for_end(&state, &caller, id, wait).await?
        }
    };
    Ok(Json(task))
}

#[utoipa::path(
    get,
    path = "/api/v1/tasks",
    tag = "tasks",
    params(ListTasksQuery),
    responses(
        (status = 200, description = "A page of tasks, newest first", body = TaskPage),
        AuthErrors, InputErrors, Unavailable,
    )
)]
async fn list_tasks(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Query(query): Query<ListTasksQuery>,
) -> Result<Json<TaskPage>, ApiError> {
    Ok(Json(tasks::list(&state, &caller, query).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/tasks/{id}/retry",
    tag = "tasks",
    params(("id" = i64, Path, description = "Task id")),
    responses(
        (status = 200, description = "Queued again for one more attempt", body = TaskView),
        AuthErrors, BadRequest, TaskNotFound, Conflict, QueueFull, Unavailable,
    )
)]
async fn retry_task(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Path(id): Path<TaskId>,
) -> Result<Json<TaskView>, ApiError> {
    Ok(Json(tasks::retry(&state, &caller, id).await?))
}

#[utoipa::path(
    get,
    path = "/api/v1/queue",
    tag = "tasks",
    params(QueueQuery),
    responses(
        (status = 200, description = "Queued tasks in dispatch order, each with why it waits", body = QueueView),
        AuthErrors, InputErrors, Unavailable,
    )
)]
async fn show_queue(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Query(query): Query<QueueQuery>,
) -> Result<Json<QueueView>, ApiError> {
    Ok(Json(queue::head(&state, &caller, query).await?))
}

#[utoipa::path(
    post,
    path = "/api/v1/tasks/{id}/cancel",
    tag = "tasks",
    params(("id" = i64, Path, description = "Task id")),
    responses(
        (status = 200, description = "Cancelled, or flagged for cancellation while it runs", body = TaskView),
        AuthErrors, BadRequest, TaskNotFound, Conflict, Unavailable,
    )
)]
async fn cancel_task(
    Caller(caller): Caller,
    State(state): State<AppState>,
    Path(id): Path<TaskId>,
) -> Result<Json<TaskView>, ApiError> {
    Ok(Json(tasks::cancel(&state, &caller, id).await?))
}
