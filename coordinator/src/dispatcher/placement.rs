//! The primitives every operation is built from. Each keeps the worker
//! queues, the reverse index (task → holders), the per-tag-set counts and
//! unheld lists, the candidate cache, the load index and the steal index in
//! step, so the public operations never touch those structures directly.
//!
//! A task added by [`TaskDispatcher::insert_queued`] is in none of them until
//! the [`TaskDispatcher::place`] or [`TaskDispatcher::distribute`] that must
//! follow; those list whatever they could not place as unheld, so a task
//! placed on arrival never touches the unheld list.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::ops::Bound;

use switchyard_protocol::{TaskId, WorkerId};

use super::holders::Holders;
use super::queuekey::QueueKey;
use super::tagsets::{Activated, TagSetId};
use super::{Assigned, BalanceStrategy, DispatchMode, Queued, TaskDispatcher, wake_list};

impl TaskDispatcher {
    /// Whether Balanced bookkeeping (one holder, load and steal indexes) applies.
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
        let task_key = QueueKey::new(entry.rank, id);
        let Some(len) = w.queue.insert(entry.set, task_key) else {
            return false;
        };
        if entry.holders.is_empty() {
            self.sets.clear_unheld(entry.set, &task_key);
        }
        entry.holders.push(worker);
        if balanced {
            self.sets
                .move_in_steal_index(entry.set, worker, len - 1, len);
            if w.active {
                let load = w.load();
                self.sets.move_in_load_index(w.set, worker, load - 1, load);
            }
        }
        true
    }

    /// Takes queued task `id` out of `worker`'s queue; a task left with no
    /// holder is listed as unheld. O(log n + holders).
    pub(super) fn unhold(&mut self, id: TaskId, worker: WorkerId) -> bool {
        let Some(entry) = self.queued.get_mut(&id) else {
            return false;
        };
        if !entry.holders.remove(worker) {
            return false;
        }
        let (set, task_key) = (entry.set, QueueKey::new(entry.rank, id));
        if entry.holders.is_empty() {
            self.sets.mark_unheld(set, task_key);
        }
        self.dequeue(worker, set, &task_key, true);
        true
    }

    /// Takes `worker`'s whole sub-queue of tag set `set` out of its queue,
    /// best first, and returns the tasks it leaves with no holder. Those are
    /// not listed as unheld yet, like a task from [`Self::insert_queued`]:
    /// the caller places them with [`Self::distribute`] or lists them with
    /// [`Self::mark_if_unheld`]. O(tasks of the sub-queue × holders).
    pub(super) fn unhold_sub(&mut self, worker: WorkerId, set: TagSetId) -> Vec<TaskId> {
        let old = self.load_of(worker);
        let Some(w) = self.workers.get_mut(&worker) else {
            return Vec::new();
        };
        let keys = w.queue.take_sub(set);
        if self.balanced() {
            self.sets.move_in_steal_index(set, worker, keys.len(), 0);
        }
        let mut orphans = Vec::new();
        for key in keys {
            if let Some(entry) = self.queued.get_mut(&key.task()) {
                entry.holders.remove(worker);
                if entry.holders.is_empty() {
                    orphans.push(key.task());
                }
            }
        }
        self.load_moved(worker, old);
        orphans
    }

    /// Lists queued task `id` as unheld if no queue holds it.
    pub(super) fn mark_if_unheld(&mut self, id: TaskId) {
        if let Some(entry) = self.queued.get(&id)
            && entry.holders.is_empty()
        {
            self.sets
                .mark_unheld(entry.set, QueueKey::new(entry.rank, id));
        }
    }

    /// Removes `key` from `worker`'s queue, keeping the steal index and,
    /// with `refile`, the load index in step (Balanced). A caller that
    /// changes the worker's load again right away passes `refile: false`
    /// and re-files once, with [`Self::load_moved`].
    fn dequeue(&mut self, worker: WorkerId, set: TagSetId, key: &QueueKey, refile: bool) {
        let balanced = self.balanced();
        let Some(w) = self.workers.get_mut(&worker) else {
            return;
        };
        let Some(left) = w.queue.remove(set, key) else {
            return;
        };
        if balanced {
            self.sets.move_in_steal_index(set, worker, left + 1, left);
            if refile && w.active {
                let load = w.load();
                self.sets.move_in_load_index(w.set, worker, load + 1, load);
            }
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
        let new = w.load();
        if new != old && w.active {
            self.sets.move_in_load_index(w.set, worker, old, new);
        }
    }

    /// Makes registered `worker` an active candidate of every subset of its
    /// tag set `set`: the candidate cache, the load index and, for subsets
    /// that now have a second candidate, the steal index, filled from the
    /// candidates' queues. Returns what changed, for the backfill.
    pub(super) fn activate(&mut self, worker: WorkerId, set: TagSetId) -> Activated {
        let load = self.load_of(worker);
        let activated = self.sets.activate(set, worker, load);
        self.set_active(worker, true);
        if self.balanced() {
            for &shared in &activated.newly_shared {
                self.fill_steal_index(shared);
            }
        }
        activated
    }

    /// Undoes [`Self::activate`]: `worker` is no candidate of anything
    /// (draining, leaving, or between the two halves of a change of tags).
    pub(super) fn deactivate(&mut self, worker: WorkerId, set: TagSetId) {
        let load = self.load_of(worker);
        self.sets.deactivate(set, worker, load);
        self.set_active(worker, false);
    }

    /// Balanced: files the holders of tag set `set` in its steal index,
    /// which starts when the set gets its second candidate. O(candidates).
    fn fill_steal_index(&mut self, set: TagSetId) {
        for i in 0..self.sets.get(set).candidates.len() {
            let worker = self.sets.get(set).candidates[i];
            let len = self
                .workers
                .get(&worker)
                .map_or(0, |w| w.queue.sub_len(set));
            self.sets.move_in_steal_index(set, worker, 0, len);
        }
    }

    /// Records whether `worker` is an active candidate; see `Worker::active`.
    fn set_active(&mut self, worker: WorkerId, active: bool) {
        if let Some(w) = self.workers.get_mut(&worker) {
            w.active = active;
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
    pub(super) fn choose(&mut self, set: TagSetId) -> Option<WorkerId> {
        let load_index = &self.sets.get(set).load_index;
        let &(least, first) = load_index.first()?;
        let chosen = match self.rotation_cursor() {
            Some(cursor) => load_index
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
    /// candidate's queue, Balanced into the one [`Self::choose`] picks; with
    /// no candidate it is listed as unheld. Returns the workers to wake.
    pub(super) fn place(&mut self, id: TaskId) -> Vec<WorkerId> {
        let Some(set) = self.queued.get(&id).map(|q| q.set) else {
            return Vec::new();
        };
        if self.balanced() {
            if let Some(chosen) = self.choose(set)
                && self.hold(id, chosen)
            {
                return vec![chosen];
            }
            self.mark_if_unheld(id);
            Vec::new()
        } else {
            let candidates = self.sets.get(set).candidates.clone();
            let mut held = false;
            for &c in &candidates {
                held |= self.hold(id, c);
            }
            if !held {
                self.mark_if_unheld(id);
            }
            candidates
        }
    }

    /// Balanced: places many unheld queued tasks of tag set `set` (best
    /// first), each on the least loaded candidate as the strategy would one by
    /// one, using a heap: O(tasks × log candidates) instead of
    /// O(tasks × candidates). Those it cannot place (no candidate) are
    /// listed as unheld. Returns the workers to wake.
    pub(super) fn distribute(&mut self, set: TagSetId, ids: &[TaskId]) -> Vec<WorkerId> {
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
        for &id in ids {
            self.mark_if_unheld(id);
        }
        wake_list(woken)
    }

    /// Records a new queued task, held by no queue yet; the caller places
    /// it right away with [`Self::place`] or [`Self::distribute`]. Takes
    /// over one reference on `set`.
    pub(super) fn insert_queued(&mut self, id: TaskId, rank: i64, set: TagSetId) {
        self.sets.add_task(set);
        let holders = Holders::None;
        self.queued.insert(id, Queued { rank, set, holders });
    }

    /// Takes queued task `id` out of the queued tasks: out of every queue,
    /// the unheld list and its tag set's count. Each holder's load is
    /// re-filed, except `fetcher`'s, which the caller settles. Returns the
    /// entry; the caller owns its tag-set reference. O(holders × log n).
    fn take_queued(&mut self, id: TaskId, fetcher: Option<WorkerId>) -> Option<Queued> {
        let entry = self.queued.remove(&id)?;
        let task_key = QueueKey::new(entry.rank, id);
        if entry.holders.is_empty() {
            self.sets.clear_unheld(entry.set, &task_key);
        }
        for &holder in entry.holders.as_slice() {
            self.dequeue(holder, entry.set, &task_key, Some(holder) != fetcher);
        }
        self.sets.remove_task(entry.set);
        Some(entry)
    }

    /// Queued → in flight for `worker`: leaves every queue at once. When
    /// `worker` held it, its load does not change (one queued task fewer,
    /// one in flight more), so its load index is not touched.
    pub(super) fn hand_over(&mut self, id: TaskId, worker: WorkerId) -> bool {
        let old = self.load_of(worker);
        let Some(entry) = self.take_queued(id, Some(worker)) else {
            return false;
        };
        let (rank, set) = (entry.rank, entry.set);
        self.assigned
            .insert(id, Assigned::InFlight { worker, rank, set });
        if let Some(w) = self.workers.get_mut(&worker) {
            w.in_flight.insert(id);
        }
        self.load_moved(worker, old);
        self.journal_gone(id);
        true
    }

    /// Forgets a queued task: every queue, its tag set's count, its reference.
    pub(super) fn drop_queued(&mut self, id: TaskId) -> bool {
        let Some(entry) = self.take_queued(id, None) else {
            return false;
        };
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
