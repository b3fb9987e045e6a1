//! The primitives every operation is built from. Each keeps the worker
//! queues, the reverse index (task → holders), the per-tag-set task lists and
//! the stealing index in step, so the public operations never touch those
//! structures directly.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ops::Bound;

use switchyard_config::{BalanceStrategy, DispatchMode};
use switchyard_protocol::{TaskId, WorkerId};

use super::tagsets::{Key, SetId, key};
use super::{Assigned, Queued, TaskDispatcher, wake_list};

impl TaskDispatcher {
    /// Whether Balanced bookkeeping (one holder, stealing index) applies.
    pub(super) fn balanced(&self) -> bool {
        self.mode == DispatchMode::Balanced
    }

    /// Puts queued task `id` in `worker`'s queue. O(log n).
    pub(super) fn hold(&mut self, id: TaskId, worker: WorkerId) -> bool {
        let (Some(entry), Some(w)) = (self.queued.get_mut(&id), self.workers.get_mut(&worker))
        else {
            return false;
        };
        let Some(len) = w.queue.insert(entry.set, key(entry.rank, id)) else {
            return false;
        };
        entry.holders.push(worker);
        let (set, load) = (entry.set, w.load());
        if self.balanced() {
            self.sets.note_len(set, worker, len - 1, len);
            self.load_moved(worker, load - 1);
        }
        true
    }

    /// Takes queued task `id` out of `worker`'s queue. O(log n + holders).
    pub(super) fn unhold(&mut self, id: TaskId, worker: WorkerId) -> bool {
        let Some(entry) = self.queued.get_mut(&id) else {
            return false;
        };
        let Some(pos) = entry.holders.iter().position(|&h| h == worker) else {
            return false;
        };
        entry.holders.swap_remove(pos);
        let (set, key) = (entry.set, key(entry.rank, id));
        self.dequeue(worker, set, &key);
        true
    }

    /// Takes queued task `id` out of every queue. O(holders × log n).
    pub(super) fn unhold_all(&mut self, id: TaskId) {
        let Some(entry) = self.queued.get_mut(&id) else {
            return;
        };
        let (set, key) = (entry.set, key(entry.rank, id));
        for worker in std::mem::take(&mut entry.holders) {
            self.dequeue(worker, set, &key);
        }
    }

    /// Removes `key` from `worker`'s queue, keeping the Balanced indexes.
    fn dequeue(&mut self, worker: WorkerId, set: SetId, key: &Key) {
        let balanced = self.balanced();
        let Some(w) = self.workers.get_mut(&worker) else {
            return;
        };
        if let Some(left) = w.queue.remove(set, key)
            && balanced
        {
            let load = w.load();
            self.sets.note_len(set, worker, left + 1, left);
            self.load_moved(worker, load + 1);
        }
    }

    /// Balanced mode: `worker`'s load changed from `old` to what it is now;
    /// re-files it in the load index of every tag set it is a candidate of.
    /// Workers that are not active (draining, or between the two halves of
    /// a transition) are not in the index and are skipped.
    pub(super) fn load_moved(&mut self, worker: WorkerId, old: usize) {
        if !self.balanced() {
            return;
        }
        let Some(w) = self.workers.get(&worker) else {
            return;
        };
        let (set, new) = (w.set, w.load());
        if new != old && self.sets.get(set).members.contains(&worker) {
            self.sets.move_load(set, worker, old, new);
        }
    }

    /// A worker's current load (0 if unknown).
    pub(super) fn load_of(&self, worker: WorkerId) -> usize {
        self.workers.get(&worker).map_or(0, super::Worker::load)
    }

    /// Balanced: the candidate of tag set `set` to give one more task to.
    /// LeastQueue: least loaded, ties to the lowest id. RoundRobin: least
    /// loaded, ties to the first id after the cursor (wrapping), which then
    /// moves there. O(log candidates), through the set's load index.
    pub(super) fn choose(&mut self, set: SetId) -> Option<WorkerId> {
        let by_load = &self.sets.get(set).by_load;
        let &(least, first) = by_load.first()?;
        let chosen = match self.rotation_cursor() {
            Some(cursor) => by_load
                .range((
                    Bound::Excluded((least, cursor)),
                    Bound::Included((least, WorkerId(i64::MAX))),
                ))
                .next()
                .map_or(first, |&(_, w)| w),
            None => first,
        };
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
    pub(super) fn insert_queued(&mut self, id: TaskId, rank: i64, set: SetId) {
        self.sets.add_task(set, key(rank, id));
        let holders = Vec::new();
        self.queued.insert(id, Queued { rank, set, holders });
    }

    /// Queued → in flight for `worker`: leaves every queue at once.
    pub(super) fn hand_over(&mut self, id: TaskId, worker: WorkerId) -> bool {
        self.unhold_all(id);
        let Some(entry) = self.queued.remove(&id) else {
            return false;
        };
        self.sets.remove_task(entry.set, &key(entry.rank, id));
        let (rank, set) = (entry.rank, entry.set);
        self.assigned
            .insert(id, Assigned::InFlight { worker, rank, set });
        let old = self.load_of(worker);
        if let Some(w) = self.workers.get_mut(&worker) {
            w.in_flight.insert(id);
        }
        self.load_moved(worker, old);
        self.journal_gone(id);
        true
    }

    /// Forgets a queued task: every queue, its tag set's list, its reference.
    pub(super) fn drop_queued(&mut self, id: TaskId) -> bool {
        self.unhold_all(id);
        let Some(entry) = self.queued.remove(&id) else {
            return false;
        };
        self.sets.remove_task(entry.set, &key(entry.rank, id));
        self.sets.release(entry.set);
        true
    }

    /// Forgets a task that is in flight or running, freeing its slot.
    pub(super) fn drop_assigned(&mut self, id: TaskId) -> Option<Assigned> {
        let assigned = self.assigned.remove(&id)?;
        let worker = assigned.worker();
        let old = self.load_of(worker);
        if let Some(w) = self.workers.get_mut(&worker) {
            w.running.remove(&id);
            w.in_flight.remove(&id);
            self.load_moved(worker, old);
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
