//! Turning rows into the API's views, with the live figures of the moment
//! (wait reasons, queue positions, worker loads) from [`Figures`].

use sea_orm::DbErr;
use switchyard_protocol::{TaskId, TaskOutput, TaskView, WaitReason, WorkerId, WorkerView};

use super::AppState;
use super::figures::{Figures, Load, Needs};
use crate::domain::TaskState;
use crate::storage::entities::{task, worker};

/// Why each of `rows` waits, if queued: `backing_off` or
/// `lost_attempt_fence` while its `not_before` is ahead, else
/// `waiting_for_slot` when some live, non-draining worker has every tag it
/// requires and `no_matching_worker` when none has. `figures` says who
/// tells (see [`Figures`]).
pub async fn waiting(
    state: &AppState,
    figures: Figures,
    rows: &[task::Model],
) -> Result<Vec<Option<WaitReason>>, DbErr> {
    let mut reasons = vec![None; rows.len()];
    let mut due = Vec::new();
    for (i, row) in rows.iter().enumerate() {
        if row.state != TaskState::Queued {
            continue;
        }
        let id = TaskId(row.id);
        if row.not_before.is_some_and(|at| state.clock().is_ahead(at)) {
            reasons[i] = Some(if figures.fenced(state, id, row.finished_at) {
                WaitReason::LostAttemptFence
            } else {
                WaitReason::BackingOff
            });
        } else {
            due.push((i, (id, row.tags.as_slice())));
        }
    }
    let needs: Vec<Needs<'_>> = due.iter().map(|(_, needs)| *needs).collect();
    let matched = figures.candidates(state, &needs).await?;
    for ((i, _), matched) in due.into_iter().zip(matched) {
        reasons[i] = Some(if matched {
            WaitReason::WaitingForSlot
        } else {
            WaitReason::NoMatchingWorker
        });
    }
    Ok(reasons)
}

/// The view of a task row; `waiting` as computed by [`waiting`].
pub fn task(row: task::Model, waiting: Option<WaitReason>) -> TaskView {
    let finished_attempt = row.exit_code.is_some() || row.stdout.is_some() || row.stderr.is_some();
    let output = finished_attempt.then(|| TaskOutput {
        exit_code: row.exit_code,
        stdout: row.stdout.unwrap_or_default(),
        stderr: row.stderr.unwrap_or_default(),
        stdout_truncated: row.stdout_truncated,
        stderr_truncated: row.stderr_truncated,
    });
    TaskView {
        id: TaskId(row.id),
        state: row.state.into(),
        argv: row.argv,
        // Written by us from a map; anything else would be a bug, shown as empty.
        env: serde_json::from_value(row.env).unwrap_or_default(),
        working_dir: row.working_dir,
        tags: row.tags,
        labels: row.labels,
        priority: row.priority,
        timeout_secs: row.timeout_secs,
        max_attempts: row.max_attempts,
        attempts: row.attempts,
        worker_id: row.worker_id.map(WorkerId),
        cancel_requested: row.cancel_requested,
        created_at: row.created_at,
        started_at: row.started_at,
        finished_at: row.finished_at,
        not_before: row.not_before,
        output,
        error: row.error,
        waiting,
        queue_position: None,
        idempotency_key: row.idempotency_key,
        owner: Some(row.owner),
    }
}

/// The views of task rows with their current wait reasons.
pub async fn tasks_now(state: &AppState, rows: Vec<task::Model>) -> Result<Vec<TaskView>, DbErr> {
    let waiting = waiting(state, Figures::of(state), &rows).await?;
    Ok(rows
        .into_iter()
        .zip(waiting)
        .map(|(row, w)| task(row, w))
        .collect())
}

/// The view of a task row with its current wait reason.
pub async fn task_now(state: &AppState, row: task::Model) -> Result<TaskView, DbErr> {
    let figures = Figures::of(state);
    let waiting = waiting(state, figures, std::slice::from_ref(&row)).await?;
    Ok(task(row, waiting.into_iter().next().flatten()))
}

/// Most tasks counted ahead of one in a queue.
const POSITION_CAP: usize = 100_000;

/// The view of one task with its wait reason and its place in the queue
/// (counting is proportional to the queue ahead, so listings leave it out).
pub async fn task_detailed(state: &AppState, row: task::Model) -> Result<TaskView, DbErr> {
    let mut view = task_now(state, row).await?;
    add_position(state, &mut view);
    Ok(view)
}

/// Fills in the queue position of a task waiting for a slot; a standby,
/// which holds no queues, leaves it out.
pub fn add_position(state: &AppState, view: &mut TaskView) {
    if view.waiting == Some(WaitReason::WaitingForSlot) {
        view.queue_position = Figures::of(state)
            .position(state, view.id, POSITION_CAP)
            .map(|n| n as u64);
    }
}

/// The views of worker rows with their live queue figures (see [`Load`]).
pub async fn workers(state: &AppState, rows: Vec<worker::Model>) -> Result<Vec<WorkerView>, DbErr> {
    let ids: Vec<WorkerId> = rows.iter().map(|row| WorkerId(row.id)).collect();
    let loads = Figures::of(state).loads(state, &ids).await?;
    Ok(rows
        .into_iter()
        .zip(loads)
        .map(|(row, load)| worker_with(state, row, load))
        .collect())
}

/// The view of a worker row with its live queue figures (see [`Load`]).
pub async fn worker(state: &AppState, row: worker::Model) -> Result<WorkerView, DbErr> {
    let id = WorkerId(row.id);
    let load = Figures::of(state).loads(state, &[id]).await?;
    Ok(worker_with(
        state,
        row,
        load.first().copied().unwrap_or_default(),
    ))
}

fn worker_with(state: &AppState, row: worker::Model, load: Load) -> WorkerView {
    WorkerView {
        id: WorkerId(row.id),
        name: row.name,
        tags: row.tags,
        slots: row.slots,
        state: row.state.into(),
        registered_at: row.registered_at,
        last_heartbeat: row.last_heartbeat,
        running: u32::try_from(load.running).unwrap_or(u32::MAX),
        queued: u32::try_from(load.queued).unwrap_or(u32::MAX),
        heartbeat_interval_secs: state.settings().heartbeat_interval.as_secs_f64(),
        heartbeat_timeout_secs: state.settings().heartbeat_timeout.as_secs_f64(),
        lost_attempt_fence_secs: state.settings().lost_attempt_fence.as_secs_f64(),
        token: None,
    }
}
