//! Reports, coalesced: attempts that workers report at about the same time
//! are recorded in the database by one statement for all of them, as
//! hand-overs are (see [`super::handover`]), so a busy fleet pays one write
//! and one commit per group of report requests rather than one per request.
//!
//! Each request's reports are queued, and a drain is spawned for them. A
//! drain waits for one of [`IN_FLIGHT`] slots, then takes queued requests (up
//! to [`MAX_REPORTS`] reports) and records them as one statement; drains that
//! find the queue empty end at once. A request that reports a task another
//! request of the group also reports waits for the next drain, so each task
//! appears once per statement and each answer is its own request's.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};

use sea_orm::DbErr;
use switchyard_protocol::TaskId;
use tokio::sync::{Semaphore, oneshot};

use super::AppState;
use crate::storage;
use crate::storage::attempts::Ended;
use crate::storage::attempts::{Backoff, Finish};

/// Report statements running at once.
const IN_FLIGHT: usize = 2;
/// Most reports one statement records.
const MAX_REPORTS: usize = 2048;

/// One request's reports, waiting to be recorded.
#[derive(Debug)]
struct Pending {
    finishes: Vec<Finish>,
    answer: oneshot::Sender<Result<Vec<Ended>, DbErr>>,
}

/// The queue of report requests and the slots of running statements.
#[derive(Debug)]
pub struct Finishes {
    queue: Mutex<Vec<Pending>>,
    slots: Semaphore,
}

impl Default for Finishes {
    fn default() -> Self {
        Self {
            queue: Mutex::new(Vec::new()),
            slots: Semaphore::new(IN_FLIGHT),
        }
    }
}

impl Finishes {
    /// Takes queued requests, oldest first, up to [`MAX_REPORTS`] reports
    /// (at least one request, however large), leaving for a later drain any
    /// request that reports a task already taken.
    fn take(&self) -> Vec<Pending> {
        let mut queue = self.queue.lock().unwrap_or_else(PoisonError::into_inner);
        let mut taken = Vec::new();
        let mut left = Vec::new();
        let mut tasks: HashSet<TaskId> = HashSet::new();
        let mut reports = 0;
        for pending in queue.drain(..) {
            let fits = taken.is_empty() || reports + pending.finishes.len() <= MAX_REPORTS;
            let apart = pending.finishes.iter().all(|f| !tasks.contains(&f.task));
            if fits && apart {
                reports += pending.finishes.len();
                tasks.extend(pending.finishes.iter().map(|f| f.task));
                taken.push(pending);
            } else {
                left.push(pending);
            }
        }
        *queue = left;
        taken
    }
}

/// Records how the attempts of `finishes` ended, with the reports of other
/// requests made at about the same time, and answers this request's
/// recorded tasks (those whose attempt the worker still held; see
/// [`storage::attempts::finish_many`]).
pub async fn record(
    state: &AppState,
    finishes: Vec<Finish>,
    backoff: Backoff,
) -> Result<Vec<Ended>, DbErr> {
    if finishes.is_empty() {
        return Ok(Vec::new());
    }
    let (answer, answered) = oneshot::channel();
    state
        .finishes()
        .queue
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .push(Pending { finishes, answer });
    // On the shutdown tracker: a drain in progress finishes before the
    // coordinator closes the database.
    let drainer = state.clone();
    state
        .tracker()
        .spawn(async move { drain(&drainer, backoff).await });
    match answered.await {
        Ok(result) => result,
        // The drain cannot drop the answer unanswered; if it ever did, the
        // worker's agent resends the reports.
        Err(_) => Err(DbErr::Custom("the report ended without an answer".into())),
    }
}

/// Runs one statement for whatever is queued, if anything, once a slot is
/// free, and answers each request with its own rows.
async fn drain(state: &AppState, backoff: Backoff) {
    let Ok(_slot) = state.finishes().slots.acquire().await else {
        return;
    };
    let group = state.finishes().take();
    if group.is_empty() {
        return;
    }
    let all: Vec<Finish> = group
        .iter()
        .flat_map(|pending| pending.finishes.iter().cloned())
        .collect();
    let epoch = state.dispatch().epoch();
    match storage::attempts::finish_many(state.db(), &all, backoff, epoch).await {
        Ok(rows) => {
            let mut rows: std::collections::HashMap<i64, Ended> =
                rows.into_iter().map(|row| (row.id, row)).collect();
            for pending in group {
                let own = pending
                    .finishes
                    .iter()
                    .filter_map(|f| rows.remove(&f.task.0))
                    .collect();
                let _ = pending.answer.send(Ok(own));
            }
        }
        Err(error) => {
            state.leadership().notice(&error);
            for pending in group {
                let _ = pending.answer.send(Err(error.clone()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::AttemptOutcome;
    use switchyard_protocol::WorkerId;

    fn pending(tasks: &[i64]) -> Pending {
        let (answer, _) = oneshot::channel();
        Pending {
            finishes: tasks
                .iter()
                .map(|&task| Finish {
                    task: TaskId(task),
                    worker: WorkerId(1),
                    attempt: 1,
                    outcome: AttemptOutcome::Succeeded,
                    exit_code: Some(0),
                    stdout: String::new(),
                    stderr: String::new(),
                    stdout_truncated: false,
                    stderr_truncated: false,
                    error: None,
                })
                .collect(),
            answer,
        }
    }

    fn tasks_of(group: &[Pending]) -> Vec<Vec<i64>> {
        group
            .iter()
            .map(|p| p.finishes.iter().map(|f| f.task.0).collect())
            .collect()
    }

    #[test]
    fn a_group_takes_requests_in_order_up_to_the_cap() {
        let finishes = Finishes::default();
        let big: Vec<i64> = (0..MAX_REPORTS as i64 - 1).collect();
        finishes.queue.lock().unwrap().extend([
            pending(&big),
            pending(&[10_000, 10_001]),
            pending(&[10_002]),
        ]);
        let first = finishes.take();
        assert_eq!(first.len(), 2, "the second request would pass the cap");
        assert_eq!(tasks_of(&first)[1], [10_002]);
        assert_eq!(tasks_of(&finishes.take()), [[10_000, 10_001]]);
        assert!(finishes.take().is_empty());
    }

    #[test]
    fn a_task_reported_twice_waits_for_the_next_group() {
        let finishes = Finishes::default();
        finishes
            .queue
            .lock()
            .unwrap()
            .extend([pending(&[1, 2]), pending(&[2]), pending(&[3])]);
        assert_eq!(tasks_of(&finishes.take()), [vec![1, 2], vec![3]]);
        assert_eq!(tasks_of(&finishes.take()), [vec![2]]);
    }

    #[test]
    fn one_request_larger_than_the_cap_still_goes_alone() {
        let finishes = Finishes::default();
        let huge: Vec<i64> = (0..MAX_REPORTS as i64 + 1).collect();
        finishes
            .queue
            .lock()
            .unwrap()
            .extend([pending(&huge), pending(&[u32::MAX as i64])]);
        assert_eq!(finishes.take().len(), 1);
        assert_eq!(finishes.take().len(), 1);
    }
}
