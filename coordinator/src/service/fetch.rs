//! Handing work to workers: a long-polling fetch served from the dispatcher,
//! each hand-over confirmed by the database.

use switchyard_protocol::{Assignment, FetchRequest, FetchResponse, TaskId, WorkerId};

use super::AppState;
use super::handle::Fetched;
use super::workers::not_served;
use crate::domain::{Epoch, validate};
use crate::error::ApiError;

/// Hands the worker up to `max_tasks` tasks from its queue, waiting up to
/// `wait_secs` for work to arrive. The dispatcher proposes; the database's
/// conditional update decides.
#[tracing::instrument(skip_all, fields(worker_id = %id))]
pub async fn fetch(
    state: &AppState,
    id: WorkerId,
    request: FetchRequest,
) -> Result<FetchResponse, ApiError> {
    let started = std::time::Instant::now();
    let fetched = long_poll(state, id, request).await;
    if let Ok(response) = &fetched {
        let got_tasks = !response.tasks.is_empty();
        state.metrics().fetch_finished(started.elapsed(), got_tasks);
    }
    fetched
}

async fn long_poll(
    state: &AppState,
    id: WorkerId,
    request: FetchRequest,
) -> Result<FetchResponse, ApiError> {
    let (max, wait) = validate::fetch(&request)?;
    let deadline = state.clock().instant() + wait;
    let notify = state.dispatch().waker(id);
    loop {
        let notified = notify.notified();
        tokio::pin!(notified);
        // Register interest before looking, so a wake-up between the look
        // and the wait is not lost.
        notified.as_mut().enable();
        // While the dispatcher is rebuilt nothing is handed out: the fetch
        // waits, and the end of the rebuild wakes it.
        let (popped, epoch) = match state.dispatch().fetch(id, max) {
            Fetched::Tasks(popped, epoch) => (popped, Some(epoch)),
            Fetched::Rebuilding => (Vec::new(), None),
            Fetched::NotServed => return Err(not_served(state, id).await),
            Fetched::NotLeader => return Err(state.not_leader()),
        };
        if let Some(epoch) = epoch.filter(|_| !popped.is_empty()) {
            let tasks = hand_over(state, id, popped, epoch).await?;
            if !tasks.is_empty() {
                return Ok(FetchResponse { tasks });
            }
            continue;
        }
        tokio::select! {
            () = &mut notified => {}
            () = tokio::time::sleep_until(deadline) => return Ok(FetchResponse::default()),
            () = state.shutdown().cancelled() => return Ok(FetchResponse::default()),
        }
    }
}

/// Confirms popped tasks in the database (together with other fetches'
/// hand-overs, see [`super::handover`]) and answers them as assignments.
async fn hand_over(
    state: &AppState,
    worker: WorkerId,
    popped: Vec<TaskId>,
    epoch: Epoch,
) -> Result<Vec<Assignment>, ApiError> {
    let rows = super::handover::hand_over(state, worker, popped, epoch).await?;
    Ok(rows
        .into_iter()
        .map(|row| Assignment {
            task_id: TaskId(row.id),
            attempt: row.attempts,
            env: serde_json::from_value(row.env).unwrap_or_default(),
            argv: row.argv,
            working_dir: row.working_dir,
            timeout_secs: row.timeout_secs,
        })
        .collect())
}
