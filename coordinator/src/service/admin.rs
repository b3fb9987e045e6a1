//! Admin operations on the dispatcher: rebuild it from the database,
//! rebalance it, and look inside. Only the leader has a dispatcher; a
//! standby answers `not_leader`.

use switchyard_protocol::{DispatcherView, RebalanceResult, SeedResult, TaskHolders, TaskId};

use super::{AppState, seed};
use crate::dispatcher_edge;
use crate::error::ApiError;

/// Rebuilds the queues from the database. Idempotent, and safe while tasks
/// arrive and workers fetch.
pub async fn seed(state: &AppState) -> Result<SeedResult, ApiError> {
    state.require_leader()?;
    let read = seed::seed(state).await?;
    Ok(SeedResult {
        queued_tasks: read as u64,
    })
}

/// Balanced mode: moves queued tasks from overloaded to underloaded
/// candidates. Does nothing in Fanout mode, where every candidate holds
/// every task.
pub fn rebalance(state: &AppState) -> Result<RebalanceResult, ApiError> {
    state.require_leader()?;
    let rebalanced = state.dispatch().rebalance();
    state.metrics().tasks_redistributed(rebalanced.moved as u64);
    tracing::info!(moved = rebalanced.moved, "rebalanced");
    Ok(RebalanceResult {
        moved: rebalanced.moved as u64,
    })
}

/// A read-only look at the dispatcher.
pub fn snapshot(state: &AppState, task: Option<TaskId>) -> Result<DispatcherView, ApiError> {
    state.require_leader()?;
    Ok(state.dispatch().read(|dispatcher| DispatcherView {
        snapshot: dispatcher_edge::snapshot_view(dispatcher.snapshot()),
        task: task.map(|id| TaskHolders {
            id,
            queued: dispatcher.is_queued(id),
            holders: dispatcher.holders(id),
        }),
    }))
}
