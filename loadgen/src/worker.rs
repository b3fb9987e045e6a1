//! One simulated worker: who it is, the client it acts with, the tasks it
//! runs now (which its heartbeats list), and what it recorded.

use std::collections::HashSet;
use std::sync::{Mutex, PoisonError};
use std::time::Duration;

use switchyard_protocol::{Assignment, Client, TaskId, WorkerId};
use tokio::time::Instant;

use crate::stats::Samples;

/// One task on one worker: when its fetch returned and its report was answered.
#[derive(Debug, Clone, Copy)]
pub struct Handled {
    /// The task.
    pub task: TaskId,
    /// When the fetch that brought it returned.
    pub fetched: Instant,
    /// When its report was answered.
    pub reported: Instant,
}

/// What one worker's fetch loop recorded.
#[derive(Debug, Default)]
pub struct WorkerOutcome {
    /// Tasks it reported as succeeded.
    pub handled: Vec<Handled>,
    /// Request → answer of each fetch that brought tasks.
    pub fetch_latency: Samples,
}

/// One registered simulated worker.
#[derive(Debug)]
pub(crate) struct SimWorker {
    /// Its id, from the registration.
    pub(crate) id: WorkerId,
    /// Its place in the fleet: worker `i` offers tag set `i mod n`.
    pub(crate) index: usize,
    /// Its HTTP client, carrying its worker token.
    pub(crate) client: Client,
    /// The heartbeat interval the coordinator asked for.
    pub(crate) heartbeat_every: Duration,
    /// Tasks fetched and not yet reported, listed in each heartbeat as an
    /// agent lists what it runs. The lock is never held across an `.await`.
    running: Mutex<HashSet<TaskId>>,
}

impl SimWorker {
    /// A worker just registered, running nothing yet.
    pub(crate) fn new(
        id: WorkerId,
        index: usize,
        client: Client,
        heartbeat_every: Duration,
    ) -> Self {
        Self {
            id,
            index,
            client,
            heartbeat_every,
            running: Mutex::default(),
        }
    }

    /// The tasks it runs now, for a heartbeat.
    pub(crate) fn running_now(&self) -> Vec<TaskId> {
        let running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        running.iter().copied().collect()
    }

    /// Marks `tasks` as running (fetched) or no longer (reported).
    pub(crate) fn set_running(&self, tasks: &[Assignment], running: bool) {
        let mut set = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        for task in tasks {
            if running {
                set.insert(task.task_id);
            } else {
                set.remove(&task.task_id);
            }
        }
    }
}
