//! A full consistency check of the dispatcher's structures, for tests and
//! debugging: invariant 7 (the indexes agree), and invariants 1 to 3 as far
//! as the dispatcher alone can tell (see the list in the module
//! documentation). O(everything): never call it on a hot path.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use switchyard_protocol::TaskId;

use super::queuekey::QueueKey;
use super::tagsets::TagSetId;
use super::{Assigned, TaskDispatcher};

impl TaskDispatcher {
    /// Checks internal consistency: the tag-set index and candidate cache
    /// match the workers; the reverse index matches the queues (7); every
    /// holder is a candidate and draining workers hold nothing (2); Fanout:
    /// every candidate holds each queued task, Balanced: exactly one holder
    /// when a candidate exists (1); the per-set counts and unheld lists
    /// match the queued tasks; the load and steal indexes match the loads
    /// and queues (7); no task is both queued and assigned, and each
    /// assigned task is listed by its one worker (3); tag-set references
    /// are counted right. Returns the first violation found, in a
    /// deterministic order.
    pub fn check_invariants(&self) -> Result<(), String> {
        self.sets.check()?;
        self.check_workers()?;
        self.check_queued()?;
        self.check_assigned()?;
        self.check_refs()
    }

    fn check_workers(&self) -> Result<(), String> {
        let mut total_held = 0;
        let mut workers: Vec<_> = self.workers.iter().collect();
        workers.sort_unstable_by_key(|&(&id, _)| id);
        for (&id, w) in workers {
            if self.sets.refs(w.set) == 0 {
                return Err(format!("worker {id} has a forgotten tag set"));
            }
            let set = self.sets.get(w.set);
            if set.members.contains(&id) == w.draining {
                return Err(format!("worker {id}: membership disagrees with draining"));
            }
            if set.members.contains(&id) != w.active {
                return Err(format!("worker {id}: membership disagrees with active"));
            }
            if w.draining && !w.queue.is_empty() {
                return Err(format!("draining worker {id} holds queued tasks"));
            }
            w.queue.check().map_err(|e| format!("worker {id}: {e}"))?;
            let mut count = 0;
            for (task_set, key) in w.queue.iter() {
                count += 1;
                let task = key.task();
                let Some(entry) = self.queued.get(&task) else {
                    return Err(format!("worker {id} holds {task}, which is not queued"));
                };
                if entry.set != task_set || entry.rank != key.rank() {
                    return Err(format!("worker {id} holds {task} under the wrong key"));
                }
            }
            // With every (task, holder) pair found in its queue (see
            // check_queued), equal totals mean no queue holds anything more.
            total_held += count;
            if count != w.queue.len() {
                return Err(format!(
                    "worker {id}: queue length {} != {count}",
                    w.queue.len()
                ));
            }
            if self.balanced() && !w.draining {
                let load = (w.load(), id);
                for &sub in &set.subsets {
                    if !self.sets.get(sub).load_index.contains(&load) {
                        return Err(format!(
                            "load index of {:?} misses {load:?}",
                            self.sets.get(sub).tags
                        ));
                    }
                }
            }
            for sub in w.queue.sets() {
                let len = w.queue.sub_len(sub);
                let indexed = self.sets.get(sub).candidates.len() >= 2;
                if self.balanced()
                    && indexed
                    && !self.sets.get(sub).steal_index.contains(&(len, Reverse(id)))
                {
                    return Err(format!("steal index misses worker {id} ({len} tasks)"));
                }
            }
            for task in w.running.iter().chain(&w.in_flight) {
                match self.assigned.get(task) {
                    Some(a) if a.worker() == id => {}
                    _ => return Err(format!("worker {id} busy with {task}, not assigned to it")),
                }
            }
            if w.running.iter().any(|t| w.in_flight.contains(t)) {
                return Err(format!("worker {id}: a task both running and in flight"));
            }
        }
        let holders: usize = self.queued.values().map(|q| q.holders.len()).sum();
        if holders != total_held {
            return Err(format!(
                "queues hold {total_held} tasks, reverse index {holders}"
            ));
        }
        for worker in self.detached.keys() {
            if self.workers.contains_key(worker) {
                return Err(format!("registered worker {worker} has detached tasks"));
            }
        }
        Ok(())
    }

    fn check_queued(&self) -> Result<(), String> {
        let mut per_set: BTreeMap<TagSetId, usize> = BTreeMap::new();
        for entry in self.queued.values() {
            *per_set.entry(entry.set).or_default() += 1;
        }
        let mut counted: usize = 0;
        for set_id in self.sets.live() {
            let set = self.sets.get(set_id);
            let actual = per_set.get(&set_id).copied().unwrap_or(0);
            if set.queued != actual {
                return Err(format!(
                    "tag set {:?} counts {} queued tasks, {actual} known",
                    set.tags, set.queued
                ));
            }
            counted += set.queued;
            for key in &set.unheld {
                let task = key.task();
                match self.queued.get(&task) {
                    Some(e) if e.set == set_id && e.rank == key.rank() && e.holders.is_empty() => {}
                    _ => return Err(format!("tag set {:?} lists {task} wrongly", set.tags)),
                }
            }
            // The steal index lists every holder with its count while the
            // set has two or more candidates, and nothing otherwise.
            let held: usize = set.steal_index.iter().map(|&(len, _)| len).sum();
            let expected = if set.candidates.len() >= 2 {
                self.holdings(set_id)
            } else {
                0
            };
            if self.balanced()
                && (held != expected || set.steal_index.iter().any(|&(len, _)| len == 0))
            {
                return Err(format!("steal index of {:?} miscounts", set.tags));
            }
        }
        if counted != self.queued.len() {
            return Err(format!(
                "{counted} counted by live tag sets, {} queued",
                self.queued.len()
            ));
        }
        let mut queued: Vec<_> = self.queued.iter().collect();
        queued.sort_unstable_by_key(|&(&task, _)| task);
        for (&task, entry) in queued {
            let listed = self
                .sets
                .get(entry.set)
                .unheld
                .contains(&QueueKey::new(entry.rank, task));
            if listed != entry.holders.is_empty() {
                return Err(format!(
                    "{task}: {} holders, listed as unheld: {listed}",
                    entry.holders.len()
                ));
            }
            if self.assigned.contains_key(&task) {
                return Err(format!("{task} both queued and assigned"));
            }
            let candidates = &self.sets.get(entry.set).candidates;
            let holders: BTreeSet<_> = entry.holders.as_slice().iter().copied().collect();
            if holders.len() != entry.holders.len() {
                return Err(format!("{task} has a holder twice"));
            }
            for h in &holders {
                if candidates.binary_search(h).is_err() {
                    return Err(format!("{task} held by {h}, which is not a candidate"));
                }
                let task_key = QueueKey::new(entry.rank, task);
                let holds = self
                    .workers
                    .get(h)
                    .is_some_and(|w| w.queue.contains(entry.set, &task_key));
                if !holds {
                    return Err(format!("{task}: holder {h} lacks it in its queue"));
                }
            }
            let expected = if self.balanced() {
                usize::from(!candidates.is_empty())
            } else {
                candidates.len()
            };
            if holders.len() != expected {
                return Err(format!(
                    "{task}: {} holders, expected {expected} ({} candidates)",
                    holders.len(),
                    candidates.len()
                ));
            }
        }
        Ok(())
    }

    /// Balanced: tasks of `set` held by queues.
    fn holdings(&self, set: TagSetId) -> usize {
        self.workers.values().map(|w| w.queue.sub_len(set)).sum()
    }

    fn check_assigned(&self) -> Result<(), String> {
        let mut busy: BTreeSet<TaskId> = BTreeSet::new();
        for w in self.workers.values() {
            busy.extend(w.running.iter().chain(&w.in_flight));
        }
        for running in self.detached.values() {
            busy.extend(running);
        }
        let mut assigned: Vec<_> = self.assigned.iter().collect();
        assigned.sort_unstable_by_key(|&(&task, _)| task);
        for (&task, a) in assigned {
            let worker = a.worker();
            let listed = match (self.workers.get(&worker), a) {
                (Some(w), Assigned::InFlight { .. }) => w.in_flight.contains(&task),
                (Some(w), Assigned::Running { .. }) => w.running.contains(&task),
                (None, Assigned::Running { .. }) => self
                    .detached
                    .get(&worker)
                    .is_some_and(|r| r.contains(&task)),
                (None, Assigned::InFlight { .. }) => false,
            };
            if !listed {
                return Err(format!("{task} assigned to {worker}, who does not list it"));
            }
        }
        if busy.len() != self.assigned.len() {
            return Err(format!(
                "{} busy, {} assigned",
                busy.len(),
                self.assigned.len()
            ));
        }
        Ok(())
    }

    fn check_refs(&self) -> Result<(), String> {
        for set_id in self.sets.live() {
            let tasks = self.sets.get(set_id).queued;
            let in_flight = self
                .assigned
                .values()
                .filter(|a| matches!(a, Assigned::InFlight { set, .. } if *set == set_id))
                .count();
            let workers = self.workers.values().filter(|w| w.set == set_id).count();
            let refs = self.sets.refs(set_id);
            if refs != tasks + in_flight + workers {
                return Err(format!(
                    "tag set {:?}: {refs} refs, {tasks} queued + {in_flight} in flight + {workers} workers",
                    self.sets.get(set_id).tags
                ));
            }
        }
        Ok(())
    }
}
