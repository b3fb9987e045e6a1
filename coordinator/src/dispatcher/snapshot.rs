//! A plain picture of the dispatcher, for the admin endpoint, the dashboard
//! and metrics (queue depth per tag set, tasks nobody can run). The service
//! turns it into the wire type (`switchyard_protocol::dispatcher`).

use switchyard_protocol::{TaskId, WorkerId};

use super::{BalanceStrategy, DispatchMode, TaskDispatcher};

/// How many queued task ids each worker lists, in pop order.
pub const SNAPSHOT_QUEUE_HEAD: usize = 100;

/// The dispatcher's state at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// How tasks are placed.
    pub mode: DispatchMode,
    /// How Balanced mode picks the one candidate.
    pub strategy: BalanceStrategy,
    /// Registered workers, by id.
    pub workers: Vec<WorkerSnapshot>,
    /// Distinct known queued tasks.
    pub queued_total: usize,
    /// Queued tasks that no queue holds: no active worker has their tags.
    pub unplaced: usize,
    /// Required tag sets of queued tasks, by tags.
    pub tag_sets: Vec<TagSetSnapshot>,
}

/// One registered worker.
#[derive(Clone, Debug, PartialEq, Eq)]
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
    pub queued: usize,
    /// Tasks it runs or has in flight.
    pub running: usize,
    /// Of `running`, those fetched but not yet confirmed by the database.
    pub in_flight: usize,
    /// The first [`SNAPSHOT_QUEUE_HEAD`] task ids of its queue, in pop order.
    pub queue: Vec<TaskId>,
}

/// Queued tasks requiring one tag set: the backlog per tag set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TagSetSnapshot {
    /// The required tags, sorted.
    pub tags: Vec<String>,
    /// Known queued tasks requiring exactly these tags.
    pub queued: usize,
    /// Active workers that have these tags.
    pub candidates: usize,
}

impl Snapshot {
    /// Queued tasks of `tag_sets` that no active worker can run: those of
    /// the sets without a candidate.
    pub fn unplaced_in(tag_sets: &[TagSetSnapshot]) -> usize {
        tag_sets
            .iter()
            .filter(|s| s.candidates == 0)
            .map(|s| s.queued)
            .sum()
    }
}

impl TaskDispatcher {
    /// The current state. O(workers × (tag sets + 100) + tag sets).
    pub fn snapshot(&self) -> Snapshot {
        let mut workers: Vec<WorkerSnapshot> = self
            .workers
            .iter()
            .map(|(&id, w)| WorkerSnapshot {
                id,
                tags: self.sets.get(w.set).tags.clone(),
                slots: w.slots,
                draining: w.draining,
                queued: w.queue.len(),
                running: w.busy(),
                in_flight: w.in_flight.len(),
                queue: w.queue.first_n(SNAPSHOT_QUEUE_HEAD),
            })
            .collect();
        workers.sort_unstable_by_key(|w| w.id);
        let mut tag_sets: Vec<TagSetSnapshot> = self
            .sets
            .live()
            .map(|s| self.sets.get(s))
            .filter(|set| set.queued > 0)
            .map(|set| TagSetSnapshot {
                tags: set.tags.clone(),
                queued: set.queued,
                candidates: set.candidates.len(),
            })
            .collect();
        tag_sets.sort_unstable_by(|a, b| a.tags.cmp(&b.tags));
        let unplaced = Snapshot::unplaced_in(&tag_sets);
        Snapshot {
            mode: self.mode,
            strategy: self.strategy,
            workers,
            queued_total: self.queued.len(),
            unplaced,
            tag_sets,
        }
    }

    /// Queued tasks that no queue holds. O(tag sets).
    pub fn unplaced(&self) -> usize {
        self.sets
            .live()
            .map(|s| self.sets.get(s))
            .filter(|set| set.candidates.is_empty())
            .map(|set| set.queued)
            .sum()
    }
}
