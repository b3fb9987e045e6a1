//! Turning rows into the API's views.

use switchyard_protocol::{TaskId, TaskOutput, TaskView, WaitReason, WorkerId, WorkerView};

use super::AppState;
use crate::domain::TaskState;
use crate::storage::entities::{task, worker};

/// Why a queued task waits, from the dispatcher's point of view.
pub fn waiting(state: &AppState, row: &task::Model) -> Option<WaitReason> {
    if row.state != TaskState::Queued {
        return None;
    }
    if row.not_before.is_some_and(|at| state.clock().is_ahead(at)) {
        if state.fences().holds(TaskId(row.id)) {
            return Some(WaitReason::LostAttemptFence);
        }
        return Some(WaitReason::BackingOff);
    }
    if state
        .dispatch()
        .read(|dispatcher| dispatcher.has_candidate(TaskId(row.id)))
    {
        Some(WaitReason::WaitingForSlot)
    } else {
        Some(WaitReason::NoMatchingWorker)
    }
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
    }
}

/// The view of a task row with its current wait reason.
pub fn task_now(state: &AppState, row: task::Model) -> TaskView {
    let waiting = waiting(state, &row);
    task(row, waiting)
}

/// Most tasks counted ahead of one in a queue.
const POSITION_CAP: usize = 100_000;

/// The view of one task with its wait reason and its place in the queue
/// (counting is proportional to the queue ahead, so listings leave it out).
pub fn task_detailed(state: &AppState, row: task::Model) -> TaskView {
    let mut view = task_now(state, row);
    add_position(state, &mut view);
    view
}

/// Fills in the queue position of a task waiting for a slot.
pub fn add_position(state: &AppState, view: &mut TaskView) {
    if view.waiting == Some(WaitReason::WaitingForSlot) {
        view.queue_position = state
            .dispatch()
            .read(|dispatcher| dispatcher.position_capped(view.id, POSITION_CAP))
            .map(|n| n as u64);
    }
}

/// The view of a worker row with its live queue figures.
pub fn worker(state: &AppState, row: worker::Model) -> WorkerView {
    let id = WorkerId(row.id);
    let (queued, running) = state
        .dispatch()
        .read(|dispatcher| (dispatcher.queue_len(id), dispatcher.running_len(id)));
    WorkerView {
        id,
        name: row.name,
        tags: row.tags,
        slots: row.slots,
        state: row.state.into(),
        registered_at: row.registered_at,
        last_heartbeat: row.last_heartbeat,
        running: u32::try_from(running).unwrap_or(u32::MAX),
        queued: u32::try_from(queued).unwrap_or(u32::MAX),
        heartbeat_interval_secs: state.settings().heartbeat_interval.as_secs_f64(),
        heartbeat_timeout_secs: state.settings().heartbeat_timeout.as_secs_f64(),
        lost_attempt_fence_secs: state.settings().lost_attempt_fence.as_secs_f64(),
        token: None,
    }
}
