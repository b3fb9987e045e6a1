//! Keeping the dispatcher in step with the database: offering queued tasks
//! in their order, holding back-offs, and taking back what a worker lost.

use std::time::Duration;

use chrono::{DateTime, Utc};
use switchyard_protocol::{TaskId, WorkerId};

use super::AppState;
use super::clock::Clock;
use crate::dispatcher::QueuedTask;
use crate::domain::TaskState;
use crate::storage::{self, entities::task, tasks::QueuedRow};

/// A queued task's rank: its priority; with priority aging on (one level
/// per `step` waited), `priority × step − submitted`, in milliseconds.
/// Ordering by it is ordering by `priority + waited / step` at any moment,
/// so a task gains one priority level per step it waits and nothing needs
/// re-sorting as time passes.
pub fn rank(priority: i32, submitted: DateTime<Utc>, aging_step: Option<Duration>) -> i64 {
    match aging_step {
        None => i64::from(priority),
        Some(step) => {
            let step_ms = i64::try_from(step.as_millis()).unwrap_or(i64::MAX);
            i64::from(priority)
                .saturating_mul(step_ms)
                .saturating_sub(submitted.timestamp_millis())
        }
    }
}

/// The dispatcher's view of a queued row (see [`rank`]).
pub fn queued_task(state: &AppState, row: &QueuedRow) -> QueuedTask {
    QueuedTask {
        id: TaskId(row.id),
        rank: rank(
            row.priority,
            row.created_at,
            state.settings().priority_aging_step,
        ),
        tags: row.tags.clone(),
    }
}

/// Queued rows ready now, as the dispatcher takes them; rows still in a
/// back-off get a timer (see [`enqueue_at`]) instead, on the leader.
pub fn ready_now<'a>(
    state: &AppState,
    rows: impl IntoIterator<Item = &'a QueuedRow>,
) -> Vec<QueuedTask> {
    let mut ready = Vec::new();
    // A standby's timers would die with it: the leader, told of the task,
    // holds its back-off instead.
    let leading = state.dispatch().epoch().is_some();
    for row in rows {
        match row.not_before {
            Some(_) if !leading => ready.push(queued_task(state, row)),
            Some(at) if state.clock().is_ahead(at) => enqueue_at(state, TaskId(row.id), at),
            _ => ready.push(queued_task(state, row)),
        }
    }
    ready
}

/// Offers queued rows to the dispatcher now, or each when its back-off
/// ends; one lock for all.
pub fn enqueue_rows<'a>(state: &AppState, rows: impl IntoIterator<Item = &'a QueuedRow>) {
    let ready = ready_now(state, rows);
    state.dispatch().enqueue(ready);
}

/// Offers a queued row to the dispatcher now, or when its back-off ends.
pub fn enqueue_row(state: &AppState, row: &QueuedRow) {
    enqueue_rows(state, [row]);
}

/// Waits until `at` on `clock`; true when it came, false when `stop` came
/// first. What a back-off timer does before it enqueues.
pub async fn wait_until(
    clock: &Clock,
    at: DateTime<Utc>,
    stop: &tokio_util::sync::CancellationToken,
) -> bool {
    tokio::select! {
        () = clock.sleep_until(at) => true,
        () = stop.cancelled() => false,
    }
}

/// Enqueues task `id` once `at` has passed, reading it again then: it may
/// have been cancelled or changed meanwhile. A timer, not a database poll.
/// The read is retried until it succeeds; the timer ends early only when
/// this coordinator stops leading (the next leader reads the task from the
/// database).
pub fn enqueue_at(state: &AppState, id: TaskId, at: DateTime<Utc>) {
    let state = state.clone();
    let epoch = state.dispatch().epoch();
    state.admission().delay_started();
    state.clone().tracker().spawn(async move {
        let due = wait_until(state.clock(), at, state.shutdown()).await;
        state.admission().delay_ended();
        if !due {
            return;
        }
        let mut wait = RETRY_FIRST;
        while state.dispatch().epoch() == epoch {
            match storage::tasks::queued_one(state.db(), id).await {
                Ok(Some(row)) => return enqueue_row(&state, &row),
                Ok(None) => return,
                Err(error) => {
                    tracing::warn!(task_id = %id, %error, "failed to enqueue after back-off; retrying");
                }
            }
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = state.shutdown().cancelled() => return,
            }
            wait = (wait * 2).min(RETRY_MAX);
        }
    });
}

/// First wait before a timer reads its task again after a failure; it
/// doubles up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// Puts tasks taken from a worker back in the dispatcher (or their back-off),
/// and frees their slots, under one lock. `from` is the worker they were
/// taken from, when the rows do not say.
pub fn requeue_released(state: &AppState, from: Option<WorkerId>, rows: Vec<task::Model>) {
    let ended: Vec<(WorkerId, TaskId)> = rows
        .iter()
        .filter_map(|row| {
            let worker = from.or(row.worker_id.map(WorkerId))?;
            Some((worker, TaskId(row.id)))
        })
        .collect();
    let queued: Vec<QueuedRow> = rows
        .iter()
        .filter(|row| row.state == TaskState::Queued)
        .map(QueuedRow::from)
        .collect();
    let ready = ready_now(state, &queued);
    state.dispatch().release(&ended, ready);
    state
        .watch()
        .ended(rows.iter().map(|row| (TaskId(row.id), row.state)));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(n: i64) -> chrono::Duration {
        chrono::Duration::seconds(n)
    }

    #[tokio::test(start_paused = true)]
    async fn a_retry_timer_fires_at_its_time_and_not_before() {
        let clock = Clock::following_tokio(Utc::now());
        let at = clock.now() + secs(30);
        let stop = tokio_util::sync::CancellationToken::new();
        let timer = tokio::spawn({
            let clock = clock.clone();
            let stop = stop.clone();
            async move { wait_until(&clock, at, &stop).await }
        });
        tokio::task::yield_now().await;
        tokio::time::advance(Duration::from_millis(29_999)).await;
        tokio::task::yield_now().await;
        assert!(!timer.is_finished(), "fired {:?} early", clock.until(at));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert!(timer.await.expect("the timer ran"), "due, not stopped");
        assert_eq!(clock.now(), at);

        let stop = tokio_util::sync::CancellationToken::new();
        stop.cancel();
        assert!(
            !wait_until(&clock, clock.now() + secs(60), &stop).await,
            "shutdown ends the wait undue"
        );
        assert!(
            wait_until(
                &clock,
                clock.now() - secs(1),
                &tokio_util::sync::CancellationToken::new()
            )
            .await,
            "a time past is due at once"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn aging_moves_a_waiting_task_up_one_level_per_step() {
        let clock = Clock::following_tokio(Utc::now());
        let step = Some(Duration::from_secs(60));
        let old = rank(0, clock.now(), step);
        tokio::time::advance(Duration::from_secs(150)).await;
        // 2.5 steps later: the old task has gained 2.5 levels.
        let newer_by_2 = rank(2, clock.now(), step);
        let newer_by_3 = rank(3, clock.now(), step);
        assert!(
            old > newer_by_2,
            "waited longer than two steps: ahead of +2"
        );
        assert!(old < newer_by_3, "not yet three steps: behind +3");
        tokio::time::advance(Duration::from_secs(30)).await;
        assert_eq!(
            old,
            rank(3, clock.now(), step),
            "after three steps it ranks with a task three levels higher"
        );
        assert_eq!(rank(7, clock.now(), None), 7, "without aging, the priority");
    }
}
