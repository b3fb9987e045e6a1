//! Building the dispatcher from the database, after a panic interrupted it
//! or on taking the lead (the policy is in [`super::handle`]): the workers
//! and what they run are loaded, the queued tasks seeded the usual way
//! ([`super::seed::seed`]), and only then does the dispatcher hand work
//! out. A new leader first restarts the workers' heartbeat clocks: time
//! without a leader is not theirs. It retries until it succeeds, the
//! coordinator stops leading, or it shuts down.

use std::time::Duration;

use super::AppState;
use super::handle::Rebuild;
use super::loops::{Doing, LoopError, log_failure};
use super::seed;
use crate::storage;

/// First wait after a failed try; it doubles up to [`MAX_RETRY`].
const FIRST_RETRY: Duration = Duration::from_millis(50);
/// Longest wait between tries.
const MAX_RETRY: Duration = Duration::from_secs(2);

/// How one try ended.
enum Try {
    /// Rebuilt: the dispatcher serves again.
    Done,
    /// Something changed under the try (a worker, a running task, another
    /// panic): try again at once.
    Again,
}

/// Waits for rebuilds to be wanted and does them, until shutdown.
pub async fn run(state: AppState) {
    loop {
        tokio::select! {
            () = state.dispatch().rebuild_wanted() => {}
            () = state.shutdown().cancelled() => return,
        }
        rebuild(&state).await;
    }
}

/// Rebuilds the dispatcher, trying until it succeeds or shutdown.
pub async fn rebuild(state: &AppState) {
    let mut wait = FIRST_RETRY;
    while !state.shutdown().is_cancelled() {
        match try_once(state).await {
            Ok(Try::Done) => return,
            Ok(Try::Again) => tokio::task::yield_now().await,
            Err(error) => {
                log_failure("dispatcher rebuild", &error);
                tokio::select! {
                    () = tokio::time::sleep(wait) => {}
                    () = state.shutdown().cancelled() => return,
                }
                wait = (wait * 2).min(MAX_RETRY);
            }
        }
    }
}

async fn try_once(state: &AppState) -> Result<Try, LoopError> {
    let Some(mark) = state.dispatch().rebuild_begin() else {
        return Ok(Try::Done);
    };
    if mark.why == Rebuild::Election {
        storage::workers::touch_live(state.db())
            .await
            .doing("restart the workers' heartbeat clocks")?;
    }
    let workers = seed::read_workers(state.db())
        .await
        .doing("read the workers to rebuild the dispatcher")?;
    let loaded = workers.len();
    if !state.dispatch().rebuild_load(mark, workers) {
        return Ok(Try::Again);
    }
    let tasks = seed::seed(state)
        .await
        .doing("seed the rebuilt dispatcher")?;
    if !state.dispatch().rebuild_finish(mark) {
        return Ok(Try::Again);
    }
    match mark.why {
        Rebuild::Panic => {
            state.metrics().dispatcher_rebuilt();
            tracing::warn!(
                workers = loaded,
                queued_tasks = tasks,
                "dispatcher rebuilt from the database after a panic"
            );
        }
        Rebuild::Election => tracing::info!(
            workers = loaded,
            queued_tasks = tasks,
            "dispatcher loaded from the database; handing out work"
        ),
    }
    state.reconcile_soon();
    Ok(Try::Done)
}
