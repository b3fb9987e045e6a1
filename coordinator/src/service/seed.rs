//! Rebuilding the dispatcher from the database: at start-up, and on an
//! admin's request. Safe to run while tasks arrive and workers fetch.

use std::collections::HashMap;

use chrono::Utc;
use switchyard_protocol::{TaskId, WorkerId};

use super::AppState;
use super::dispatch::{enqueue_at, queued_task};
use crate::dispatcher::WorkerSpec;
use crate::domain::WorkerState;
use crate::error::ApiError;
use crate::storage;

/// Loads live workers and what they run into an empty dispatcher. Workers'
/// heartbeat clocks restart: time the coordinator was down is not theirs.
pub async fn load_workers(state: &AppState) -> Result<usize, ApiError> {
    use sea_orm::ConnectionTrait;
    state
        .db()
        .execute_unprepared("UPDATE workers SET last_heartbeat = now() WHERE state <> 'gone'")
        .await?;
    let workers = storage::workers::live(state.db()).await?;
    let mut running: HashMap<WorkerId, Vec<TaskId>> = HashMap::new();
    for (worker, task) in storage::tasks::running(state.db()).await? {
        running.entry(worker).or_default().push(task);
    }
    let mut dispatcher = state.dispatcher();
    for row in &workers {
        let id = WorkerId(row.id);
        dispatcher.register(WorkerSpec {
            id,
            tags: row.tags.clone(),
            slots: u32::try_from(row.slots).unwrap_or(0),
        });
        if row.state == WorkerState::Draining {
            dispatcher.set_draining(id, true);
        }
        if let Some(tasks) = running.get(&id) {
            dispatcher.set_running(id, tasks);
        }
    }
    Ok(workers.len())
}

/// Places every queued task of the database in the dispatcher, without
/// duplicates and without losing tasks submitted meanwhile. Tasks in a
/// retry back-off are placed when it ends. Returns how many were read.
#[tracing::instrument(skip_all, err)]
pub async fn seed(state: &AppState) -> Result<usize, ApiError> {
    let _one_at_a_time = state.seed_lock().lock().await;
    let token = state.dispatcher().begin_seed();
    let rows = match storage::tasks::queued(state.db()).await {
        Ok(rows) => rows,
        Err(error) => {
            // Keep the queues as they are; a later seed tries again.
            state.dispatcher().abort_seed(token);
            return Err(error.into());
        }
    };
    let read = rows.len();
    let now = Utc::now();
    let mut ready = Vec::with_capacity(rows.len());
    for row in rows {
        match row.not_before {
            Some(at) if at > now => enqueue_at(state, TaskId(row.id), at),
            _ => ready.push(queued_task(state, &row)),
        }
    }
    let woken = state.dispatcher().finish_seed(token, ready);
    state.wakers().wake(&woken);
    tracing::info!(tasks = read, "dispatcher seeded");
    Ok(read)
}
