//! Workers' registrations: register, change, heartbeat, unregister.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use sea_orm::{DbErr, TransactionTrait};

use switchyard_protocol::{
    HeartbeatRequest, HeartbeatResponse, RegisterWorker, TaskId, UpdateWorker, WorkerId, WorkerView,
};

use super::auth::{self, Principal};
use super::dispatch::{enqueue_rows, requeue_released};
use super::handle::Running;
use super::{AppState, views};
use crate::dispatcher::WorkerSpec;
use crate::domain::{TaskState, WorkerState, validate};
use crate::error::ApiError;
use crate::storage::entities::worker::Model;
use crate::storage::{self, entities::task};

fn spec(id: WorkerId, tags: Vec<String>, slots: i32) -> WorkerSpec {
    WorkerSpec {
        id,
        tags,
        slots: u32::try_from(slots).unwrap_or(0),
    }
}

/// Records a new worker, issues the token it acts with from then on, and
/// gives it the queued work it matches.
#[tracing::instrument(skip_all, err)]
pub async fn register(
    state: &AppState,
    caller: &Principal,
    request: RegisterWorker,
) -> Result<WorkerView, ApiError> {
    caller.may_register()?;
    state.require_leader()?;
    let new = validate::register(&request)?;
    // Stored like a token: only its hash.
    let key_hash = request.instance_key.as_deref().map(auth::secret::hash);
    // The worker and the token it acts with are stored together, or not at
    // all (a half-done registration would leave a worker nobody can act as).
    let txn = state.db().begin().await?;
    let row = storage::workers::insert(&txn, &new, key_hash.as_ref().map(|h| &h[..])).await?;
    let id = WorkerId(row.id);
    let (token, issued) = auth::issue_worker_token(state, &txn, caller, id).await?;
    txn.commit().await?;
    issued.remember(state);
    tracing::info!(worker_id = %id, name = %row.name, tags = ?row.tags, slots = row.slots, "worker registered");
    // Backfill only: in Balanced mode the new worker takes tasks nobody
    // holds, and work from longer queues when it fetches with an empty one;
    // an admin rebalance evens out the queues.
    state
        .dispatch()
        .register(spec(id, row.tags.clone(), row.slots));
    if let Some(key_hash) = &key_hash {
        retire_earlier_selves(state, id, key_hash).await?;
    }
    let mut view = views::worker(state, row).await?;
    view.token = Some(token);
    Ok(view)
}

/// One worker.
pub async fn get(state: &AppState, id: WorkerId) -> Result<WorkerView, ApiError> {
    let row = storage::workers::get(state.db(), id)
        .await?
        .ok_or(ApiError::WorkerNotFound(id))?;
    Ok(views::worker(state, row).await?)
}

/// Every worker that has not gone.
pub async fn list(state: &AppState) -> Result<Vec<WorkerView>, ApiError> {
    let rows = storage::workers::live(state.db()).await?;
    Ok(views::workers(state, rows).await?)
}

/// Changes a live worker's tags or slots. Queued tasks it no longer matches
/// go to their other candidates, tasks it now matches join its queue, and
/// what it runs is untouched.
#[tracing::instrument(skip_all, fields(worker_id = %id), err)]
pub async fn update(
    state: &AppState,
    id: WorkerId,
    request: UpdateWorker,
) -> Result<WorkerView, ApiError> {
    let current = storage::workers::get(state.db(), id)
        .await?
        .ok_or(ApiError::WorkerNotFound(id))?;
    let tags = match &request.tags {
        Some(tags) => validate::tags("tags", tags)?,
        None => current.tags,
    };
    let slots = validate::slots(request.slots.unwrap_or(current.slots))?;
    let Some(row) = storage::workers::update(state.db(), id, &tags, slots).await? else {
        return Err(ApiError::WorkerGone(id));
    };
    state
        .dispatch()
        .update_worker(spec(id, row.tags.clone(), row.slots));
    tracing::info!(tags = ?row.tags, slots = row.slots, "worker changed");
    Ok(views::worker(state, row).await?)
}

/// Marks a worker draining: it gets no new work, finishes what it runs, and
/// its queued tasks go to other candidates. `false` makes it active again.
#[tracing::instrument(skip_all, fields(worker_id = %id), err)]
pub async fn set_draining(
    state: &AppState,
    id: WorkerId,
    draining: bool,
) -> Result<WorkerView, ApiError> {
    let Some(row) = storage::workers::set_draining(state.db(), id, draining).await? else {
        return Err(not_served(state, id).await);
    };
    state.dispatch().set_draining(id, draining);
    tracing::info!(draining, "worker drain changed");
    Ok(views::worker(state, row).await?)
}

/// Brings the dispatcher in step with worker `id` as the database has it
/// now (a standby changed it): its tags, slots and drain; or, gone, out of
/// dispatch with its tasks released.
pub async fn refresh(state: &AppState, id: WorkerId) -> Result<(), DbErr> {
    match storage::workers::get(state.db(), id).await? {
        Some(row) if row.state == WorkerState::Gone => {
            remove_from_dispatch(state, id, Lost::Unconfirmed).await
        }
        Some(row) => {
            let draining = row.state == WorkerState::Draining;
            state
                .dispatch()
                .refresh_worker(spec(id, row.tags, row.slots), draining);
            Ok(())
        }
        None => Ok(()),
    }
}

/// The error for a worker the coordinator does not serve: unknown, or gone.
pub(super) async fn not_served(state: &AppState, id: WorkerId) -> ApiError {
    match storage::workers::get(state.db(), id).await {
        Ok(Some(_)) => ApiError::WorkerGone(id),
        Ok(None) => ApiError::WorkerNotFound(id),
        Err(e) => e.into(),
    }
}

/// Notes that the worker lives; answers with the running tasks to kill.
/// When the agent lists what it runs, assignments that never reached it go
/// back to the queue. Liveness is written in batches (see
/// [`super::liveness`]); an idle worker's heartbeat touches no database at
/// all, and a busy one's reads once.
pub async fn heartbeat(
    state: &AppState,
    id: WorkerId,
    request: HeartbeatRequest,
) -> Result<HeartbeatResponse, ApiError> {
    // The dispatcher holds exactly the workers this coordinator serves, and
    // what each runs; while it is rebuilt, the database answers.
    let busy = match state.dispatch().running(id) {
        Running::Tasks(n) => Some(n),
        Running::Rebuilding => None,
        Running::NotServed => return Err(not_served(state, id).await),
        Running::NotLeader => return Err(state.not_leader()),
    };
    state.liveness().note(id);
    let lists_nothing = request.running.as_ref().is_none_or(Vec::is_empty);
    if busy == Some(0) && lists_nothing {
        // Nothing runs on either side: nothing to stop, nothing undelivered.
        return Ok(HeartbeatResponse::default());
    }
    let grace = (state.settings().heartbeat_interval * 2).max(Duration::from_secs(10));
    let held = storage::attempts::held_by(state.db(), id, grace.as_secs_f64()).await?;
    let mut cancel: Vec<TaskId> = held
        .iter()
        .filter(|task| task.cancel_requested)
        .map(|task| TaskId(task.id))
        .collect();
    // An agent that omits the list runs nothing.
    let running = request.running.as_deref().unwrap_or_default();
    {
        let listed: HashSet<TaskId> = running.iter().copied().collect();
        let held_ids: HashSet<TaskId> = held.iter().map(|task| TaskId(task.id)).collect();
        // What the agent runs that is no longer its to run (timed out by the
        // coordinator, taken away): stop it.
        cancel.extend(listed.difference(&held_ids));
        let undelivered = held
            .iter()
            .any(|task| task.overdue && !listed.contains(&TaskId(task.id)));
        if undelivered {
            let released = storage::attempts::release_undelivered(
                state.db(),
                id,
                state.settings().lost_attempt_limit,
                running,
                grace.as_secs_f64(),
                state.dispatch().epoch(),
            )
            .await?;
            if !released.is_empty() {
                tracing::warn!(worker_id = %id, n = released.len(), "assignments never reached the worker; requeued");
            }
            state.metrics().tasks_released(&released);
            requeue_released(state, Some(id), released);
        }
    }
    cancel.sort_unstable();
    cancel.dedup();
    Ok(HeartbeatResponse { cancel })
}

/// Whether a worker's running attempts are known to be dead when its tasks
/// are taken back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lost {
    /// Its agent said so (it unregistered itself after killing them, or a
    /// later registration of the same agent vouched): they run again at once.
    Confirmed,
    /// Nobody knows (declared dead, or removed by an admin): they wait
    /// behind the lost-attempt fence.
    Unconfirmed,
}

/// How tasks taken back from a worker return to the queue.
pub fn release_terms(state: &AppState, lost: Lost) -> storage::attempts::Release {
    let settings = state.settings();
    storage::attempts::Release {
        lost_limit: settings.lost_attempt_limit,
        fence_secs: match lost {
            Lost::Confirmed => 0.0,
            Lost::Unconfirmed => settings.lost_attempt_fence.as_secs_f64(),
        },
        epoch: state.dispatch().epoch(),
    }
}

/// Notes which of `released` wait behind a fence, by the worker they were
/// lost with, so that a confirmation can let them go early.
pub fn hold_behind_fences(state: &AppState, released: &[task::Model]) {
    let now = state.clock().now();
    let mut by_worker: HashMap<WorkerId, Vec<TaskId>> = HashMap::new();
    for row in released {
        if row.state == TaskState::Queued
            && row.not_before.is_some_and(|at| at > now)
            && let Some(worker) = row.worker_id
        {
            by_worker
                .entry(WorkerId(worker))
                .or_default()
                .push(TaskId(row.id));
        }
    }
    for (worker, tasks) in by_worker {
        tracing::warn!(
            worker_id = %worker,
            tasks = ?tasks,
            fence = ?state.settings().lost_attempt_fence,
            "tasks lost with their worker wait behind the lost-attempt fence"
        );
        state
            .fences()
            .hold(worker, &tasks, state.settings().lost_attempt_fence);
    }
}

/// Unregisters a worker: its queued tasks go to other candidates and the
/// tasks it was running go back to the queue — at once when `lost` is
/// confirmed (the worker itself asked), behind the fence otherwise (an
/// admin removed a worker whose agent may still run them). Idempotent.
#[tracing::instrument(skip_all, fields(worker_id = %id), err)]
pub async fn unregister(
    state: &AppState,
    id: WorkerId,
    lost: Lost,
) -> Result<WorkerView, ApiError> {
    state.require_leader()?;
    let row = match mark_gone(state, id).await? {
        Some(row) => row,
        None => {
            let row = storage::workers::get(state.db(), id)
                .await?
                .ok_or(ApiError::WorkerNotFound(id))?;
            return Ok(views::worker(state, row).await?);
        }
    };
    remove_from_dispatch(state, id, lost).await?;
    tracing::info!(worker_id = %id, "worker unregistered");
    Ok(views::worker(state, row).await?)
}

/// Marks a worker gone, its tokens revoked in the same statement, and
/// forgets them here at once; `None` when it was unknown or already gone.
pub(super) async fn mark_gone(state: &AppState, id: WorkerId) -> Result<Option<Model>, DbErr> {
    let row = storage::workers::mark_gone(state.db(), id, state.dispatch().epoch()).await?;
    auth::forget_worker(state, id);
    Ok(row)
}

/// Takes a worker that is gone in the database out of dispatch: its queue
/// is redistributed, its running tasks released (behind the fence unless
/// `lost` is confirmed) and re-dispatched.
pub async fn remove_from_dispatch(state: &AppState, id: WorkerId, lost: Lost) -> Result<(), DbErr> {
    state.dispatch().unregister(id);
    let released =
        storage::attempts::release_running_of(state.db(), id, release_terms(state, lost)).await?;
    hold_behind_fences(state, &released);
    state.metrics().tasks_released(&released);
    requeue_released(state, None, released);
    Ok(())
}

/// The earlier registrations of the agent that just registered as `new`
/// with `key`: their processes are dead (the agent killed them before
/// registering), so a live one is unregistered and its tasks run again at
/// once, and the fences of dead ones let their tasks go.
async fn retire_earlier_selves(
    state: &AppState,
    new: WorkerId,
    key_hash: &[u8],
) -> Result<(), ApiError> {
    let window = state.settings().lost_attempt_fence.as_secs_f64();
    let earlier = storage::workers::earlier_selves(state.db(), key_hash, new, window).await?;
    for &id in &earlier {
        if mark_gone(state, id).await?.is_some() {
            tracing::info!(worker_id = %id, new_worker_id = %new, "an agent registered again; its earlier worker is retired and its tasks run again");
            remove_from_dispatch(state, id, Lost::Confirmed).await?;
        }
    }
    let fenced = state.fences().release(&earlier);
    if fenced.is_empty() {
        return Ok(());
    }
    let freed = storage::tasks::end_fence(state.db(), &fenced, state.dispatch().epoch()).await?;
    let ids: Vec<i64> = freed.iter().map(|row| row.id).collect();
    tracing::info!(tasks = ?ids, "the agent confirmed its lost attempts dead; the fence is lifted");
    enqueue_rows(state, &freed);
    Ok(())
}
