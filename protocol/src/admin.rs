//! Admin answers: rebuilding and rebalancing the dispatcher.

use serde::{Deserialize, Serialize};

/// The answer to a seed: the dispatcher was rebuilt from the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SeedResult {
    /// Queued tasks read from the database.
    pub queued_tasks: u64,
}

/// The answer to a rebalance.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RebalanceResult {
    /// Queued tasks moved to a less loaded candidate.
    pub moved: u64,
}
