//! Recording from task rows, for the services: one call per event, where it
//! happens, so a service needs a single line.

use std::time::Duration;

use crate::domain::TaskState;
use crate::storage::attempts::Handed;
use crate::storage::entities::task;

use super::Metrics;

impl Metrics {
    /// An attempt was handed over (`row` as the hand-over returned it); the
    /// queue wait is recorded for first attempts, submit → start.
    pub fn task_started_row(&self, row: &Handed) {
        let wait = (row.attempts == 1).then(|| {
            let started = row.started_at.unwrap_or_else(chrono::Utc::now);
            (started - row.created_at)
                .to_std()
                .unwrap_or(Duration::ZERO)
        });
        self.task_started(wait);
    }

    /// A worker's report was recorded and left the task in `state`: a final
    /// state, or `queued` again for a retry after a back-off.
    pub fn attempt_reported(&self, state: TaskState) {
        match state {
            TaskState::Queued => self.task_retried(),
            other => self.task_finished(other.into()),
        }
    }

    /// Running tasks were taken back from a worker (it left, was declared
    /// dead, or never received them): each is queued for another worker, or
    /// failed when it ran out of lost attempts.
    pub fn tasks_released(&self, rows: &[task::Model]) {
        for row in rows {
            match row.state {
                TaskState::Queued => self.tasks_redistributed(1),
                other => self.task_finished(other.into()),
            }
        }
    }

    /// Running tasks the coordinator timed out itself (no report long past
    /// their timeout): each is retried, or ends `timed_out`.
    pub fn tasks_expired(&self, rows: &[task::Model]) {
        for row in rows {
            self.attempt_reported(row.state);
        }
    }
}
