//! The dispatcher's state as the admin API shows it
//! (`GET /api/v1/admin/dispatcher`): its mode, every registered worker's
//! queue, and the backlog per required tag set.

use serde::{Deserialize, Serialize};

use crate::ids::{TaskId, WorkerId};

/// The answer of `GET /api/v1/admin/dispatcher[?task=ID]`: the snapshot,
/// and with `?task=ID` where that task is held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DispatcherView {
    /// The dispatcher's state; its fields sit at the top level.
    #[serde(flatten)]
    pub snapshot: DispatcherSnapshot,
    /// With `?task=ID`: that task and the workers whose queue holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task: Option<TaskHolders>,
}

/// The dispatcher's state at one moment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct DispatcherSnapshot {
    /// `fanout` or `balanced`, spelled as the command-line flag.
    pub mode: String,
    /// `least-queue` or `round-robin`, spelled as the command-line flag.
    pub strategy: String,
    /// Registered workers, by id.
    pub workers: Vec<WorkerSnapshot>,
    /// Distinct known queued tasks.
    pub queued_total: u64,
    /// Queued tasks that no queue holds: no active worker has their tags.
    pub unplaced: u64,
    /// Required tag sets of queued tasks, by tags.
    pub tag_sets: Vec<TagSetSnapshot>,
}

impl DispatcherSnapshot {
    /// Queue entries: the sum of every worker's queue length. Balanced
    /// holds a task in one queue; Fanout in each of its candidates' queues.
    pub fn queue_entries(&self) -> u64 {
        self.workers.iter().map(|w| w.queued).sum()
    }
}

/// One registered worker as the dispatcher sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct WorkerSnapshot {
    /// The worker.
    pub id: WorkerId,
    /// Its tags, sorted.
    pub tags: Vec<String>,
    /// Tasks it runs at once.
    pub slots: u32,
    /// Whether it takes no new work.
    pub draining: bool,
    /// Tasks in its queue.
    pub queued: u64,
    /// Tasks it runs or has in flight.
    pub running: u64,
    /// Of `running`, those fetched but not yet confirmed by the database.
    pub in_flight: u64,
    /// The first 100 task ids of its queue, in pop order.
    pub queue: Vec<TaskId>,
}

/// Queued tasks requiring one tag set: the backlog per tag set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TagSetSnapshot {
    /// The required tags, sorted.
    pub tags: Vec<String>,
    /// Known queued tasks requiring exactly these tags.
    pub queued: u64,
    /// Active workers that have these tags.
    pub candidates: u64,
}

/// Where one task is held.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct TaskHolders {
    /// The task asked about.
    pub id: TaskId,
    /// Whether the dispatcher knows it as queued.
    pub queued: bool,
    /// Workers whose queue holds it, ascending.
    pub holders: Vec<WorkerId>,
}
