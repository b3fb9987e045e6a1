//! The primitives every operation is built from. Each keeps the worker
//! queues, the reverse index (task → holders), the per-tag-set task lists and
//! the stealing index in step, so the public operations never touch those
//! structures directly.

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use switchyard_config::{BalanceStrategy, DispatchMode};
use switchyard_protocol::{TaskId, WorkerId};

use super::tagsets::SetId;
use super::{Assigned, Queued, TaskDispatcher, wake_list};

impl TaskDispatcher {
    /// Whether Balanced bookkeeping (one holder, stealing index) applies.
    pub(super) fn balanced(&self) -> bool {
        self.mode == DispatchMode::Balanced
    }

    /// Puts queued task `id` in `worker`'s queue. O(log n).
    pub(super) fn hold(&mut self, id: TaskId, worker: WorkerId) -> bool {
        let balanced = self.balanced();
        let (Some(entry), Some(w)) = (self.queued.get_mut(&id), self.workers.get_mut(&worker))
        else {
            return false;
        };
        let Some(len) = w.queue.insert(entry.set, (Reverse(entry.priority), id)) else {
            return false;
        };
        entry.holders.push(worker);
        if balanced {
            self.sets.note_len(entry.set, worker, len - 1, len);
        }
        true
    }

    /// Takes queued task `id` out of `worker`'s queue. O(log n + holders).
    pub(super) fn unhold(&mut self, id: TaskId, worker: WorkerId) -> bool {
        let balanced = self.balanced();
        let (Some(entry), Some(w)) = (self.queued.get_mut(&id), self.workers.get_mut(&worker))
        else {
            return false;
        };
        let Some(pos) = entry.holders.iter().position(|&h| h == worker) else {
            return false;
        };
        entry.holders.swap_remove(pos);
        if let Some(left) = w.queue.remove(entry.set, &(Reverse(entry.priority), id))
            && balanced
        {
            self.sets.note_len(entry.set, worker, left + 1, left);
        }
        true
    }

    /// Takes queued task `id` out of every queue. O(holders × log n).
    pub(super) fn unhold_all(&mut self, id: TaskId) {
        let balanced = self.balanced();
        let Some(entry) = self.queued.get_mut(&id) else {
            return;
        };
        let key = (Reverse(entry.priority), id);
        for worker in std::mem::take(&mut entry.holders) {
            if let Some(w) = self.workers.get_mut(&worker)
                && let Some(left) = w.queue.remove(entry.set, &key)
                && balanced
            {
                self.sets.note_len(entry.set, worker, left + 1, left);
            }
        }
    }

    /// Balanced: the candidate of tag set `set` to give one more task to.
    /// LeastQueue: least loaded, ties to the lowest id. RoundRobin: least
    /// loaded, ties to the first id after the cursor (wrapping), which then
    /// moves there. O(candidates).
    pub(super) fn choose(&mut self, set: SetId) -> Option<WorkerId> {
        let cursor = self.rotation_cursor();
        let mut best: Option<(usize, bool, WorkerId)> = None;
        for &c in &self.sets.get(set).candidates {
            let Some(w) = self.workers.get(&c) else {
                continue;
            };
            let rank = (w.load(), cursor.is_some_and(|cur| c <= cur), c);
            if best.is_none_or(|b| rank < b) {
                best = Some(rank);
            }
        }
        let (_, _, chosen) = best?;
        self.advance_cursor(chosen);
        Some(chosen)
    }

    /// The cursor that breaks ties, if the strategy rotates.
    fn rotation_cursor(&self) -> Option<WorkerId> {
        match self.strategy {
            BalanceStrategy::RoundRobin => self.cursor,
            BalanceStrategy::LeastQueue => None,
        }
    }

    fn advance_cursor(&mut self, chosen: WorkerId) {
        if self.strategy == BalanceStrategy::RoundRobin {
            self.cursor = Some(chosen);
        }
    }

    /// Places queued task `id`, which has no holder: Fanout into every
    /// candidate's queue, Balanced into the one [`Self::choose`] picks.
    /// Returns the workers to wake.
    pub(super) fn place(&mut self, id: TaskId) -> Vec<WorkerId> {
        let Some(set) = self.queued.get(&id).map(|q| q.set) else {
            return Vec::new();
        };
        if self.balanced() {
            let Some(chosen) = self.choose(set) else {
                return Vec::new();
            };
            self.hold(id, chosen);
            vec![chosen]
        } else {
            let candidates = self.sets.get(set).candidates.clone();
            for &c in &candidates {
                self.hold(id, c);
            }
            candidates
        }
    }

    /// Balanced: places many unheld queued tasks of tag set `set` (best
    /// first), each on the least loaded candidate as the strategy would one by
    /// one, using a heap: O(tasks × log candidates) instead of
    /// O(tasks × candidates). Returns the workers to wake.
    pub(super) fn distribute(&mut self, set: SetId, ids: &[TaskId]) -> Vec<WorkerId> {
        let cursor = self.rotation_cursor();
        let mut heap: BinaryHeap<Reverse<(usize, bool, WorkerId)>> = self
            .sets
            .get(set)
            .candidates
            .iter()
            .filter_map(|&c| {
                let w = self.workers.get(&c)?;
                Some(Reverse((w.load(), cursor.is_some_and(|cur| c <= cur), c)))
            })
            .collect();
        let mut woken = Vec::new();
        for &id in ids {
            let Some(Reverse((load, wrapped, chosen))) = heap.pop() else {
                break;
            };
            if self.hold(id, chosen) {
                woken.push(chosen);
                self.advance_cursor(chosen);
                heap.push(Reverse((load + 1, wrapped, chosen)));
            } else {
                heap.push(Reverse((load, wrapped, chosen)));
            }
        }
        wake_list(woken)
    }

    /// Records a new queued task, held by no queue yet. Takes over one
    /// reference on `set`.
    pub(super) fn insert_queued(&mut self, id: TaskId, priority: i32, set: SetId) {
        self.sets.add_task(set, (Reverse(priority), id));
        let holders = Vec::new();
        self.queued.insert(id, Queued { priority, set, holders });
    }

    /// Queued → in flight for `worker`: leaves every queue at once.
    pub(super) fn hand_over(&mut self, id: TaskId, worker: WorkerId) -> bool {
        self.unhold_all(id);
        let Some(entry) = self.queued.remove(&id) else {
            return false;
        };
        self.sets.remove_task(entry.set, &(Reverse(entry.priority), id));
        let (priority, set) = (entry.priority, entry.set);
        self.assigned.insert(id, Assigned::InFlight { worker, priority, set });
        if let Some(w) = self.workers.get_mut(&worker) {
            w.in_flight.insert(id);
        }
        self.journal_gone(id);
        true
    }

    /// Forgets a queued task: every queue, its tag set's list, its reference.
    pub(super) fn drop_queued(&mut self, id: TaskId) -> bool {
        self.unhold_all(id);
        let Some(entry) = self.queued.remove(&id) else {
            return false;
        };
        self.sets.remove_task(entry.set, &(Reverse(entry.priority), id));
        self.sets.release(entry.set);
        true
    }

    /// Forgets a task that is in flight or running, freeing its slot.
    pub(super) fn drop_assigned(&mut self, id: TaskId) -> Option<Assigned> {
        let assigned = self.assigned.remove(&id)?;
        let worker = assigned.worker();
        if let Some(w) = self.workers.get_mut(&worker) {
            w.running.remove(&id);
            w.in_flight.remove(&id);
        } else if let Some(running) = self.detached.get_mut(&worker) {
            running.remove(&id);
            if running.is_empty() {
                self.detached.remove(&worker);
            }
        }
        if let Assigned::InFlight { set, .. } = assigned {
            self.sets.release(set);
        }
        Some(assigned)
    }
}
