//! `/api/v1/tasks`: submit, get, list, cancel.

use axum::Router;
use axum::extract::State;
use axum::response::IntoResponse;
use axum::routing::{get, post};
use switchyard_protocol::{ListTasksQuery, SubmitTask, TaskId, TaskPage, TaskView};

use super::created;
use super::extract::{Json, Path, Query};
use crate::error::ApiError;
use crate::service::{AppState, tasks};

/// The task routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/tasks", post(submit).get(list))
        .route("/tasks/{id}", get(show))
        .route("/tasks/{id}/cancel", post(cancel))
}

async fn submit(
    State(state): State<AppState>,
    Json(request): Json<SubmitTask>,
) -> Result<impl IntoResponse, ApiError> {
    Ok(created(tasks::submit(&state, request).await?))
}

async fn show(
    State(state): State<AppState>,
    Path(id): Path<TaskId>,
) -> Result<Json<TaskView>, ApiError> {
    Ok(Json(tasks::get(&state, id).await?))
}

async fn list(
    State(state): State<AppState>,
    Query(query): Query<ListTasksQuery>,
) -> Result<Json<TaskPage>, ApiError> {
    Ok(Json(tasks::list(&state, query).await?))
}

async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<TaskId>,
) -> Result<Json<TaskView>, ApiError> {
    Ok(Json(tasks::cancel(&state, id).await?))
}
