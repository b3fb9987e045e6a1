//! One worker's queue of the tasks of one tag set: an ordered set of keys,
//! shaped for how queues are used.
//!
//! Tasks mostly arrive in queue order (same priority, growing ids) and leave
//! from the front (fetch, stealing, rebalancing, and in Fanout the other
//! holders of a fetched task, which is their best of that set too). Such
//! keys are kept in `run`, a sorted deque where appending and popping the
//! front cost O(1) and touch a cache line or two, where a B-tree walks and
//! reshapes several nodes. Keys that arrive out of order (a higher priority,
//! a task put back) go to `side`, an ordinary ordered set. A key removed from
//! the middle of `run` (a cancel) is only marked `dead`, in O(log n), and
//! dropped when it reaches an end of `run` or when dead keys outnumber live
//! ones, so no operation shifts more than a bounded part of the deque.

use std::collections::{BTreeSet, VecDeque};

use rustc_hash::FxHashSet;

use super::queuekey::QueueKey;

/// Dead keys are swept out of `run` once they are this many and at least as
/// many as the live keys there.
const SWEEP_AT: usize = 32;

/// The ordered set of keys of one worker's tasks of one tag set.
#[derive(Debug, Default)]
pub(super) struct SubQueue {
    /// Strictly ascending; both ends are live; may hold dead keys inside.
    run: VecDeque<QueueKey>,
    /// Keys of `run` that were removed but not yet swept out.
    dead: FxHashSet<QueueKey>,
    /// Live keys that arrived out of order; disjoint from the live keys of
    /// `run`.
    side: BTreeSet<QueueKey>,
}

impl SubQueue {
    /// Live keys. O(1).
    pub(super) fn len(&self) -> usize {
        self.run.len() - self.dead.len() + self.side.len()
    }

    /// Whether no key is held.
    pub(super) fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The smallest (best) key. O(1) plus `side`'s first.
    pub(super) fn first(&self) -> Option<QueueKey> {
        match (self.run.front(), self.side.first()) {
            (Some(a), Some(b)) => Some(*a.min(b)),
            (a, b) => a.or(b).copied(),
        }
    }

    /// Where `key` sits in `run` if it is there and live.
    fn live_in_run(&self, key: &QueueKey) -> Option<usize> {
        let pos = self.run.binary_search(key).ok()?;
        (!self.dead.contains(key)).then_some(pos)
    }

    /// Whether `key` is held. O(log n).
    pub(super) fn contains(&self, key: &QueueKey) -> bool {
        self.side.contains(key) || self.live_in_run(key).is_some()
    }

    /// Adds `key`; false if it was already held. O(1) when it sorts after
    /// every key of `run` (the usual case) and `side` is empty, else
    /// O(log n).
    pub(super) fn insert(&mut self, key: QueueKey) -> bool {
        if self.run.back().is_none_or(|back| key > *back) {
            if !self.side.is_empty() && self.side.contains(&key) {
                return false;
            }
            self.run.push_back(key);
            return true;
        }
        if self.run.binary_search(&key).is_ok() {
            // Back in place if it was removed meanwhile.
            return self.dead.remove(&key);
        }
        self.side.insert(key)
    }

    /// Removes `key`; false if it was not held. O(1) at either end of
    /// `run`, else O(log n), plus an occasional sweep of dead keys that
    /// costs O(n) once the dead outnumber the live, so O(1) amortised.
    pub(super) fn remove(&mut self, key: &QueueKey) -> bool {
        if !self.side.is_empty() && self.side.remove(key) {
            return true;
        }
        if self.run.front() == Some(key) {
            self.run.pop_front();
            self.trim();
            return true;
        }
        if self.run.back() == Some(key) {
            self.run.pop_back();
            self.trim();
            return true;
        }
        if self.live_in_run(key).is_none() {
            return false;
        }
        self.dead.insert(*key);
        if self.dead.len() >= SWEEP_AT && self.dead.len() * 2 >= self.run.len() {
            let dead = std::mem::take(&mut self.dead);
            self.run.retain(|k| !dead.contains(k));
            self.shrink();
        }
        true
    }

    /// Drops dead keys from both ends of `run`, so its ends stay live.
    fn trim(&mut self) {
        if !self.dead.is_empty() {
            while let Some(front) = self.run.front()
                && self.dead.remove(front)
            {
                self.run.pop_front();
            }
            while let Some(back) = self.run.back()
                && self.dead.remove(back)
            {
                self.run.pop_back();
            }
        }
        self.shrink();
    }

    /// Gives back most of `run`'s memory once it is mostly unused, so a
    /// queue that was once long does not keep its peak allocation.
    fn shrink(&mut self) {
        let cap = self.run.capacity();
        if cap > 64 && self.run.len() < cap / 4 {
            self.run.shrink_to(self.run.len() * 2);
        }
    }

    /// Live keys in no particular order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &QueueKey> + '_ {
        self.run
            .iter()
            .filter(|k| self.dead.is_empty() || !self.dead.contains(k))
            .chain(&self.side)
    }

    /// Live keys, best first. O(n log n).
    pub(super) fn into_sorted(self) -> Vec<QueueKey> {
        let mut keys: Vec<QueueKey> = self.iter().copied().collect();
        keys.sort_unstable();
        keys
    }

    /// The best `n` live keys (or all), best first. O(n log n).
    pub(super) fn best_n(&self, n: usize) -> Vec<QueueKey> {
        let mut keys: Vec<QueueKey> = self
            .run
            .iter()
            .filter(|k| self.dead.is_empty() || !self.dead.contains(k))
            .take(n)
            .chain(self.side.iter().take(n))
            .copied()
            .collect();
        keys.sort_unstable();
        keys.truncate(n);
        keys
    }

    /// How many live keys are smaller than `key`, counting at most `cap`.
    /// O(log n + min(count, cap) + dead keys passed).
    pub(super) fn count_before(&self, key: &QueueKey, cap: usize) -> usize {
        let in_side = self.side.range(..key).take(cap).count();
        let in_run = self
            .run
            .iter()
            .take_while(|k| *k < key)
            .filter(|k| self.dead.is_empty() || !self.dead.contains(k))
            .take(cap - in_side)
            .count();
        in_side + in_run
    }

    /// Internal consistency, for [`super::TaskDispatcher::check_invariants`].
    pub(super) fn check(&self) -> Result<(), String> {
        if !self
            .run
            .iter()
            .zip(self.run.iter().skip(1))
            .all(|(a, b)| a < b)
        {
            return Err("run out of order".to_owned());
        }
        let ends_live = [self.run.front(), self.run.back()]
            .into_iter()
            .flatten()
            .all(|k| !self.dead.contains(k));
        if !ends_live {
            return Err("run ends with a dead key".to_owned());
        }
        if !self.dead.iter().all(|k| self.run.binary_search(k).is_ok()) {
            return Err("dead key outside run".to_owned());
        }
        if self.side.iter().any(|k| self.live_in_run(k).is_some()) {
            return Err("key both in run and in side".to_owned());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use switchyard_protocol::TaskId;

    use super::*;

    fn k(rank: i64, id: i64) -> QueueKey {
        QueueKey::new(rank, TaskId(id))
    }

    /// Random operations against a `BTreeSet`, checking every answer.
    #[test]
    fn behaves_like_an_ordered_set() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move |n: u64| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed % n
        };
        for round in 0..200 {
            let mut q = SubQueue::default();
            let mut model = BTreeSet::new();
            let mut id: u64 = 0;
            let int = |n: u64| i64::try_from(n).unwrap();
            for _ in 0..400 {
                let key = match next(10) {
                    // Mostly in order: same rank, growing ids.
                    0..=5 => {
                        id += 1;
                        k(0, int(id))
                    }
                    _ => k(int(next(3)), int(next(id + 1))),
                };
                match next(if round % 2 == 0 { 4 } else { 6 }) {
                    0 | 1 => assert_eq!(q.insert(key), model.insert(key)),
                    2 => {
                        let best = model.first().copied();
                        assert_eq!(q.first(), best);
                        if let Some(best) = best {
                            assert!(q.remove(&best));
                            model.remove(&best);
                        }
                    }
                    _ => assert_eq!(q.remove(&key), model.remove(&key)),
                }
                assert_eq!(q.len(), model.len());
                assert_eq!(q.contains(&key), model.contains(&key));
                q.check().unwrap();
            }
            let probe = k(0, int(id / 2));
            for cap in [0, 1, 5, usize::MAX] {
                let expected = model.range(..probe).count().min(cap);
                assert_eq!(q.count_before(&probe, cap), expected);
            }
            let best: Vec<QueueKey> = model.iter().take(7).copied().collect();
            assert_eq!(q.best_n(7), best);
            assert_eq!(q.into_sorted(), model.into_iter().collect::<Vec<_>>());
        }
    }
}
