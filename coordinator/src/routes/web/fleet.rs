//! `/workers/{id}` (one worker, drained or activated by admins) and
//! `/queue` (the head of the queue).

use axum::extract::{Path, State};
use axum::response::Response;
use switchyard_protocol::{QueueQuery, WorkerId};

use super::access::{Action, Viewer, see_other};
use crate::error::ApiError;
use crate::routes::dashboard::fleet as render;
use crate::service::{AppState, queue as queue_view, tasks, workers};

/// One worker and the tasks it runs that the principal may see.
pub async fn worker(
    viewer: Viewer,
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Response {
    let id = WorkerId(id);
    let page = async {
        let principal = &viewer.session.principal;
        principal.may_read_worker(id)?;
        let worker = workers::get(&state, id).await?;
        let running = tasks::running_on_worker(&state, principal, id).await?;
        Ok(render::worker(viewer.nav(), &worker, &running))
    };
    viewer.answer(page.await)
}

/// Drains or activates the worker (the admin API's `drain` and
/// `activate`); admins only, as there.
async fn set_draining(state: &AppState, action: &Action, id: i64, draining: bool) -> Response {
    let id = WorkerId(id);
    let result = async {
        action.viewer.session.principal.must_be_admin()?;
        workers::set_draining(state, id, draining).await?;
        Ok::<_, ApiError>(())
    };
    match result.await {
        Ok(()) => see_other(&format!("/workers/{id}")),
        Err(error) => action.viewer.answer(Err(error)),
    }
}

/// `POST /workers/{id}/drain`.
pub async fn drain(State(state): State<AppState>, Path(id): Path<i64>, action: Action) -> Response {
    set_draining(&state, &action, id, true).await
}

/// `POST /workers/{id}/activate`.
pub async fn activate(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    action: Action,
) -> Response {
    set_draining(&state, &action, id, false).await
}

/// The head of the queue the principal may see.
pub async fn queue(viewer: Viewer, State(state): State<AppState>) -> Response {
    let page = async {
        let queue =
            queue_view::head(&state, &viewer.session.principal, QueueQuery::default()).await?;
        Ok(render::queue(viewer.nav(), &queue))
    };
    viewer.answer(page.await)
}
