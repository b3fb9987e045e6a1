//! What the watchers of a task hear: the output of its running attempt as
//! the agent sends it, and its end. Followers of the output
//! (`GET /api/v1/tasks/{id}/output?follow=true`) and waiters for the result
//! (`GET /api/v1/tasks/{id}?wait=`) subscribe here and are woken the
//! moment something changes, never by polling the database.
//!
//! The leader knows: it hands attempts over ([`Watch::started`]), receives
//! their output and records how they end ([`Watch::ended`]). Entries live
//! while their attempt runs or someone watches; the output they hold is
//! bounded per attempt and in all, and a slow watcher only misses output
//! (and is told so), it never holds anyone up.

pub mod ring;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use switchyard_protocol::limits::OUTPUT_TAIL_BYTES;
use switchyard_protocol::{OutputChunk, TaskId, WorkerId};
use tokio::sync::watch;

use crate::domain::TaskState;
use ring::Ring;

/// Most memory the output of all running attempts holds together.
const BUDGET: usize = 256 << 20;
/// Most one attempt's output holds: two tails' worth.
const MAX_RING: usize = 2 * OUTPUT_TAIL_BYTES;
/// Least one attempt's output holds however many run.
const MIN_RING: usize = 4 << 10;

/// Every watched or running task's entry.
#[derive(Debug, Default)]
pub struct Watch {
    tasks: Mutex<HashMap<TaskId, Arc<Watched>>>,
}

/// One task as its watchers see it.
#[derive(Debug)]
pub struct Watched {
    now: Mutex<Now>,
    /// Bumped on every change; watchers wait on it.
    version: watch::Sender<u64>,
}

/// A task's attempt and output as far as this coordinator knows.
#[derive(Debug, Default)]
pub struct Now {
    /// The attempt running or last run; 0 when none was seen.
    pub attempt: i32,
    /// The worker running `attempt`; `None` once it ended.
    pub worker: Option<WorkerId>,
    /// The output of `attempt`.
    pub ring: Ring,
    /// The final state, once the task has ended.
    pub ended: Option<TaskState>,
}

/// What became of an agent's chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    /// Added to its attempt's output (or already there).
    Added,
    /// This coordinator does not know the attempt (it started before this
    /// coordinator led): the database must say whether the worker runs it.
    Unknown,
    /// Not an attempt this worker runs now.
    Refused,
}

impl Watched {
    fn new() -> Self {
        Self {
            now: Mutex::new(Now::default()),
            version: watch::Sender::new(0),
        }
    }

    /// The task's attempt and output now.
    pub fn now(&self) -> MutexGuard<'_, Now> {
        self.now.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn changed(&self) {
        self.version.send_modify(|v| *v = v.wrapping_add(1));
    }
}

impl Watch {
    fn lock(&self) -> MutexGuard<'_, HashMap<TaskId, Arc<Watched>>> {
        self.tasks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Attempts handed to `worker`: their output is taken from it from now
    /// on.
    pub fn started(&self, worker: WorkerId, attempts: impl IntoIterator<Item = (TaskId, i32)>) {
        let mut tasks = self.lock();
        for (task, attempt) in attempts {
            let watched = tasks
                .entry(task)
                .or_insert_with(|| Arc::new(Watched::new()));
            {
                let mut now = watched.now();
                *now = Now {
                    attempt,
                    worker: Some(worker),
                    ring: Ring::default(),
                    ended: None,
                };
            }
            watched.changed();
        }
    }

    /// An attempt this coordinator did not hand over, which the database
    /// says `worker` runs.
    pub fn adopt(&self, worker: WorkerId, task: TaskId, attempt: i32) {
        let mut tasks = self.lock();
        let watched = tasks
            .entry(task)
            .or_insert_with(|| Arc::new(Watched::new()));
        let mut now = watched.now();
        if now.worker.is_none() && now.attempt < attempt && now.ended.is_none() {
            *now = Now {
                attempt,
                worker: Some(worker),
                ring: Ring::default(),
                ended: None,
            };
            drop(now);
            watched.changed();
        }
    }

    /// Adds a chunk `worker` sent, when it runs that attempt.
    pub fn take(&self, worker: WorkerId, chunk: &OutputChunk) -> Taken {
        let (watched, limit) = {
            let tasks = self.lock();
            let limit = (BUDGET / tasks.len().max(1)).clamp(MIN_RING, MAX_RING);
            match tasks.get(&chunk.task_id) {
                Some(watched) => (watched.clone(), limit),
                None => return Taken::Unknown,
            }
        };
        let added = {
            let mut now = watched.now();
            if now.worker.is_none() && now.attempt == 0 {
                // Only watched so far: ask the database.
                return Taken::Unknown;
            }
            if now.worker != Some(worker) || now.attempt != chunk.attempt {
                return Taken::Refused;
            }
            now.ring
                .push(chunk.stream, chunk.offset, &chunk.text, limit)
        };
        if added {
            watched.changed();
        }
        Taken::Added
    }

    /// Attempts that ended, each leaving its task in `state`: `queued` for
    /// another attempt, or a final state. Watchers of a final one are told
    /// and the entry goes (theirs stays readable to them).
    pub fn ended(&self, ended: impl IntoIterator<Item = (TaskId, TaskState)>) {
        let mut tasks = self.lock();
        for (task, state) in ended {
            let watched = if state.is_final() {
                tasks.remove(&task)
            } else {
                tasks.get(&task).cloned()
            };
            let Some(watched) = watched else {
                continue;
            };
            {
                let mut now = watched.now();
                now.worker = None;
                if state.is_final() {
                    now.ended = Some(state);
                }
            }
            watched.changed();
        }
    }

    /// Forgets every attempt (this coordinator stopped leading): watchers
    /// are woken, find no worker, and end their streams or waits.
    pub fn forget_all(&self) {
        let all: Vec<Arc<Watched>> = self.lock().drain().map(|(_, w)| w).collect();
        for watched in all {
            watched.now().worker = None;
            watched.changed();
        }
    }

    /// How many tasks have an entry.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no task has an entry.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Starts watching `task`.
    pub fn subscribe(self: &Arc<Self>, task: TaskId) -> Subscription {
        let watched = self
            .lock()
            .entry(task)
            .or_insert_with(|| Arc::new(Watched::new()))
            .clone();
        let version = watched.version.subscribe();
        Subscription {
            watch: self.clone(),
            task,
            watched,
            version,
        }
    }

    /// Drops `task`'s entry when nobody watches it and no attempt of it
    /// runs here (`watched` being the last subscription's, about to go).
    fn release(&self, task: TaskId, watched: &Arc<Watched>) {
        let mut tasks = self.lock();
        let Some(current) = tasks.get(&task) else {
            return;
        };
        // The map's reference and the departing subscription's.
        if Arc::ptr_eq(current, watched)
            && Arc::strong_count(watched) == 2
            && watched.now().worker.is_none()
        {
            tasks.remove(&task);
        }
    }
}

/// One watcher of one task.
#[derive(Debug)]
pub struct Subscription {
    watch: Arc<Watch>,
    task: TaskId,
    watched: Arc<Watched>,
    version: watch::Receiver<u64>,
}

impl Subscription {
    /// The task's attempt and output now.
    pub fn now(&self) -> MutexGuard<'_, Now> {
        self.watched.now()
    }

    /// Resolves when something changed since the last call (or since
    /// subscribing).
    pub async fn changed(&mut self) {
        // The sender lives as long as `watched`, which this holds.
        let _ = self.version.changed().await;
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.watch.release(self.task, &self.watched);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::time::Duration;

    use switchyard_protocol::OutputStream;

    use super::*;

    fn chunk(task: i64, attempt: i32, offset: u64, text: &str) -> OutputChunk {
        OutputChunk {
            task_id: TaskId(task),
            attempt,
            stream: OutputStream::Stdout,
            offset,
            text: text.to_owned(),
        }
    }

    #[test]
    fn output_is_taken_only_from_the_worker_running_that_attempt() {
        let watch = Watch::default();
        assert_eq!(
            watch.take(WorkerId(1), &chunk(7, 1, 0, "a")),
            Taken::Unknown
        );
        watch.started(WorkerId(1), [(TaskId(7), 2)]);
        assert_eq!(watch.take(WorkerId(1), &chunk(7, 2, 0, "a")), Taken::Added);
        assert_eq!(
            watch.take(WorkerId(2), &chunk(7, 2, 1, "b")),
            Taken::Refused
        );
        assert_eq!(
            watch.take(WorkerId(1), &chunk(7, 1, 1, "b")),
            Taken::Refused
        );
        watch.ended([(TaskId(7), TaskState::Queued)]);
        assert_eq!(
            watch.take(WorkerId(1), &chunk(7, 2, 1, "b")),
            Taken::Refused
        );
        watch.ended([(TaskId(7), TaskState::Failed)]);
        assert!(watch.is_empty());
    }

    #[tokio::test]
    async fn watchers_are_woken_by_output_and_told_the_end() {
        let watch = Arc::new(Watch::default());
        let mut sub = watch.subscribe(TaskId(3));
        watch.started(WorkerId(1), [(TaskId(3), 1)]);
        tokio::time::timeout(Duration::from_secs(5), sub.changed())
            .await
            .unwrap();
        watch.take(WorkerId(1), &chunk(3, 1, 0, "hello\n"));
        tokio::time::timeout(Duration::from_secs(5), sub.changed())
            .await
            .unwrap();
        assert_eq!(sub.now().ring.text_of(OutputStream::Stdout).0, "hello\n");
        watch.ended([(TaskId(3), TaskState::Succeeded)]);
        tokio::time::timeout(Duration::from_secs(5), sub.changed())
            .await
            .unwrap();
        assert_eq!(sub.now().ended, Some(TaskState::Succeeded));
        // The ended entry stays readable to its watcher but is gone from
        // the map.
        assert!(watch.is_empty());
    }

    #[test]
    fn a_watched_task_that_never_ran_is_forgotten_with_its_last_watcher() {
        let watch = Arc::new(Watch::default());
        let first = watch.subscribe(TaskId(5));
        let second = watch.subscribe(TaskId(5));
        drop(first);
        assert_eq!(watch.len(), 1);
        drop(second);
        assert!(watch.is_empty());
        // A running task's entry stays without watchers.
        watch.started(WorkerId(1), [(TaskId(6), 1)]);
        drop(watch.subscribe(TaskId(6)));
        assert_eq!(watch.len(), 1);
    }
}
