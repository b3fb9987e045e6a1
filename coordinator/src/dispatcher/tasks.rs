//! Task operations: enqueue, fetch (with stealing), the three outcomes of a
//! hand-over (confirm, abandon, restore), finish, remove and set_running.

use std::cmp::Reverse;

use switchyard_protocol::{TaskId, WorkerId};

use super::queuekey::QueueKey;
use super::tagsets::normalize;
use super::{Assigned, QueuedTask, TaskDispatcher, wake_list};

impl TaskDispatcher {
    /// Adds a ready queued task and places it (Fanout: every candidate;
    /// Balanced: one, by strategy); with no candidate it stays known, held by
    /// no queue, until a matching worker registers.
    ///
    /// Idempotent: a task already known (queued, in flight or running) is
    /// ignored. Returns the workers whose queue received it, so the caller can
    /// wake their long-polls. O(log n + candidates).
    pub fn enqueue(&mut self, task: QueuedTask) -> Vec<WorkerId> {
        if self.is_known(task.id) {
            return Vec::new();
        }
        let set = self.sets.acquire(&normalize(task.tags));
        self.insert_queued(task.id, task.rank, set);
        self.journal_added(task.id);
        self.place(task.id)
    }

    /// Pops up to `max` tasks for `worker`, never more than its free slots
    /// (slots − running − in flight); none for draining or unknown workers.
    ///
    /// Tasks come best first (rank, then submit order). Each popped task
    /// leaves every queue at once and is *in flight* for this worker (counts
    /// toward its slots and load) until [`Self::confirm`], [`Self::abandon`]
    /// or [`Self::restore`]. In Balanced mode, once its own queue is empty the
    /// worker steals: for each tag set it matches, the steal index names
    /// the worker holding the most tasks of that set; it takes the best task
    /// of the longest of those. So no task waits behind a busy worker while a
    /// candidate sits idle.
    ///
    /// O(k × (tag sets held + holders × log n)) for k tasks; stealing adds
    /// O(tag sets the worker matches) per stolen task.
    pub fn fetch(&mut self, worker: WorkerId, max: usize) -> Vec<TaskId> {
        let want = match self.workers.get(&worker) {
            Some(w) if !w.draining => max.min(w.free_slots()),
            _ => return Vec::new(),
        };
        let mut popped = Vec::with_capacity(want.min(64));
        while popped.len() < want {
            let Some(id) = self
                .workers
                .get(&worker)
                .and_then(|w| w.queue.best())
                .map(|key| key.task())
            else {
                break;
            };
            if !self.hand_over(id, worker) {
                break;
            }
            popped.push(id);
        }
        if self.balanced() {
            while popped.len() < want {
                let Some(id) = self.steal_target(worker) else {
                    break;
                };
                if !self.hand_over(id, worker) {
                    break;
                }
                popped.push(id);
            }
        }
        popped
    }

    /// Balanced: the task `thief` should steal. For every tag set the thief
    /// matches, the steal index names the worker holding the most tasks of
    /// that set; the longest of those queues wins (ties: the better head
    /// task) and its best task of that set is taken. O(tag sets ⊆ thief's).
    fn steal_target(&self, thief: WorkerId) -> Option<TaskId> {
        let own_set = self.workers.get(&thief)?.set;
        let mut best: Option<(usize, Reverse<QueueKey>)> = None;
        for &set in &self.sets.get(own_set).subsets {
            let Some(&(len, Reverse(victim))) = self
                .sets
                .get(set)
                .steal_index
                .iter()
                .rev()
                .find(|(_, Reverse(v))| *v != thief)
            else {
                continue;
            };
            let Some(head) = self
                .workers
                .get(&victim)
                .and_then(|v| v.queue.sub_first(set))
            else {
                continue;
            };
            let rank = (len, Reverse(head));
            if best.is_none_or(|b| rank > b) {
                best = Some(rank);
            }
        }
        best.map(|(_, Reverse(key))| key.task())
    }

    /// The database confirmed the hand-over: these in-flight tasks of
    /// `worker` are now running on it. Others are ignored.
    pub fn confirm(&mut self, worker: WorkerId, tasks: &[TaskId]) {
        for &id in tasks {
            let Some(&Assigned::InFlight { worker: w, set, .. }) = self.assigned.get(&id) else {
                continue;
            };
            if w != worker {
                continue;
            }
            self.assigned.insert(id, Assigned::Running { worker });
            if let Some(w) = self.workers.get_mut(&worker) {
                w.in_flight.remove(&id);
                w.running.insert(id);
            }
            self.sets.release(set);
        }
    }

    /// The database refused these in-flight tasks of `worker` (no longer
    /// queued there, e.g. cancelled meanwhile): forget them, free the slots.
    pub fn abandon(&mut self, worker: WorkerId, tasks: &[TaskId]) {
        for &id in tasks {
            if self.in_flight_on(id, worker) {
                self.drop_assigned(id);
                self.journal_gone(id);
            }
        }
    }

    /// The database write failed: these in-flight tasks of `worker` go back
    /// to the queues as if never fetched (same rank and order, placed
    /// again like a new enqueue). Returns the workers to wake.
    pub fn restore(&mut self, worker: WorkerId, tasks: &[TaskId]) -> Vec<WorkerId> {
        let mut woken = Vec::new();
        for &id in tasks {
            if !self.in_flight_on(id, worker) {
                continue;
            }
            let Some(Assigned::InFlight { rank, set, .. }) = self.assigned.remove(&id) else {
                continue;
            };
            let old = self.load_of(worker);
            if let Some(w) = self.workers.get_mut(&worker) {
                w.in_flight.remove(&id);
            }
            self.load_moved(worker, old);
            // The in-flight reference on `set` passes to the queued entry.
            self.insert_queued(id, rank, set);
            self.journal_added(id);
            woken.extend(self.place(id));
        }
        wake_list(woken)
    }

    fn in_flight_on(&self, id: TaskId, worker: WorkerId) -> bool {
        matches!(self.assigned.get(&id), Some(Assigned::InFlight { worker: w, .. }) if *w == worker)
    }

    /// A task of `worker` ended (reported, or taken away): frees its slot.
    /// Accepts a running or in-flight task; anything else is a no-op.
    pub fn finish(&mut self, worker: WorkerId, task: TaskId) {
        if self
            .assigned
            .get(&task)
            .is_some_and(|a| a.worker() == worker)
        {
            self.drop_assigned(task);
            self.journal_gone(task);
        }
    }

    /// Removes a queued task from every queue and cache (cancelled, or being
    /// changed: remove, then enqueue the new version). Returns true if it was
    /// queued here. In-flight and running tasks are left alone: the database
    /// decides their fate. O(holders × log n).
    pub fn remove(&mut self, task: TaskId) -> bool {
        self.journal_gone(task);
        self.drop_queued(task)
    }

    /// Tells the dispatcher that `worker` runs these tasks, as the database
    /// says (start-up, before seeding). A task known in another state is
    /// moved; the worker need not be registered yet.
    pub fn set_running(&mut self, worker: WorkerId, tasks: &[TaskId]) {
        for &id in tasks {
            self.drop_queued(id);
            self.drop_assigned(id);
            self.journal_gone(id);
            self.assigned.insert(id, Assigned::Running { worker });
            let old = self.load_of(worker);
            match self.workers.get_mut(&worker) {
                Some(w) => {
                    w.running.insert(id);
                    self.load_moved(worker, old);
                }
                None => {
                    self.detached.entry(worker).or_default().insert(id);
                }
            }
        }
    }
}
