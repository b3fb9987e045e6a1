//! How the simulated fleet behaves: its size, tags, slots, and how its
//! workers fetch and report.

use std::time::Duration;

use crate::tags::TagSets;

/// How the fleet behaves.
#[derive(Debug, Clone)]
pub struct FleetPlan {
    /// How many workers.
    pub workers: usize,
    /// Worker `i` offers set `i mod n`.
    pub tag_sets: TagSets,
    /// Slots each registers with.
    pub slots: u32,
    /// Most tasks one fetch asks for.
    pub fetch_max: u32,
    /// Long-poll wait of a fetch.
    pub fetch_wait: Duration,
    /// Report requests each worker has in flight at once.
    pub report_concurrency: usize,
    /// Reports per request (1: each alone).
    pub report_batch: usize,
    /// One HTTP client for all workers instead of one each.
    pub shared_client: bool,
    /// Token to register with.
    pub registration_token: Option<String>,
}
