//! Self-healing: the leader compares what the database says is ready to
//! run with what its dispatcher knows, and repairs the difference. Every
//! path that changes a task tells the dispatcher itself, so this normally
//! finds nothing (the repair metric stays at zero); it is there for what
//! slips through: a standby's notification lost, a timer's read failing
//! while the database was away, a bug.
//!
//! - **Tasks**: queued, due tasks the dispatcher does not know are offered
//!   to it. The database is read a page at a time, so a deep queue costs
//!   many short statements, not one long one.
//! - **Workers**: live workers the dispatcher does not serve are loaded
//!   with what they run; workers it serves that the database says are gone
//!   are taken out of dispatch (their tasks released, fenced); tags, slots
//!   and drain are brought in step.
//!
//! A difference is repaired only when two passes in a row see it: a task
//! or worker in transit between the database and the dispatcher (a
//! submission committed a moment before it is enqueued) is not a fault.
//! Tasks the dispatcher holds that the database no longer has queued need
//! no pass: the hand-over's conditional statement refuses them and they
//! are dropped then.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use switchyard_protocol::{TaskId, WorkerId};

use super::AppState;
use super::dispatch::ready_now;
use super::handle::LoadedWorker;
use super::loops::{Doing, LoopError, log_failure};
use super::seed;
use super::workers::{self, Lost};
use crate::dispatcher::TaskDispatcher;
use crate::metrics::Repair;
use crate::storage;

/// How often the leader reconciles, unless asked sooner.
pub const INTERVAL: Duration = Duration::from_secs(5);
/// Ids read per statement.
const PAGE: u32 = 10_000;

/// What one pass suspects; the next pass repairs what it confirms.
#[derive(Debug, Default)]
pub struct Suspects {
    tasks: HashSet<TaskId>,
    workers: HashSet<WorkerId>,
}

/// What a pass repaired.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Repaired {
    pub tasks_missing: usize,
    pub workers_missing: usize,
    pub workers_stale: usize,
    pub workers_changed: usize,
}

/// Reconciles every [`INTERVAL`] while leading, and when asked, until
/// shutdown.
pub async fn run(state: AppState) {
    let mut suspects = Suspects::default();
    loop {
        tokio::select! {
            () = tokio::time::sleep(INTERVAL) => {}
            () = state.reconcile_wanted() => {}
            () = state.shutdown().cancelled() => return,
        }
        if state.dispatch().epoch().is_none() || state.dispatch().rebuilding().is_some() {
            suspects = Suspects::default();
            continue;
        }
        match pass(&state, &mut suspects).await {
            Ok(repaired) if repaired != Repaired::default() => {
                tracing::warn!(?repaired, "reconciliation repaired the dispatcher");
            }
            Ok(_) => {}
            Err(error) => log_failure("reconciliation", &error),
        }
    }
}

/// One pass: suspects what differs now, repairs what `suspects` (the last
/// pass) also saw, and leaves the new suspects for the next pass.
pub async fn pass(state: &AppState, suspects: &mut Suspects) -> Result<Repaired, LoopError> {
    let mut repaired = Repaired::default();
    let earlier = std::mem::take(suspects);

    // Tasks, a page at a time.
    let mut after = TaskId(0);
    let mut confirmed = Vec::new();
    loop {
        let page = storage::tasks::due_ids(state.db(), after, PAGE)
            .await
            .doing("list the queued tasks to reconcile")?;
        let Some(&last) = page.last() else { break };
        after = last;
        let unknown: Vec<TaskId> = state.dispatch().read(|dispatcher| {
            page.iter()
                .copied()
                .filter(|&task| !dispatcher.is_known(task) && !state.fences().holds(task))
                .collect()
        });
        for task in unknown {
            if earlier.tasks.contains(&task) {
                confirmed.push(task);
            } else {
                suspects.tasks.insert(task);
            }
        }
        if page.len() < PAGE as usize {
            break;
        }
    }
    if !confirmed.is_empty() {
        let rows = storage::tasks::queued_among(state.db(), &confirmed)
            .await
            .doing("read the tasks the dispatcher misses")?;
        let ready = ready_now(state, &rows);
        repaired.tasks_missing = ready.len();
        tracing::warn!(tasks = ?confirmed, "queued tasks were missing from the dispatcher; offered now");
        // Counted before they are offered: a worker may take one at once.
        state
            .metrics()
            .repaired(Repair::TaskMissing, ready.len() as u64);
        state.dispatch().enqueue(ready);
    }

    // Workers.
    let live = seed::read_workers(state.db())
        .await
        .doing("read the workers to reconcile")?;
    let served: HashMap<WorkerId, (Vec<String>, u32, bool)> = state
        .dispatch()
        .read(TaskDispatcher::snapshot)
        .workers
        .into_iter()
        .map(|w| (w.id, (w.tags, w.slots, w.draining)))
        .collect();
    let mut live_ids = HashSet::with_capacity(live.len());
    let mut missing = Vec::new();
    for worker in live {
        let id = worker.spec.id;
        live_ids.insert(id);
        let differs = match served.get(&id) {
            None => true,
            Some((tags, slots, draining)) => {
                let mut want = worker.spec.tags.clone();
                want.sort_unstable();
                want.dedup();
                *tags != want || *slots != worker.spec.slots || *draining != worker.draining
            }
        };
        if !differs {
            continue;
        }
        if !earlier.workers.contains(&id) {
            suspects.workers.insert(id);
            continue;
        }
        if served.contains_key(&id) {
            state.metrics().repaired(Repair::WorkerChanged, 1);
            state
                .dispatch()
                .refresh_worker(worker.spec.clone(), worker.draining);
            repaired.workers_changed += 1;
        } else {
            missing.push(worker);
        }
    }
    if !missing.is_empty() {
        repaired.workers_missing = missing.len();
        state
            .metrics()
            .repaired(Repair::WorkerMissing, missing.len() as u64);
        load_missing(state, missing);
    }
    for &id in served.keys() {
        if live_ids.contains(&id) {
            continue;
        }
        if !earlier.workers.contains(&id) {
            suspects.workers.insert(id);
            continue;
        }
        state.metrics().repaired(Repair::WorkerStale, 1);
        workers::remove_from_dispatch(state, id, Lost::Unconfirmed)
            .await
            .doing("take a gone worker out of dispatch")?;
        repaired.workers_stale += 1;
    }

    Ok(repaired)
}

/// Loads live workers the dispatcher missed, with what they run.
fn load_missing(state: &AppState, missing: Vec<LoadedWorker>) {
    let ids: Vec<WorkerId> = missing.iter().map(|w| w.spec.id).collect();
    tracing::warn!(workers = ?ids, "live workers were missing from the dispatcher; loaded now");
    state.dispatch().load(missing);
}
