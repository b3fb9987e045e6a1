//! Worker liveness: heartbeats are noted in memory and written to the
//! database together, one statement per flush, so a fleet of a thousand idle
//! workers costs one small write a second rather than hundreds.
//!
//! The dead-worker sweep flushes first, so a heartbeat noted but not yet
//! written never lets a live worker be declared dead.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use switchyard_protocol::WorkerId;

use super::AppState;
use super::loops::{Doing, log_failure};
use crate::storage;

/// The longest a heartbeat waits in memory before it is written.
const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Workers heard from since the last flush.
#[derive(Debug, Default)]
pub struct Liveness {
    heard: Mutex<HashSet<WorkerId>>,
}

impl Liveness {
    /// Notes that `worker` was heard from just now.
    pub fn note(&self, worker: WorkerId) {
        self.heard
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(worker);
    }

    fn take(&self) -> Vec<WorkerId> {
        let mut heard = self.heard.lock().unwrap_or_else(PoisonError::into_inner);
        heard.drain().collect()
    }

    fn give_back(&self, workers: Vec<WorkerId>) {
        self.heard
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .extend(workers);
    }
}

/// Writes the heartbeats noted so far. On failure they are kept for the
/// next flush (a worker's heartbeat is late, not lost).
pub async fn flush(state: &AppState) -> Result<(), sea_orm::DbErr> {
    let heard = state.liveness().take();
    if heard.is_empty() {
        return Ok(());
    }
    if let Err(error) = storage::workers::touch(state.db(), &heard).await {
        state.liveness().give_back(heard);
        return Err(error);
    }
    Ok(())
}

/// Flushes every second (or every heartbeat interval, when shorter) until
/// shutdown, and once more on the way out.
pub async fn run(state: AppState) {
    let every = FLUSH_EVERY.min(state.settings().heartbeat_interval);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = state.shutdown().cancelled() => break,
        }
        if let Err(error) = flush(&state).await.doing("record heartbeats") {
            log_failure("heartbeat writer", &error);
        }
    }
    if let Err(error) = flush(&state).await.doing("record the last heartbeats") {
        log_failure("heartbeat writer", &error);
    }
}
