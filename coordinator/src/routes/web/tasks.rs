//! `/tasks` (the list), `/tasks/{id}` (one task) and its actions: cancel,
//! retry, change priority. Each calls the service function the API's route
//! calls, with the session's principal.

use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde::Deserialize;
use switchyard_protocol::{ListTasksQuery, TaskId, TaskState, UpdateTask};

use super::access::{Action, Viewer, see_other};
use crate::error::ApiError;
use crate::routes::dashboard::{layout::Nav, tasks as render};
use crate::service::auth::Principal;
use crate::service::{AppState, output, tasks};

/// The list's filters as the form sends them: empty fields are no filter.
#[derive(Debug, Default, Deserialize)]
pub struct Filters {
    state: Option<String>,
    tag: Option<String>,
    label: Option<String>,
    owner: Option<String>,
    cursor: Option<String>,
}

impl Filters {
    fn query(self) -> Result<ListTasksQuery, ApiError> {
        let given = |field: Option<String>| field.filter(|value| !value.trim().is_empty());
        let state = match given(self.state) {
            None => None,
            Some(name) => Some(
                TaskState::ALL
                    .into_iter()
                    .find(|state| state.as_str() == name)
                    .ok_or_else(|| ApiError::BadRequest(format!("no task state {name:?}")))?,
            ),
        };
        Ok(ListTasksQuery {
            state,
            tag: given(self.tag),
            label: given(self.label),
            owner: given(self.owner),
            cursor: given(self.cursor),
            ..ListTasksQuery::default()
        })
    }
}

/// The task list, as `GET /api/v1/tasks` lists it for the session's principal.
pub async fn list(
    viewer: Viewer,
    State(state): State<AppState>,
    Query(filters): Query<Filters>,
) -> Response {
    let page = async {
        let query = filters.query()?;
        let page = tasks::list(&state, &viewer.session.principal, query.clone()).await?;
        Ok(render::list(viewer.nav(), &query, &page))
    };
    viewer.answer(page.await)
}

/// One task: 404 for a task the principal may not see, as in the API.
pub async fn show(viewer: Viewer, State(state): State<AppState>, Path(id): Path<i64>) -> Response {
    let page = task_page(&state, &viewer.session.principal, viewer.nav(), TaskId(id)).await;
    viewer.answer(page)
}

async fn task_page(
    state: &AppState,
    principal: &Principal,
    nav: Nav<'_>,
    id: TaskId,
) -> Result<String, ApiError> {
    let task = tasks::get(state, principal, id).await?;
    let attempts = tasks::attempts(state, principal, id).await?;
    let output = output::read(state, principal, id).await?;
    Ok(render::page(nav, &task, &attempts, &output))
}

/// Back to the task's page, or the error page of the refused action.
fn done(action: &Action, id: TaskId, result: Result<(), ApiError>) -> Response {
    match result {
        Ok(()) => see_other(&format!("/tasks/{id}")),
        Err(error) => action.viewer.answer(Err(error)),
    }
}

/// Cancels the task (`POST /api/v1/tasks/{id}/cancel`).
pub async fn cancel(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    action: Action,
) -> Response {
    let id = TaskId(id);
    let result = tasks::cancel(&state, &action.viewer.session.principal, id).await;
    done(&action, id, result.map(drop))
}

/// Runs the finished task again (`POST /api/v1/tasks/{id}/retry`).
pub async fn retry(State(state): State<AppState>, Path(id): Path<i64>, action: Action) -> Response {
    let id = TaskId(id);
    let result = tasks::retry(&state, &action.viewer.session.principal, id).await;
    done(&action, id, result.map(drop))
}

/// Changes the queued task's priority (`PATCH /api/v1/tasks/{id}`).
pub async fn priority(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    action: Action,
) -> Response {
    let id = TaskId(id);
    let result = async {
        let priority = action
            .form
            .priority
            .as_deref()
            .and_then(|text| text.trim().parse::<i32>().ok())
            .ok_or_else(|| ApiError::BadRequest("the priority must be a whole number".into()))?;
        let request = UpdateTask {
            priority: Some(priority),
            tags: None,
        };
        tasks::update(&state, &action.viewer.session.principal, id, request).await
    };
    let result = result.await.map(drop);
    done(&action, id, result)
}
