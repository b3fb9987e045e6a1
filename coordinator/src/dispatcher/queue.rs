//! One worker's queue, split by the tag set its tasks require.
//!
//! Splitting by tag set is what makes the tag-aware operations cheap: a worker
//! that loses a tag drops whole sub-queues, and a thief finds the best task it
//! can take from a victim by looking at the heads of the victim's sub-queues
//! for the tag sets it matches, instead of scanning the victim's queue.

use switchyard_protocol::TaskId;

use super::queuekey::QueueKey;
use super::subqueue::SubQueue;
use super::tagsets::TagSetId;

/// Priority queue of (rank, task) keys, one ordered set per tag set.
#[derive(Debug, Default)]
pub(super) struct WorkerQueue {
    /// Non-empty sub-queues by tag set, sorted by set. A worker usually
    /// holds tasks of one or a few tag sets, so a vector sized to fit beats
    /// a map: it is found in one short scan and costs little memory per
    /// worker.
    subs: Vec<(TagSetId, SubQueue)>,
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

    /// Where the sub-queue of `set` is, or would go.
    fn find(&self, set: TagSetId) -> Result<usize, usize> {
        self.subs.binary_search_by_key(&set, |&(s, _)| s)
    }

    /// The sub-queue of `set`, if it holds anything.
    fn sub(&self, set: TagSetId) -> Option<&SubQueue> {
        self.find(set).ok().map(|i| &self.subs[i].1)
    }

    /// Adds a task; returns the new length of its sub-queue, or `None` if it
    /// was already there. O(1) for a task that sorts last, else O(log n);
    /// plus O(tag sets held) when its tag set is new here.
    pub(super) fn insert(&mut self, set: TagSetId, key: QueueKey) -> Option<usize> {
        let i = match self.find(set) {
            Ok(i) => i,
            Err(i) => {
                if self.subs.is_empty() {
                    // Most workers only ever hold one tag set.
                    self.subs.reserve_exact(1);
                }
                self.subs.insert(i, (set, SubQueue::default()));
                i
            }
        };
        let sub = &mut self.subs[i].1;
        if !sub.insert(key) {
            return None;
        }
        self.len += 1;
        Some(sub.len())
    }

    /// Removes a task; returns the new length of its sub-queue, or `None` if
    /// it was not there. O(1) for the best task, else O(log n).
    pub(super) fn remove(&mut self, set: TagSetId, key: &QueueKey) -> Option<usize> {
        let i = self.find(set).ok()?;
        let sub = &mut self.subs[i].1;
        if !sub.remove(key) {
            return None;
        }
        self.len -= 1;
        let left = sub.len();
        if left == 0 {
            self.subs.remove(i);
        }
        Some(left)
    }

    /// Removes a whole sub-queue and returns its tasks, best first.
    pub(super) fn take_sub(&mut self, set: TagSetId) -> Vec<QueueKey> {
        let Ok(i) = self.find(set) else {
            return Vec::new();
        };
        let (_, sub) = self.subs.remove(i);
        self.len -= sub.len();
        sub.into_sorted()
    }

    /// Tasks of tag set `set` held.
    pub(super) fn sub_len(&self, set: TagSetId) -> usize {
        self.sub(set).map_or(0, SubQueue::len)
    }

    /// Whether this task is held.
    pub(super) fn contains(&self, set: TagSetId, key: &QueueKey) -> bool {
        self.sub(set).is_some_and(|sub| sub.contains(key))
    }

    /// The tasks of tag set `set`, in no particular order.
    pub(super) fn sub_iter(&self, set: TagSetId) -> impl Iterator<Item = &QueueKey> + '_ {
        self.sub(set).into_iter().flat_map(SubQueue::iter)
    }

    /// The best task of tag set `set`.
    pub(super) fn sub_first(&self, set: TagSetId) -> Option<QueueKey> {
        self.sub(set)?.first()
    }

    /// The tag sets with at least one task here.
    pub(super) fn sets(&self) -> impl Iterator<Item = TagSetId> + '_ {
        self.subs.iter().map(|&(set, _)| set)
    }

    /// The task this worker should run next. O(tag sets held).
    pub(super) fn best(&self) -> Option<QueueKey> {
        self.subs.iter().filter_map(|(_, sub)| sub.first()).min()
    }

    /// How many held tasks pop before `key` (whose rank or id is better),
    /// across every sub-queue, counting at most `cap`: the answer is
    /// `min(exact count, cap)`. O(tag sets held × log n + min(count, cap)).
    pub(super) fn count_before(&self, key: &QueueKey, cap: usize) -> usize {
        let mut count = 0;
        for (_, sub) in &self.subs {
            if count >= cap {
                break;
            }
            count += sub.count_before(key, cap - count);
        }
        count
    }

    /// The first `n` task ids in pop order. O(tag sets held × n log n).
    pub(super) fn first_n(&self, n: usize) -> Vec<TaskId> {
        let mut keys: Vec<QueueKey> = self
            .subs
            .iter()
            .flat_map(|(_, sub)| sub.best_n(n))
            .collect();
        keys.sort_unstable();
        keys.truncate(n);
        keys.into_iter().map(QueueKey::task).collect()
    }

    /// Every (tag set, key) held, for consistency checks.
    pub(super) fn iter(&self) -> impl Iterator<Item = (TagSetId, &QueueKey)> + '_ {
        self.subs
            .iter()
            .flat_map(|(set, sub)| sub.iter().map(move |key| (*set, key)))
    }

    /// Internal consistency of every sub-queue, for consistency checks.
    pub(super) fn check(&self) -> Result<(), String> {
        if !self.subs.is_sorted_by(|(a, _), (b, _)| a < b) {
            return Err("sub-queues out of order".to_owned());
        }
        for (set, sub) in &self.subs {
            if sub.is_empty() {
                return Err(format!("empty sub-queue for tag set {set}"));
            }
            sub.check()
                .map_err(|e| format!("sub-queue for tag set {set}: {e}"))?;
        }
        Ok(())
    }
}
