//! Keeping the dispatcher in step with the database: offering queued tasks
//! in their order, holding back-offs, and taking back what a worker lost.

use chrono::{DateTime, Utc};
use switchyard_protocol::{TaskId, WorkerId};

use super::AppState;
use crate::dispatcher::QueuedTask;
use crate::domain::TaskState;
use crate::storage::{self, entities::task, tasks::QueuedRow};

/// The dispatcher's view of a queued row. Its rank is the priority; with
/// priority aging on, it is `priority × step − submitted`, in milliseconds:
/// ordering by it is ordering by `priority + waited / step` at any moment,
/// so a task gains one priority level per step it waits and nothing needs
/// re-sorting as time passes.
pub fn queued_task(state: &AppState, row: &QueuedRow) -> QueuedTask {
    let rank = match state.settings().priority_aging_step {
        None => i64::from(row.priority),
        Some(step) => {
            let step_ms = i64::try_from(step.as_millis()).unwrap_or(i64::MAX);
            i64::from(row.priority)
                .saturating_mul(step_ms)
                .saturating_sub(row.created_at.timestamp_millis())
        }
    };
    QueuedTask {
        id: TaskId(row.id),
        rank,
        tags: row.tags.clone(),
    }
}

/// Offers a queued task to the dispatcher and wakes whoever received it.
fn enqueue(state: &AppState, task: QueuedTask) {
    let woken = state.dispatcher().enqueue(task);
    state.wakers().wake(&woken);
}

/// Offers a queued row to the dispatcher now, or when its back-off ends.
pub fn enqueue_row(state: &AppState, row: &QueuedRow) {
    match row.not_before {
        Some(at) if at > Utc::now() => enqueue_at(state, TaskId(row.id), at),
        _ => enqueue(state, queued_task(state, row)),
    }
}

/// Enqueues task `id` once `at` has passed, reading it again then: it may
/// have been cancelled or changed meanwhile. A timer, not a database poll.
pub fn enqueue_at(state: &AppState, id: TaskId, at: DateTime<Utc>) {
    let delay = (at - Utc::now()).to_std().unwrap_or_default();
    let state = state.clone();
    state.admission().delay_started();
    state.clone().tracker().spawn(async move {
        let due = tokio::select! {
            () = tokio::time::sleep(delay) => true,
            () = state.shutdown().cancelled() => false,
        };
        state.admission().delay_ended();
        if !due {
            return;
        }
        match storage::tasks::queued_one(state.db(), id).await {
            Ok(Some(row)) => enqueue_row(&state, &row),
            Ok(None) => {}
            // The task stays queued in the database; the next seed places it.
            Err(error) => {
                tracing::error!(task_id = %id, %error, "failed to enqueue after back-off");
            }
        }
    });
}

/// Puts tasks taken from a worker back in the dispatcher (or their back-off),
/// and frees their slots. `from` is the worker they were taken from, when
/// the rows do not say.
pub fn requeue_released(state: &AppState, from: Option<WorkerId>, rows: Vec<task::Model>) {
    for row in rows {
        let task = TaskId(row.id);
        if let Some(worker) = from.or(row.worker_id.map(WorkerId)) {
            state.dispatcher().finish(worker, task);
        }
        if row.state == TaskState::Queued {
            enqueue_row(state, &QueuedRow::from(&row));
        }
    }
}
