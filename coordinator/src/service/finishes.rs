//! Reports, coalesced ([`super::coalesce`]), as hand-overs are: attempts
//! that workers report at about the same time are recorded by one statement
//! for all of them, so a busy fleet pays one write and one commit per group
//! of report requests rather than one per request. A group holds up to
//! [`MAX_REPORTS`] reports, with up to [`IN_FLIGHT`] statements at once. A
//! request that reports a task another request of the group also reports
//! waits for the next drain, so each task appears once per statement and
//! each answer is its own request's.

use std::collections::HashSet;

use sea_orm::DbErr;
use switchyard_protocol::TaskId;
use tokio::sync::oneshot;

use super::AppState;
use super::coalesce::Coalescer;
use crate::storage;
use crate::storage::attempts::Ended;
use crate::storage::attempts::{Backoff, Finish};

/// Report statements running at once.
pub const IN_FLIGHT: usize = 2;
/// Most reports one statement records.
const MAX_REPORTS: usize = 2048;

/// One request's reports, waiting to be recorded.
#[derive(Debug)]
pub struct Pending {
    finishes: Vec<Finish>,
    answer: oneshot::Sender<Result<Vec<Ended>, DbErr>>,
}

/// The queue of report requests.
pub type Finishes = Coalescer<Pending>;

/// Takes queued requests, oldest first, up to [`MAX_REPORTS`] reports (at
/// least one request, however large), leaving for a later drain any request
/// that would pass the cap or reports a task already taken.
fn take(finishes: &Finishes) -> Vec<Pending> {
    // What the requests taken so far hold, counted as they are taken.
    let mut counted = 0;
    let mut reports = 0;
    let mut tasks: HashSet<TaskId> = HashSet::new();
    finishes.take(|taken, next| {
        for pending in &taken[counted..] {
            reports += pending.finishes.len();
            tasks.extend(pending.finishes.iter().map(|f| f.task));
        }
        counted = taken.len();
        reports + next.finishes.len() <= MAX_REPORTS
            && next.finishes.iter().all(|f| !tasks.contains(&f.task))
    })
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
    state.finishes().push(Pending { finishes, answer });
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
    let Some(_slot) = state.finishes().slot().await else {
        return;
    };
    let group = take(state.finishes());
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

    fn extend(finishes: &Finishes, requests: impl IntoIterator<Item = Pending>) {
        for request in requests {
            finishes.push(request);
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
        let finishes = Coalescer::new(IN_FLIGHT);
        let big: Vec<i64> = (0..MAX_REPORTS as i64 - 1).collect();
        extend(
            &finishes,
            [
                pending(&big),
                pending(&[10_000, 10_001]),
                pending(&[10_002]),
            ],
        );
        let first = take(&finishes);
        assert_eq!(first.len(), 2, "the second request would pass the cap");
        assert_eq!(tasks_of(&first)[1], [10_002]);
        assert_eq!(tasks_of(&take(&finishes)), [[10_000, 10_001]]);
        assert!(take(&finishes).is_empty());
    }

    #[test]
    fn a_task_reported_twice_waits_for_the_next_group() {
        let finishes = Coalescer::new(IN_FLIGHT);
        extend(&finishes, [pending(&[1, 2]), pending(&[2]), pending(&[3])]);
        assert_eq!(tasks_of(&take(&finishes)), [vec![1, 2], vec![3]]);
        assert_eq!(tasks_of(&take(&finishes)), [vec![2]]);
    }

    #[test]
    fn one_request_larger_than_the_cap_still_goes_alone() {
        let finishes = Coalescer::new(IN_FLIGHT);
        let huge: Vec<i64> = (0..MAX_REPORTS as i64 + 1).collect();
        extend(&finishes, [pending(&huge), pending(&[u32::MAX as i64])]);
        assert_eq!(take(&finishes).len(), 1);
        assert_eq!(take(&finishes).len(), 1);
    }
}
