//! One worker's queue, split by the tag set its tasks require.
//!
//! Splitting by tag set is what makes the tag-aware operations cheap: a worker
//! that loses a tag drops whole sub-queues, and a thief finds the best task it
//! can take from a victim by looking at the heads of the victim's sub-queues
//! for the tag sets it matches, instead of scanning the victim's queue.

use std::collections::{BTreeMap, BTreeSet};

use switchyard_protocol::TaskId;

use super::tagsets::{Key, SetId};

/// Priority queue of (rank, task) keys, one ordered set per tag set.
#[derive(Debug, Default)]
pub(super) struct WorkerQueue {
    subs: BTreeMap<SetId, BTreeSet<Key>>,
    len: usize,
}

impl WorkerQueue {
    /// Tasks held.
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// Whether no task is held.
    pub(super) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Adds a task; returns the new length of its sub-queue, or `None` if it
    /// was already there. O(log n).
    pub(super) fn insert(&mut self, set: SetId, key: Key) -> Option<usize> {
        let sub = self.subs.entry(set).or_default();
        if !sub.insert(key) {
            return None;
        }
        self.len += 1;
        Some(sub.len())
    }

    /// Removes a task; returns the new length of its sub-queue, or `None` if
    /// it was not there. O(log n).
    pub(super) fn remove(&mut self, set: SetId, key: &Key) -> Option<usize> {
        let sub = self.subs.get_mut(&set)?;
        if !sub.remove(key) {
            return None;
        }
        self.len -= 1;
        let left = sub.len();
        if left == 0 {
            self.subs.remove(&set);
        }
        Some(left)
    }

    /// Removes and returns a whole sub-queue, best first.
    pub(super) fn take_sub(&mut self, set: SetId) -> BTreeSet<Key> {
        let sub = self.subs.remove(&set).unwrap_or_default();
        self.len -= sub.len();
        sub
    }

    /// Tasks of tag set `set` held.
    pub(super) fn sub_len(&self, set: SetId) -> usize {
        self.subs.get(&set).map_or(0, BTreeSet::len)
    }

    /// Whether this task is held.
    pub(super) fn contains(&self, set: SetId, key: &Key) -> bool {
        self.subs.get(&set).is_some_and(|sub| sub.contains(key))
    }

    /// The best task of tag set `set`.
    pub(super) fn sub_first(&self, set: SetId) -> Option<Key> {
        self.subs.get(&set)?.first().copied()
    }

    /// The tag sets with at least one task here.
    pub(super) fn sets(&self) -> impl Iterator<Item = SetId> + '_ {
        self.subs.keys().copied()
    }

    /// The task this worker should run next. O(tag sets held).
    pub(super) fn best(&self) -> Option<Key> {
        self.subs
            .values()
            .filter_map(|sub| sub.first())
            .min()
            .copied()
    }

    /// How many held tasks pop before `key` (whose rank or id is better),
    /// across every sub-queue, counting at most `cap`: the answer is
    /// `min(exact count, cap)`. O(tag sets held × log n + min(count, cap)).
    pub(super) fn count_before(&self, key: &Key, cap: usize) -> usize {
        let mut count = 0;
        for sub in self.subs.values() {
            if count >= cap {
                break;
            }
            count += sub.range(..key).take(cap - count).count();
        }
        count
    }

    /// The first `n` task ids in pop order. O(tag sets held × n).
    pub(super) fn first_n(&self, n: usize) -> Vec<TaskId> {
        let mut keys: Vec<Key> = self
            .subs
            .values()
            .flat_map(|sub| sub.iter().take(n).copied())
            .collect();
        keys.sort_unstable();
        keys.truncate(n);
        keys.into_iter().map(|(_, id)| id).collect()
    }

    /// Every (tag set, key) held, for consistency checks.
    pub(super) fn iter(&self) -> impl Iterator<Item = (SetId, &Key)> + '_ {
        self.subs
            .iter()
            .flat_map(|(&set, sub)| sub.iter().map(move |key| (set, key)))
    }
}
