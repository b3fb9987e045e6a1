//! The checks run against the model: after every step, around every fetch
//! and after every rebalance.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use switchyard_protocol::{TaskId, WorkerId};

use super::model::Model;
use crate::dispatcher::DispatchMode;

impl Model {
    /// Everything the dispatcher says agrees with the model.
    pub(super) fn check(&self) -> Result<(), TestCaseError> {
        if let Err(e) = self.d.check_invariants() {
            return Err(TestCaseError::fail(format!("internal invariant: {e}")));
        }
        let expected = self.expected_queued();
        prop_assert_eq!(self.d.queued_total(), expected.len(), "queued total");
        let mut queue_lens = BTreeMap::<WorkerId, usize>::new();
        let mut unplaced = 0;
        for &id in &expected {
            prop_assert!(self.d.is_queued(id), "{} should be queued", id);
            let candidates = self.candidates(id);
            let holders: BTreeSet<WorkerId> = self.d.holders(id).into_iter().collect();
            // Invariant 2: only candidates hold it.
            prop_assert!(
                holders.is_subset(&candidates),
                "{}: {:?} ⊄ {:?}",
                id,
                holders,
                candidates
            );
            // Invariant 1: Fanout in every candidate's queue; Balanced in exactly one.
            match self.mode {
                DispatchMode::Fanout => prop_assert_eq!(&holders, &candidates, "fanout holders"),
                DispatchMode::Balanced => prop_assert_eq!(
                    holders.len(),
                    usize::from(!candidates.is_empty()),
                    "balanced holders of {}",
                    id
                ),
            }
            prop_assert_eq!(self.d.has_candidate(id), !candidates.is_empty());
            unplaced += usize::from(holders.is_empty());
            for h in holders {
                *queue_lens.entry(h).or_default() += 1;
            }
        }
        for id in self.tasks.keys().filter(|id| !expected.contains(id)) {
            prop_assert!(!self.d.is_queued(*id), "{} should not be queued", id);
        }
        for &id in &self.workers.keys().copied().collect::<Vec<_>>() {
            let held = queue_lens.get(&id).copied().unwrap_or(0);
            prop_assert_eq!(self.d.queue_len(id), held, "queue length of {}", id);
            prop_assert_eq!(self.d.running_len(id), self.busy(id), "busy of {}", id);
        }
        let snapshot = self.d.snapshot();
        prop_assert_eq!(snapshot.unplaced, unplaced);
        prop_assert_eq!(snapshot.workers.len(), self.workers.len());
        self.check_positions()
    }

    /// Queue position: the least index of the task in its holders' queues
    /// (rank, then id), `None` without a holder; capped, at most the cap.
    fn check_positions(&self) -> Result<(), TestCaseError> {
        let mut queues = BTreeMap::<WorkerId, Vec<(Reverse<i64>, TaskId)>>::new();
        for id in self.expected_queued() {
            for h in self.d.holders(id) {
                let rank = Reverse(self.tasks[&id].rank);
                queues.entry(h).or_default().push((rank, id));
            }
        }
        for queue in queues.values_mut() {
            queue.sort_unstable();
        }
        for id in self.tasks.keys().copied().chain([TaskId(0)]) {
            let expected = self
                .d
                .holders(id)
                .iter()
                .filter_map(|h| queues.get(h)?.iter().position(|&(_, q)| q == id))
                .min();
            prop_assert_eq!(self.d.position(id), expected, "position of {}", id);
            for cap in [0, 1, 2] {
                prop_assert_eq!(
                    self.d.position_capped(id, cap),
                    expected.map(|p| p.min(cap)),
                    "position of {} capped at {}",
                    id,
                    cap
                );
            }
        }
        Ok(())
    }

    /// The worker's own queue, in pop order.
    fn own_queue(&self, worker: WorkerId) -> Vec<TaskId> {
        let mut own: Vec<(Reverse<i64>, TaskId)> = self
            .expected_queued()
            .into_iter()
            .filter(|&id| self.d.holders(id).contains(&worker))
            .map(|id| (Reverse(self.tasks[&id].rank), id))
            .collect();
        own.sort();
        own.into_iter().map(|(_, id)| id).collect()
    }

    /// Fetches for `worker`, checking order, slots, candidacy and stealing;
    /// settles stale tasks the way the database would (refused: abandon).
    pub(super) fn fetch(&mut self, worker: WorkerId, max: usize) -> Result<(), TestCaseError> {
        let own = self.own_queue(worker);
        let busy = self.busy(worker);
        let can_take = match self.workers.get(&worker) {
            Some(w) if !w.draining => max.min((w.slots as usize).saturating_sub(busy)),
            _ => 0,
        };
        let got = self.d.fetch(worker, max);
        prop_assert!(
            got.len() <= can_take,
            "{} got {:?}, may take {}",
            worker,
            got,
            can_take
        );
        // Priority order: its own queue first, best first.
        let from_own = own.len().min(got.len());
        prop_assert_eq!(&got[..from_own], &own[..from_own], "pop order");
        let expected = self.expected_queued();
        for &id in &got {
            // Invariant 3: never a task in flight or running already.
            prop_assert!(expected.contains(&id), "fetched {} was not queued", id);
            prop_assert!(
                self.candidates(id).contains(&worker),
                "{} is no candidate",
                worker
            );
        }
        for &id in &got {
            if self.stale.remove(&id) {
                self.d.abandon(worker, &[id]);
                self.tasks.remove(&id);
            } else {
                self.in_flight.insert(id, (worker, false));
            }
        }
        // Invariant 6: short of work only when nothing it matches waits.
        if got.len() < can_take {
            let waiting: Vec<TaskId> = self
                .expected_queued()
                .into_iter()
                .filter(|&id| self.candidates(id).contains(&worker))
                .collect();
            prop_assert!(
                waiting.is_empty(),
                "{} idle while {:?} wait",
                worker,
                waiting
            );
        }
        if let Some(w) = self.workers.get(&worker) {
            let bound = (w.slots as usize).max(busy);
            prop_assert!(
                self.d.running_len(worker) <= bound,
                "slot bound of {}",
                worker
            );
        }
        Ok(())
    }

    /// Woken workers are registered and hold something.
    pub(super) fn check_woken(&self, woken: &[WorkerId]) -> Result<(), TestCaseError> {
        let sorted: BTreeSet<WorkerId> = woken.iter().copied().collect();
        prop_assert_eq!(sorted.len(), woken.len(), "woken has duplicates");
        for &w in woken {
            prop_assert!(self.workers.contains_key(&w), "woke unknown {}", w);
            prop_assert!(self.d.queue_len(w) > 0, "woke {} with an empty queue", w);
        }
        Ok(())
    }

    /// Rebalance, then: no queued task could move to a candidate whose load
    /// is 2 or more below its holder's.
    pub(super) fn rebalance(&mut self) -> Result<(), TestCaseError> {
        let result = self.d.rebalance();
        if self.mode == DispatchMode::Fanout {
            prop_assert_eq!(result.moved, 0);
            return Ok(());
        }
        self.check_woken(&result.woken)?;
        let load = |w: WorkerId| self.d.queue_len(w) + self.d.running_len(w);
        for id in self.expected_queued() {
            for holder in self.d.holders(id) {
                for c in self.candidates(id) {
                    prop_assert!(
                        load(c) + 1 >= load(holder),
                        "{} could move from {} ({}) to {} ({})",
                        id,
                        holder,
                        load(holder),
                        c,
                        load(c)
                    );
                }
            }
        }
        Ok(())
    }
}
