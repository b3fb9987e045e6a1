//! Filling the dispatcher from the database: on taking the lead, on an
//! admin's request, and when it is rebuilt after a panic. Safe to run while tasks
//! arrive and workers fetch.

use std::collections::HashMap;

use sea_orm::{ConnectionTrait, DbErr};
use switchyard_protocol::{TaskId, WorkerId};

use super::AppState;
use super::dispatch::ready_now;
use super::handle::LoadedWorker;
use crate::dispatcher::WorkerSpec;
use crate::domain::WorkerState;
use crate::storage;

/// Live workers and what each runs, as the database lists them.
pub async fn read_workers(db: &impl ConnectionTrait) -> Result<Vec<LoadedWorker>, DbErr> {
    let workers = storage::workers::live(db).await?;
    let mut running: HashMap<WorkerId, Vec<TaskId>> = HashMap::new();
    for (worker, task) in storage::tasks::running(db).await? {
        running.entry(worker).or_default().push(task);
    }
    Ok(workers
        .into_iter()
        .map(|row| {
            let id = WorkerId(row.id);
            LoadedWorker {
                spec: WorkerSpec {
                    id,
                    tags: row.tags,
                    slots: u32::try_from(row.slots).unwrap_or(0),
                },
                draining: row.state == WorkerState::Draining,
                running: running.remove(&id).unwrap_or_default(),
            }
        })
        .collect())
}

/// Places every queued task of the database in the dispatcher, without
/// duplicates and without losing tasks submitted meanwhile. Tasks in a
/// retry back-off are placed when it ends. Returns how many were read.
#[tracing::instrument(skip_all, err)]
pub async fn seed(state: &AppState) -> Result<usize, DbErr> {
    let _one_at_a_time = state.seed_lock().lock().await;
    let token = state.dispatch().begin_seed();
    let rows = match storage::tasks::queued(state.db()).await {
        Ok(rows) => rows,
        Err(error) => {
            // Keep the queues as they are; a later seed tries again.
            state.dispatch().abort_seed(token);
            return Err(error);
        }
    };
    let read = rows.len();
    let ready = ready_now(state, &rows);
    state.dispatch().finish_seed(token, ready);
    tracing::info!(tasks = read, "dispatcher seeded");
    Ok(read)
}
