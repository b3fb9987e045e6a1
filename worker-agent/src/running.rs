//! The table of attempts this agent is running, shared by the fetch loop
//! (which adds them), the heartbeat loop (which lists and cancels them) and
//! each task (which removes itself once reported).
//!
//! An attempt is killed by firing its token; the table remembers why, so the
//! task knows what to report once its process is gone.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use switchyard_protocol::TaskId;
use tokio_util::sync::CancellationToken;

/// Why the agent killed an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum KillReason {
    /// A user cancelled the task: report it `cancelled`.
    Cancelled,
    /// The agent is shutting down and the grace period is over: report it
    /// `interrupted` (it runs again elsewhere).
    ShutDown,
    /// The coordinator no longer expects a report (it declared this worker
    /// gone, or handed the task out again): report nothing.
    Abandoned,
}

#[derive(Debug)]
struct Entry {
    token: CancellationToken,
    reason: Option<KillReason>,
}

/// Attempts in progress, by task id and attempt number.
#[derive(Debug, Default)]
pub(crate) struct RunningTasks {
    entries: Mutex<BTreeMap<(TaskId, i32), Entry>>,
}

impl RunningTasks {
    fn lock(&self) -> MutexGuard<'_, BTreeMap<(TaskId, i32), Entry>> {
        // The map stays consistent even if a holder panicked: every change is one call.
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Adds an attempt and returns the token that kills it; `None` when that
    /// very attempt is already running. Other attempts of the same task are
    /// abandoned: the coordinator handing the task out again means it gave up
    /// on them.
    pub(crate) fn start(&self, task: TaskId, attempt: i32) -> Option<CancellationToken> {
        let mut entries = self.lock();
        if entries.contains_key(&(task, attempt)) {
            return None;
        }
        for (&(_, earlier), entry) in entries.range_mut((task, i32::MIN)..=(task, i32::MAX)) {
            tracing::warn!(
                task_id = %task,
                attempt,
                earlier,
                "task handed out again; abandoning the earlier attempt"
            );
            kill(entry, KillReason::Abandoned);
        }
        let token = CancellationToken::new();
        entries.insert(
            (task, attempt),
            Entry {
                token: token.clone(),
                reason: None,
            },
        );
        Some(token)
    }

    /// The tasks running now, each once.
    pub(crate) fn task_ids(&self) -> Vec<TaskId> {
        let mut ids: Vec<TaskId> = self.lock().keys().map(|&(task, _)| task).collect();
        ids.dedup();
        ids
    }

    /// How many attempts are running.
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }

    /// Kills every attempt of `task`; false when it is not running here.
    pub(crate) fn kill_task(&self, task: TaskId, reason: KillReason) -> bool {
        let mut entries = self.lock();
        let mut found = false;
        for (_, entry) in entries.range_mut((task, i32::MIN)..=(task, i32::MAX)) {
            kill(entry, reason);
            found = true;
        }
        found
    }

    /// Kills every attempt.
    pub(crate) fn kill_all(&self, reason: KillReason) {
        for entry in self.lock().values_mut() {
            kill(entry, reason);
        }
    }

    /// Why the attempt was killed, if it was.
    pub(crate) fn kill_reason(&self, task: TaskId, attempt: i32) -> Option<KillReason> {
        self.lock()
            .get(&(task, attempt))
            .and_then(|entry| entry.reason)
    }

    /// Forgets a finished attempt.
    pub(crate) fn finish(&self, task: TaskId, attempt: i32) {
        self.lock().remove(&(task, attempt));
    }
}

/// The first reason wins: a task a user cancelled stays cancelled even if
/// the agent then shuts down.
fn kill(entry: &mut Entry, reason: KillReason) {
    entry.reason.get_or_insert(reason);
    entry.token.cancel();
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn lists_each_task_once_and_forgets_finished_ones() {
        let running = RunningTasks::default();
        running.start(TaskId(2), 1).unwrap();
        running.start(TaskId(1), 1).unwrap();
        assert_eq!(running.task_ids(), vec![TaskId(1), TaskId(2)]);
        assert!(running.start(TaskId(1), 1).is_none(), "same attempt twice");
        running.finish(TaskId(1), 1);
        assert_eq!(running.task_ids(), vec![TaskId(2)]);
        assert_eq!(running.len(), 1);
    }

    #[test]
    fn a_new_attempt_abandons_the_old_one() {
        let running = RunningTasks::default();
        let old = running.start(TaskId(1), 1).unwrap();
        let new = running.start(TaskId(1), 2).unwrap();
        assert!(old.is_cancelled());
        assert!(!new.is_cancelled());
        assert_eq!(
            running.kill_reason(TaskId(1), 1),
            Some(KillReason::Abandoned)
        );
        assert_eq!(running.kill_reason(TaskId(1), 2), None);
        assert_eq!(running.task_ids(), vec![TaskId(1)]);
    }

    #[test]
    fn kills_remember_the_first_reason() {
        let running = RunningTasks::default();
        let one = running.start(TaskId(1), 1).unwrap();
        let two = running.start(TaskId(2), 1).unwrap();
        assert!(running.kill_task(TaskId(1), KillReason::Cancelled));
        assert!(!running.kill_task(TaskId(3), KillReason::Cancelled));
        assert!(one.is_cancelled() && !two.is_cancelled());
        running.kill_all(KillReason::ShutDown);
        assert!(two.is_cancelled());
        assert_eq!(
            running.kill_reason(TaskId(1), 1),
            Some(KillReason::Cancelled)
        );
        assert_eq!(
            running.kill_reason(TaskId(2), 1),
            Some(KillReason::ShutDown)
        );
    }
}
