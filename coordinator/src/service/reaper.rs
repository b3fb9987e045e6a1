//! The reaper: a worker whose heartbeat is overdue is declared gone and its
//! work goes elsewhere (liveness is the heartbeat, never how long a task
//! runs), and a running task whose timeout passed long ago with no report
//! is timed out by the coordinator itself.

use tokio::time::Instant;

use super::AppState;
use super::dispatch::requeue_released;
use super::workers::{self, Lost};
use crate::error::ApiError;
use crate::storage;

/// Runs one sweep: declares silent workers dead (when `deaths`) and takes
/// back what they held behind the lost-attempt fence, releases tasks still
/// marked running on workers already gone, and times out running tasks
/// unreported past their timeout plus the grace. Returns how many workers
/// were declared dead.
pub async fn sweep(state: &AppState, deaths: bool) -> Result<usize, ApiError> {
    // Heartbeats noted but unwritten must count, or a live worker could
    // look silent.
    super::liveness::flush(state).await?;
    let mut dead = 0;
    if deaths {
        let timeout = state.settings().heartbeat_timeout.as_secs_f64();
        for id in storage::workers::silent_since(state.db(), timeout).await? {
            // Only the sweep that marks it gone redistributes its work.
            if workers::mark_gone(state, id).await?.is_some() {
                tracing::warn!(worker_id = %id, "worker missed its heartbeats; declared dead");
                workers::remove_from_dispatch(state, id, Lost::Unconfirmed).await?;
                dead += 1;
            }
        }
    }
    let orphans = storage::attempts::release_orphans(
        state.db(),
        workers::release_terms(state, Lost::Unconfirmed),
    )
    .await?;
    workers::hold_behind_fences(state, &orphans);
    if !orphans.is_empty() {
        tracing::warn!(
            n = orphans.len(),
            "released tasks left running on gone workers"
        );
    }
    state.metrics().tasks_released(&orphans);
    requeue_released(state, None, orphans);

    let settings = state.settings();
    let overdue = storage::attempts::expire_overdue(
        state.db(),
        settings.timeout_grace.as_secs_f64(),
        settings.retry_base.as_secs_f64(),
        settings.retry_max.as_secs_f64(),
    )
    .await?;
    if !overdue.is_empty() {
        tracing::warn!(
            n = overdue.len(),
            "running tasks went unreported past their timeout"
        );
    }
    state.metrics().tasks_expired(&overdue);
    requeue_released(state, None, overdue);
    Ok(dead)
}

/// Sweeps every heartbeat interval until shutdown. No worker is declared
/// dead before this coordinator has itself been up for a heartbeat timeout:
/// while it was down, silence proved nothing, and live workers need that
/// long to be heard from again.
pub async fn run(state: AppState) {
    let started = Instant::now();
    let mut tick = tokio::time::interval(state.settings().heartbeat_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = state.shutdown().cancelled() => return,
        }
        let deaths = started.elapsed() >= state.settings().heartbeat_timeout;
        if let Err(error) = sweep(&state, deaths).await {
            tracing::error!(%error, "dead-worker sweep failed; retrying next interval");
        }
    }
}
