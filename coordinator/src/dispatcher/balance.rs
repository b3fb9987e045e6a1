//! Rebalancing (Balanced mode): moving queued tasks from overloaded workers
//! to underloaded candidates, e.g. after new workers joined a busy fleet.

use std::collections::BTreeSet;

use switchyard_protocol::WorkerId;

use super::tagsets::TagSetId;
use super::{Rebalanced, TaskDispatcher, wake_list};

impl TaskDispatcher {
    /// Balanced mode: moves queued tasks from overloaded to underloaded
    /// candidates until no task could move to a candidate whose load is at
    /// least 2 lower than its holder's (load: queued, running and in-flight
    /// tasks). Each move takes the holder's best task of a tag set, so the
    /// earliest work spreads first. Fanout: no-op (every candidate already
    /// holds every task).
    ///
    /// Works per tag set with two ordered sets of (load, worker): every move
    /// is O(log candidates + log n). Moves strictly decrease the sum of
    /// squared loads, so it terminates; passes repeat while a pass moved
    /// anything, because tag sets share workers.
    pub fn rebalance(&mut self) -> Rebalanced {
        let mut result = Rebalanced::default();
        if !self.balanced() {
            return result;
        }
        loop {
            // Live sets in id order (invariant 8): moves in one set change
            // the loads the next one sees.
            let sets: Vec<TagSetId> = self
                .sets
                .live()
                .filter(|&s| {
                    let set = self.sets.get(s);
                    set.queued > 0 && set.candidates.len() > 1
                })
                .collect();
            let before = result.moved;
            for set in sets {
                self.rebalance_set(set, &mut result);
            }
            if result.moved == before {
                break;
            }
        }
        // A later pass may move a task on again, leaving a worker that
        // received one with an empty queue: only wake those that hold work.
        let mut woken = wake_list(std::mem::take(&mut result.woken));
        woken.retain(|&w| self.queue_len(w) > 0);
        result.woken = woken;
        result
    }

    /// One tag set: while its most loaded holder is 2 or more above its
    /// least loaded candidate, move the holder's best task of the set there.
    fn rebalance_set(&mut self, set: TagSetId, result: &mut Rebalanced) {
        let mut loads: BTreeSet<(usize, WorkerId)> = BTreeSet::new();
        let mut holding: BTreeSet<(usize, WorkerId)> = BTreeSet::new();
        for &c in &self.sets.get(set).candidates {
            if let Some(w) = self.workers.get(&c) {
                loads.insert((w.load(), c));
                if w.queue.sub_len(set) > 0 {
                    holding.insert((w.load(), c));
                }
            }
        }
        while let (Some(&(high, from)), Some(&(low, to))) = (holding.last(), loads.first()) {
            if high < low + 2 {
                break;
            }
            let Some(id) = self
                .workers
                .get(&from)
                .and_then(|w| w.queue.sub_first(set))
                .map(|key| key.task())
            else {
                break;
            };
            if !self.unhold(id, from) {
                break;
            }
            if !self.hold(id, to) {
                self.hold(id, from);
                break;
            }
            result.moved += 1;
            result.woken.push(to);
            loads.remove(&(high, from));
            loads.remove(&(low, to));
            loads.insert((high - 1, from));
            loads.insert((low + 1, to));
            holding.remove(&(high, from));
            if self
                .workers
                .get(&from)
                .is_some_and(|w| w.queue.sub_len(set) > 0)
            {
                holding.insert((high - 1, from));
            }
            holding.remove(&(low, to));
            holding.insert((low + 1, to));
        }
    }
}
