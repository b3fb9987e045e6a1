//! Worker operations: register, update, drain, unregister. All of them are
//! one transition of the worker's *active tag set* (none while draining or
//! gone), so they share [`TaskDispatcher::transition`].

use rustc_hash::FxHashSet;
use switchyard_protocol::{TaskId, WorkerId};

use super::queue::WorkerQueue;
use super::tagsets::{TagSetId, normalize};
use super::{TaskDispatcher, Unregistered, Worker, WorkerSpec, wake_list};

impl TaskDispatcher {
    /// Registers a worker, or re-registers it (same as [`Self::update_worker`]).
    ///
    /// Backfill: Fanout: every known queued task it matches joins its queue;
    /// Balanced: every queued task it matches that no queue holds (they had
    /// no candidate, so it is the only one now) goes to it. No automatic
    /// rebalance: the caller may call [`Self::rebalance`]; meanwhile stealing
    /// gives the new worker work on its first fetch. Returns the workers to
    /// wake. O(tag sets × candidates + tasks backfilled × log n).
    pub fn register(&mut self, worker: WorkerSpec) -> Vec<WorkerId> {
        if self.workers.contains_key(&worker.id) {
            return self.update_worker(worker);
        }
        let set = self.sets.acquire(&normalize(worker.tags));
        let running = self.detached.remove(&worker.id).unwrap_or_default();
        let w = Worker {
            set,
            slots: worker.slots,
            draining: false,
            active: false,
            queue: WorkerQueue::default(),
            running,
            in_flight: FxHashSet::default(),
        };
        self.workers.insert(worker.id, w);
        wake_list(self.transition(worker.id, None, Some(set)))
    }

    /// Changes the tags and slots of a registered worker while it runs.
    /// Queued tasks it no longer matches leave its queue (Balanced: each goes
    /// to another candidate by strategy; with none left it stays known with
    /// no holder); tasks it now matches join (Fanout: all; Balanced: those no
    /// queue holds). Running and in-flight work is untouched. Unknown
    /// workers are ignored. Returns the workers to wake.
    pub fn update_worker(&mut self, worker: WorkerSpec) -> Vec<WorkerId> {
        let Some(w) = self.workers.get_mut(&worker.id) else {
            return Vec::new();
        };
        w.slots = worker.slots;
        let (old, draining) = (w.set, w.draining);
        let new = self.sets.acquire(&normalize(worker.tags));
        if new == old {
            self.sets.release(new);
            return Vec::new();
        }
        if let Some(w) = self.workers.get_mut(&worker.id) {
            w.set = new;
        }
        let woken = if draining {
            Vec::new()
        } else {
            self.transition(worker.id, Some(old), Some(new))
        };
        self.sets.release(old);
        wake_list(woken)
    }

    /// Marks a worker draining (it gets no new work; its queued tasks go to
    /// their other candidates) or active again (backfilled like a new
    /// registration). Returns the workers to wake.
    pub fn set_draining(&mut self, worker: WorkerId, draining: bool) -> Vec<WorkerId> {
        let Some(w) = self.workers.get_mut(&worker) else {
            return Vec::new();
        };
        if w.draining == draining {
            return Vec::new();
        }
        w.draining = draining;
        let set = w.set;
        let woken = if draining {
            self.transition(worker, Some(set), None)
        } else {
            self.transition(worker, None, Some(set))
        };
        wake_list(woken)
    }

    /// The worker left or died. Its queued tasks go to their remaining
    /// candidates (Balanced: exactly one each, by strategy); tasks with no
    /// candidate stay known with no holder. Returns the tasks it was running
    /// or had in flight, now forgotten here (the caller requeues them in the
    /// database, then enqueues them again), and the workers to wake.
    pub fn unregister(&mut self, worker: WorkerId) -> Unregistered {
        let (ids, woken): (Vec<TaskId>, Vec<WorkerId>) = match self.workers.get(&worker) {
            Some(w) => {
                let (set, draining) = (w.set, w.draining);
                let woken = if draining {
                    Vec::new()
                } else {
                    self.transition(worker, Some(set), None)
                };
                let Some(w) = self.workers.remove(&worker) else {
                    return Unregistered::default();
                };
                self.sets.release(w.set);
                (w.running.into_iter().chain(w.in_flight).collect(), woken)
            }
            None => {
                let running = self.detached.remove(&worker).unwrap_or_default();
                (running.into_iter().collect(), Vec::new())
            }
        };
        let mut running = ids;
        running.sort_unstable();
        for &id in &running {
            self.drop_assigned(id);
            self.journal_gone(id);
        }
        Unregistered {
            running,
            woken: wake_list(woken),
        }
    }

    /// Moves `worker`'s active tag set from `from` to `to` (`None`: not a
    /// candidate for anything, i.e. draining or leaving): updates the
    /// candidate cache, evicts the sub-queues it no longer matches
    /// (re-placing their tasks in Balanced mode) and backfills what it now
    /// matches, all through the placement primitives. Returns the workers
    /// that received tasks (unsorted).
    fn transition(
        &mut self,
        worker: WorkerId,
        from: Option<TagSetId>,
        to: Option<TagSetId>,
    ) -> Vec<WorkerId> {
        let subsets = |s: Option<TagSetId>| s.map(|s| self.sets.get(s).subsets.clone());
        let old_subs = subsets(from).unwrap_or_default();
        let new_subs = subsets(to).unwrap_or_default();
        if let Some(from) = from {
            self.deactivate(worker, from);
        }
        let mut woken = self.evict(worker, &new_subs);
        let newly_served = to
            .map(|to| self.activate(worker, to).newly_served)
            .unwrap_or_default();
        let balanced = self.balanced();
        // In the order of the subset list, which is deterministic
        // (invariant 8): in Balanced mode it decides which set's tasks are
        // placed first.
        let backfill: Vec<TagSetId> = if balanced {
            newly_served
        } else {
            new_subs
                .into_iter()
                .filter(|s| !old_subs.contains(s))
                .collect()
        };
        let mut received = false;
        for set in backfill {
            // Balanced: only tasks no queue holds, best first (a task of a
            // newly served set may still sit with this very worker during
            // an update).
            if balanced {
                let unheld = &self.sets.get(set).unheld;
                let ids: Vec<TaskId> = unheld.iter().map(|key| key.task()).collect();
                woken.extend(self.distribute(set, &ids));
            } else {
                for id in self.fanout_tasks_of(set, worker) {
                    received |= self.hold(id, worker);
                }
            }
        }
        if received {
            woken.push(worker);
        }
        woken
    }

    /// Fanout: every known queued task of tag set `set`, for a worker that
    /// has just become one of its candidates. No per-set list is kept, as
    /// every candidate holds every such task: they are the ones no queue
    /// holds plus the sub-queue of any other candidate.
    /// O(tasks of the set).
    fn fanout_tasks_of(&self, set: TagSetId, worker: WorkerId) -> Vec<TaskId> {
        let tag_set = self.sets.get(set);
        let mut ids: Vec<TaskId> = tag_set.unheld.iter().map(|key| key.task()).collect();
        let other = tag_set
            .candidates
            .iter()
            .filter(|&&c| c != worker)
            .find_map(|c| self.workers.get(c));
        if let Some(other) = other {
            ids.extend(other.queue.sub_iter(set).map(|key| key.task()));
        }
        ids
    }

    /// Empties `worker`'s sub-queues for tag sets outside `keep`, in set
    /// order. In Balanced mode each evicted task goes to another candidate
    /// by strategy; a task left with no holder is listed as unheld.
    fn evict(&mut self, worker: WorkerId, keep: &[TagSetId]) -> Vec<WorkerId> {
        let Some(w) = self.workers.get(&worker) else {
            return Vec::new();
        };
        let sets: Vec<TagSetId> = w.queue.sets().filter(|s| !keep.contains(s)).collect();
        let mut woken = Vec::new();
        for set in sets {
            let orphans = self.unhold_sub(worker, set);
            if self.balanced() {
                woken.extend(self.distribute(set, &orphans));
            } else {
                for id in orphans {
                    self.mark_if_unheld(id);
                }
            }
        }
        woken
    }
}
