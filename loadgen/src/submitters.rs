//! Submitters: each claims the next batch of the run and submits it, as fast
//! as the coordinator answers or on a paced schedule (`--rate`).

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use switchyard_protocol::{Client, SubmitTask, TaskId};
use tokio::task::JoinSet;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::tags::TagSets;

/// First pause after a refused or failed submission; it doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_millis(50);
const MAX_BACKOFF: Duration = Duration::from_secs(1);

/// What to submit and how.
#[derive(Debug, Clone)]
pub struct SubmitPlan {
    /// Tasks in all.
    pub total: u64,
    /// Tasks per batch.
    pub batch: usize,
    /// Tasks per second in all, when paced.
    pub rate: Option<f64>,
    /// Concurrent submitters.
    pub submitters: usize,
    /// Task `j` requires set `j mod n`.
    pub tag_sets: TagSets,
    /// Task `j` has priority `j mod n`.
    pub priorities: Vec<i32>,
}

/// One accepted batch.
#[derive(Debug, Clone)]
pub struct Batch {
    /// When the request went out (its last try).
    pub sent: Instant,
    /// When the answer came back.
    pub answered: Instant,
    /// The tasks created, in order.
    pub ids: Vec<TaskId>,
}

/// What the submitters did.
#[derive(Debug, Default)]
pub struct SubmitOutcome {
    /// Accepted batches.
    pub batches: Vec<Batch>,
    /// Submissions refused or unanswered (each was tried again).
    pub errors: u64,
}

/// The no-op task number `index` of a run: `true`, with its tags and priority.
pub fn task(index: u64, tag_sets: &TagSets, priorities: &[i32]) -> SubmitTask {
    let i = usize::try_from(index).unwrap_or(usize::MAX);
    SubmitTask {
        argv: vec!["true".to_owned()],
        tags: tag_sets.pick(i).to_vec(),
        priority: priorities.get(i % priorities.len().max(1)).copied(),
        ..SubmitTask::default()
    }
}

/// Runs `plan.submitters` submitters until every batch is accepted or
/// `stop` is cancelled.
pub async fn run(client: Client, plan: SubmitPlan, stop: CancellationToken) -> SubmitOutcome {
    let plan = Arc::new(plan);
    let next_batch = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let mut running = JoinSet::new();
    for _ in 0..plan.submitters {
        running.spawn(submitter(
            client.clone(),
            plan.clone(),
            next_batch.clone(),
            start,
            stop.clone(),
        ));
    }
    let mut outcome = SubmitOutcome::default();
    while let Some(joined) = running.join_next().await {
        match joined {
            Ok(part) => {
                outcome.batches.extend(part.batches);
                outcome.errors += part.errors;
            }
            Err(error) => tracing::error!(%error, "a submitter failed"),
        }
    }
    outcome
}

async fn submitter(
    client: Client,
    plan: Arc<SubmitPlan>,
    next_batch: Arc<AtomicU64>,
    start: Instant,
    stop: CancellationToken,
) -> SubmitOutcome {
    let mut outcome = SubmitOutcome::default();
    let batch = plan.batch as u64;
    loop {
        let number = next_batch.fetch_add(1, Ordering::Relaxed);
        let first = number * batch;
        if first >= plan.total {
            return outcome;
        }
        let last = (first + batch).min(plan.total);
        let tasks: Vec<SubmitTask> = (first..last)
            .map(|j| task(j, &plan.tag_sets, &plan.priorities))
            .collect();
        if let Some(rate) = plan.rate {
            let due = start + Duration::from_secs_f64(first as f64 / rate);
            tokio::select! {
                () = stop.cancelled() => return outcome,
                () = tokio::time::sleep_until(due) => {}
            }
        }
        let mut backoff = FIRST_BACKOFF;
        loop {
            let sent = Instant::now();
            let answer = tokio::select! {
                () = stop.cancelled() => return outcome,
                answer = client.submit_batch(&tasks) => answer,
            };
            match answer {
                Ok(view) => {
                    outcome.batches.push(Batch {
                        sent,
                        answered: Instant::now(),
                        ids: view.tasks.into_iter().map(|t| t.id).collect(),
                    });
                    break;
                }
                Err(error) => {
                    outcome.errors += 1;
                    tracing::warn!(%error, retry_in = ?backoff, "batch submission failed");
                    tokio::select! {
                        () = stop.cancelled() => return outcome,
                        () = tokio::time::sleep(backoff) => {}
                    }
                    backoff = (backoff * 2).min(MAX_BACKOFF);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_take_the_mix_round_robin() {
        let sets: TagSets = "linux;linux,gpu".parse().unwrap();
        let priorities = [1, 5, 9];
        let first = task(0, &sets, &priorities);
        assert_eq!(first.argv, ["true"]);
        assert_eq!(first.tags, ["linux"]);
        assert_eq!(first.priority, Some(1));
        let second = task(1, &sets, &priorities);
        assert_eq!(second.tags, ["gpu", "linux"]);
        assert_eq!(second.priority, Some(5));
        assert_eq!(task(5, &sets, &priorities).priority, Some(9));
    }
}
