//! Hand-overs, coalesced ([`super::coalesce`]): tasks that fetches pop at
//! about the same time are confirmed in the database by one statement for
//! all their workers, so a busy fleet pays one write per group of fetches
//! rather than one per fetch. A group holds up to [`MAX_TASKS`] tasks, all
//! popped under one epoch, with up to [`IN_FLIGHT`] statements at once. A
//! drain runs on its own task, so a client hanging up mid-request cannot
//! leave tasks half handed over.

use std::time::Duration;

use sea_orm::DbErr;
use switchyard_protocol::{TaskId, WorkerId};
use tokio::sync::oneshot;

use super::AppState;
use super::coalesce::Coalescer;
use super::dispatch::enqueue_rows;
use crate::domain::Epoch;
use crate::error::ApiError;
use crate::storage;
use crate::storage::attempts::Handed;

/// Hand-over statements running at once.
pub const IN_FLIGHT: usize = 3;
/// Most tasks one statement hands over.
const MAX_TASKS: usize = 2048;
/// First wait before reading refused tasks again; it doubles up to
/// [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(2);

/// Why a coalesced hand-over failed: the database's own error, which every
/// fetch of the group answers with (a `DbErr` clones cheaply).
fn failure(error: DbErr) -> ApiError {
    if storage::is_fenced(&error) || storage::is_unavailable(&error) {
        ApiError::from(error)
    } else {
        ApiError::Internal(anyhow::Error::new(error).context("hand-over failed"))
    }
}

/// One fetch's popped tasks, waiting to be confirmed.
#[derive(Debug)]
pub struct Pending {
    worker: WorkerId,
    tasks: Vec<TaskId>,
    /// The epoch the tasks were popped under.
    epoch: Epoch,
    answer: oneshot::Sender<Result<Vec<Handed>, DbErr>>,
}

/// The queue of hand-overs waiting to be confirmed.
pub type Handovers = Coalescer<Pending>;

/// Takes queued hand-overs, oldest first, up to [`MAX_TASKS`] tasks (at
/// least one hand-over, however large), all popped under one epoch, and
/// stops at the first that does not fit.
fn take(handovers: &Handovers) -> Vec<Pending> {
    // The tasks of the hand-overs taken so far, counted as they are taken.
    let mut counted = 0;
    let mut tasks = 0;
    let mut open = true;
    handovers.take(|taken, next| {
        tasks += taken[counted..]
            .iter()
            .map(|p| p.tasks.len())
            .sum::<usize>();
        counted = taken.len();
        open = open && next.epoch == taken[0].epoch && tasks + next.tasks.len() <= MAX_TASKS;
        open
    })
}

/// Confirms tasks popped for `worker` in the database and settles the
/// dispatcher: confirmed ones run, refused ones are offered again, and on a
/// database error all of them go back to the worker's queue. Answers the
/// confirmed rows. The statement is fenced with `epoch`, the one the tasks
/// were popped under: a deposed leader hands nothing over.
pub async fn hand_over(
    state: &AppState,
    worker: WorkerId,
    tasks: Vec<TaskId>,
    epoch: Epoch,
) -> Result<Vec<Handed>, ApiError> {
    let (answer, answered) = oneshot::channel();
    state.handovers().push(Pending {
        worker,
        tasks,
        epoch,
        answer,
    });
    // On the shutdown tracker: a drain in progress finishes before the
    // coordinator closes the database.
    let drainer = state.clone();
    state.tracker().spawn(async move { drain(&drainer).await });
    match answered.await {
        Ok(result) => result.map_err(failure),
        Err(_) => Err(ApiError::Internal(anyhow::anyhow!(
            "the hand-over ended without an answer"
        ))),
    }
}

/// Runs one statement for whatever is queued, if anything, once a slot is
/// free.
async fn drain(state: &AppState) {
    let Some(_slot) = state.handovers().slot().await else {
        return;
    };
    let group = take(state.handovers());
    let Some(epoch) = group.first().map(|pending| pending.epoch) else {
        return;
    };
    let pairs: Vec<(TaskId, WorkerId)> = group
        .iter()
        .flat_map(|pending| pending.tasks.iter().map(|task| (*task, pending.worker)))
        .collect();
    match storage::attempts::assign(state.db(), &pairs, epoch).await {
        Ok(rows) => settle(state, group, rows, epoch).await,
        Err(error) => {
            state.leadership().notice(&error);
            tracing::warn!(%error, n = pairs.len(), "hand-over failed; tasks go back to their queues");
            let failed: Vec<(WorkerId, Vec<TaskId>)> = group
                .iter()
                .map(|pending| (pending.worker, pending.tasks.clone()))
                .collect();
            state.dispatch().restore(&failed);
            for pending in group {
                let _ = pending.answer.send(Err(error.clone()));
            }
        }
    }
}

/// Settles each fetch of a group with its share of the confirmed rows.
async fn settle(state: &AppState, group: Vec<Pending>, rows: Vec<Handed>, epoch: Epoch) {
    // Each task was popped by exactly one fetch of the group.
    let mut confirmed_rows: std::collections::HashMap<TaskId, Handed> =
        rows.into_iter().map(|row| (TaskId(row.id), row)).collect();
    let mut refused = Vec::new();
    let mut outcomes = Vec::with_capacity(group.len());
    let mut answers = Vec::with_capacity(group.len());
    for pending in group {
        let mut rows = Vec::with_capacity(pending.tasks.len());
        let mut confirmed = Vec::with_capacity(pending.tasks.len());
        let mut abandoned = Vec::new();
        for task in &pending.tasks {
            match confirmed_rows.remove(task) {
                Some(row) => {
                    state.metrics().task_started_row(&row);
                    confirmed.push(*task);
                    rows.push(row);
                }
                None => abandoned.push(*task),
            }
        }
        refused.extend_from_slice(&abandoned);
        state.watch().started(
            pending.worker,
            rows.iter().map(|row| (TaskId(row.id), row.attempts)),
        );
        outcomes.push((pending.worker, confirmed, abandoned));
        answers.push((pending.answer, rows));
    }
    // One lock for the whole group, then the answers.
    state.dispatch().settle(&outcomes);
    for (answer, rows) in answers {
        // A fetch that has gone (its client hung up) leaves its tasks
        // running; its agent's heartbeat gives them back.
        let _ = answer.send(Ok(rows));
    }
    if !refused.is_empty() {
        // Apart from the drain, so a database outage keeps no slot.
        let state = state.clone();
        state
            .clone()
            .tracker()
            .spawn(async move { offer_again(&state, &refused, epoch).await });
    }
}

/// Tasks a hand-over refused are usually gone (cancelled, or finished
/// under the dispatcher's feet); any still queued (their tags changed under
/// the fetch) are offered again, so none is stranded outside the
/// dispatcher. The read is retried until it succeeds, or this coordinator
/// stops leading under `epoch` (the next leader reads them from the
/// database).
async fn offer_again(state: &AppState, tasks: &[TaskId], epoch: Epoch) {
    let mut wait = RETRY_FIRST;
    loop {
        match storage::tasks::queued_among(state.db(), tasks).await {
            Ok(rows) => return enqueue_rows(state, &rows),
            Err(error) => tracing::warn!(%error, "failed to re-read refused tasks; retrying"),
        }
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = state.shutdown().cancelled() => return,
        }
        if state.dispatch().epoch() != Some(epoch) {
            return;
        }
        wait = (wait * 2).min(RETRY_MAX);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(worker: i64, tasks: usize, epoch: i64) -> Pending {
        let (answer, _) = oneshot::channel();
        Pending {
            worker: WorkerId(worker),
            tasks: (0..tasks as i64).map(TaskId).collect(),
            epoch: Epoch(epoch),
            answer,
        }
    }

    fn queued(sizes: &[usize]) -> Handovers {
        let handovers = Coalescer::new(IN_FLIGHT);
        for (worker, size) in sizes.iter().enumerate() {
            handovers.push(pending(worker as i64, *size, 1));
        }
        handovers
    }

    fn workers(group: &[Pending]) -> Vec<i64> {
        group.iter().map(|p| p.worker.0).collect()
    }

    #[test]
    fn a_group_takes_hand_overs_in_order_up_to_the_cap() {
        let handovers = queued(&[1000, 1000, 100, 5]);
        assert_eq!(workers(&take(&handovers)), [0, 1]);
        assert_eq!(workers(&take(&handovers)), [2, 3]);
        assert!(take(&handovers).is_empty());
    }

    #[test]
    fn one_hand_over_larger_than_the_cap_still_goes_alone() {
        let handovers = queued(&[MAX_TASKS + 1, 1]);
        assert_eq!(take(&handovers).len(), 1);
        assert_eq!(take(&handovers).len(), 1);
    }

    #[test]
    fn a_group_holds_one_epoch() {
        let handovers = Coalescer::new(IN_FLIGHT);
        handovers.push(pending(0, 1, 1));
        handovers.push(pending(1, 1, 2));
        handovers.push(pending(2, 1, 1));
        assert_eq!(workers(&take(&handovers)), [0]);
        assert_eq!(workers(&take(&handovers)), [1]);
        assert_eq!(workers(&take(&handovers)), [2]);
    }
}
