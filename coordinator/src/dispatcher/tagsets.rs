//! Interned tag sets: the index that keeps candidate lookups proportional to
//! the number of distinct tag sets, not to the number of tasks or workers.
//!
//! Every distinct (sorted, deduplicated) tag set used by a live task or a
//! registered worker gets a small id. For each set we keep the live sets that
//! are its subsets and supersets, how many queued tasks require exactly it
//! (and which of them no queue holds), the active workers whose tags are
//! exactly it (`members`) and the active
//! workers whose tags contain it (`candidates`, shared by all its tasks: this
//! is the candidate cache of the design, stored once per tag set instead of
//! once per task).

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};

use switchyard_protocol::{TaskId, WorkerId};

use super::tagkey::{TagKey, encode_into};

/// Index of an interned tag set.
pub(super) type SetId = usize;

/// Queue order: highest rank first, then oldest (lowest id) first. See
/// [`super::QueuedTask::rank`].
pub(super) type Key = (Reverse<i64>, TaskId);

/// The queue key of task `id` with rank `rank`.
pub(super) fn key(rank: i64, id: TaskId) -> Key {
    (Reverse(rank), id)
}

/// Sorts and deduplicates tags, so that equal sets compare equal.
pub(super) fn normalize(mut tags: Vec<String>) -> Vec<String> {
    tags.sort_unstable();
    tags.dedup();
    tags
}

/// Whether sorted `small` ⊆ sorted `big`.
fn is_subset(small: &[String], big: &[String]) -> bool {
    let mut big = big.iter();
    small.iter().all(|tag| big.any(|b| b == tag))
}

/// One interned tag set and what hangs off it.
#[derive(Debug, Default)]
pub(super) struct TagSet {
    /// The tags, sorted and deduplicated.
    pub(super) tags: Vec<String>,
    /// Queued and in-flight tasks requiring this set, plus registered workers
    /// having it; the set is forgotten when this drops to zero.
    refs: usize,
    /// Known queued tasks requiring exactly this set.
    pub(super) queued: usize,
    /// Of those, the ones no queue holds, best first: they wait for a
    /// candidate (or, inside one operation, to be placed). Tasks in queues
    /// are found through the queues, so a task that is placed on arrival,
    /// the usual case, costs no entry here.
    pub(super) unheld: BTreeSet<Key>,
    /// Active (registered, not draining) workers whose tags are exactly this set.
    pub(super) members: BTreeSet<WorkerId>,
    /// Active workers whose tags contain this set, sorted by id.
    pub(super) candidates: Vec<WorkerId>,
    /// Live sets contained in this one, itself included.
    pub(super) subsets: Vec<SetId>,
    /// Live sets containing this one, itself included.
    pub(super) supersets: Vec<SetId>,
    /// Balanced mode: the candidates by (load, id), so the least loaded
    /// candidate is found in O(log n) instead of by scanning them all.
    pub(super) by_load: BTreeSet<(usize, WorkerId)>,
    /// Balanced mode: workers holding tasks of this set, by how many they hold
    /// (ties: lowest worker id last), so stealing finds the longest queue in
    /// O(log n). Kept only while the set has two or more candidates: with
    /// one, that worker holds all its tasks and there is nobody to steal
    /// them, so tasks pinned to one worker skip the upkeep.
    pub(super) by_len: BTreeSet<(usize, Reverse<WorkerId>)>,
}

/// What [`TagSets::activate`] changed.
#[derive(Debug, Default)]
pub(super) struct Activated {
    /// Subsets that had no candidate before.
    pub(super) newly_served: Vec<SetId>,
    /// Subsets that now have two candidates: their stealing index starts
    /// now and must be filled from the two workers' queues.
    pub(super) newly_shared: Vec<SetId>,
}

/// The interning table.
#[derive(Debug, Default)]
pub(super) struct TagSets {
    /// Whether `by_load` is maintained (Balanced mode).
    track_loads: bool,
    sets: Vec<TagSet>,
    free: Vec<SetId>,
    /// Live sets by their encoded tags (see [`TagKey`]). Tags come from
    /// users, so this map keeps std's keyed hash.
    index: HashMap<TagKey, SetId>,
    /// Reused buffer for encoding the tags being looked up.
    scratch: Vec<u8>,
}

impl TagSets {
    /// An empty table; `track_loads` keeps the `by_load` indexes (Balanced).
    pub(super) fn new(track_loads: bool) -> Self {
        Self {
            track_loads,
            ..Self::default()
        }
    }

    /// The set `id`. Ids handed out by [`TagSets::acquire`] stay valid until
    /// their last reference is released.
    pub(super) fn get(&self, id: SetId) -> &TagSet {
        &self.sets[id]
    }

    fn get_mut(&mut self, id: SetId) -> &mut TagSet {
        &mut self.sets[id]
    }

    /// Ids of all live sets.
    pub(super) fn live(&self) -> impl Iterator<Item = SetId> + '_ {
        self.index.values().copied()
    }

    /// References held on `id`.
    pub(super) fn refs(&self, id: SetId) -> usize {
        self.sets[id].refs
    }

    /// Takes a reference on the set of these (normalised) tags, interning it
    /// if new: O(1) for a known set, O(sets × tags + candidates) for a new one.
    pub(super) fn acquire(&mut self, tags: &[String]) -> SetId {
        self.scratch.clear();
        encode_into(tags, &mut self.scratch);
        if let Some(&id) = self.index.get(self.scratch.as_slice()) {
            self.sets[id].refs += 1;
            return id;
        }
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                self.sets.push(TagSet::default());
                self.sets.len() - 1
            }
        };
        let mut set = TagSet {
            tags: tags.to_vec(),
            refs: 1,
            subsets: vec![id],
            supersets: vec![id],
            ..TagSet::default()
        };
        for &other in self.index.values() {
            let other_set = &mut self.sets[other];
            if is_subset(&set.tags, &other_set.tags) {
                set.supersets.push(other);
                other_set.subsets.push(id);
            }
            if is_subset(&other_set.tags, &set.tags) {
                set.subsets.push(other);
                other_set.supersets.push(id);
            }
        }
        let mut candidates: Vec<WorkerId> = set
            .supersets
            .iter()
            .flat_map(|&s| self.sets[s].members.iter().copied())
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        set.candidates = candidates;
        if self.track_loads {
            // Every candidate of the new set is a candidate of each of its
            // live supersets, whose indexes carry its current load.
            set.by_load = set
                .supersets
                .iter()
                .filter(|&&s| s != id)
                .flat_map(|&s| self.sets[s].by_load.iter().copied())
                .collect();
        }
        self.index.insert(TagKey::new(&self.scratch), id);
        self.sets[id] = set;
        id
    }

    /// Drops a reference; the last one forgets the set.
    pub(super) fn release(&mut self, id: SetId) {
        let set = self.get_mut(id);
        set.refs = set.refs.saturating_sub(1);
        if set.refs > 0 {
            return;
        }
        let set = std::mem::take(set);
        for &sub in &set.subsets {
            self.sets[sub].supersets.retain(|&s| s != id);
        }
        for &sup in &set.supersets {
            self.sets[sup].subsets.retain(|&s| s != id);
        }
        self.scratch.clear();
        encode_into(&set.tags, &mut self.scratch);
        self.index.remove(self.scratch.as_slice());
        self.free.push(id);
    }

    /// Makes `worker` (whose tags are exactly `id`, with `load`) an active
    /// candidate of every subset.
    pub(super) fn activate(&mut self, id: SetId, worker: WorkerId, load: usize) -> Activated {
        self.sets[id].members.insert(worker);
        let mut activated = Activated::default();
        for i in 0..self.sets[id].subsets.len() {
            let sub_id = self.sets[id].subsets[i];
            let sub = &mut self.sets[sub_id];
            if sub.candidates.is_empty() {
                activated.newly_served.push(sub_id);
            }
            if let Err(pos) = sub.candidates.binary_search(&worker) {
                sub.candidates.insert(pos, worker);
                if sub.candidates.len() == 2 {
                    activated.newly_shared.push(sub_id);
                }
            }
            if self.track_loads {
                sub.by_load.insert((load, worker));
            }
        }
        activated
    }

    /// Undoes [`TagSets::activate`]; `load` is the worker's current load.
    /// A subset left with one candidate drops its stealing index.
    pub(super) fn deactivate(&mut self, id: SetId, worker: WorkerId, load: usize) {
        self.sets[id].members.remove(&worker);
        for i in 0..self.sets[id].subsets.len() {
            let sub_id = self.sets[id].subsets[i];
            let sub = &mut self.sets[sub_id];
            if let Ok(pos) = sub.candidates.binary_search(&worker) {
                sub.candidates.remove(pos);
            }
            sub.by_load.remove(&(load, worker));
            if sub.candidates.len() < 2 {
                sub.by_len.clear();
            }
        }
    }

    /// Balanced mode: an active worker whose tags are exactly `id` went from
    /// load `old` to `new`. O(subsets × log n).
    pub(super) fn move_load(&mut self, id: SetId, worker: WorkerId, old: usize, new: usize) {
        let count = self.sets[id].subsets.len();
        for i in 0..count {
            // A set is its own subset; when it is the only one, skip reading
            // the list (one cache miss on every load change).
            let sub = if count == 1 {
                id
            } else {
                self.sets[id].subsets[i]
            };
            let by_load = &mut self.sets[sub].by_load;
            by_load.remove(&(old, worker));
            by_load.insert((new, worker));
        }
    }

    /// Counts a new queued task requiring exactly `id`.
    pub(super) fn add_task(&mut self, id: SetId) {
        self.sets[id].queued += 1;
    }

    /// Uncounts a queued task requiring exactly `id`.
    pub(super) fn remove_task(&mut self, id: SetId) {
        let set = &mut self.sets[id];
        set.queued = set.queued.saturating_sub(1);
    }

    /// A queued task of set `id` is now held by no queue.
    pub(super) fn mark_unheld(&mut self, id: SetId, key: Key) {
        self.sets[id].unheld.insert(key);
    }

    /// A queued task of set `id` is held by a queue again, or is gone.
    pub(super) fn clear_unheld(&mut self, id: SetId, key: &Key) {
        let unheld = &mut self.sets[id].unheld;
        if !unheld.is_empty() {
            unheld.remove(key);
        }
    }

    /// Balanced mode: `worker` now holds `new` tasks of set `id` (was `old`).
    /// Ignored while the set has fewer than two candidates (see `by_len`).
    pub(super) fn note_len(&mut self, id: SetId, worker: WorkerId, old: usize, new: usize) {
        let set = &mut self.sets[id];
        if set.candidates.len() < 2 {
            return;
        }
        let by_len = &mut set.by_len;
        if old > 0 {
            by_len.remove(&(old, Reverse(worker)));
        }
        if new > 0 {
            by_len.insert((new, Reverse(worker)));
        }
    }

    /// Consistency of the index itself, for [`super::TaskDispatcher::check_invariants`].
    pub(super) fn check(&self) -> Result<(), String> {
        for (key, &id) in &self.index {
            let set = &self.sets[id];
            let tags = &set.tags;
            let mut encoded = Vec::new();
            encode_into(tags, &mut encoded);
            if key.as_bytes() != encoded || set.refs == 0 {
                return Err(format!("tag set {id} {tags:?} is not live"));
            }
            for &other in self.index.values() {
                let other_tags = &self.sets[other].tags;
                let sub = is_subset(other_tags, tags);
                if sub != set.subsets.contains(&other) {
                    return Err(format!(
                        "subset list of {tags:?} wrong about {other_tags:?}"
                    ));
                }
                let sup = is_subset(tags, other_tags);
                if sup != set.supersets.contains(&other) {
                    return Err(format!(
                        "superset list of {tags:?} wrong about {other_tags:?}"
                    ));
                }
            }
            if set.subsets.len() != set.subsets.iter().collect::<BTreeSet<_>>().len() {
                return Err(format!("subset list of {tags:?} has duplicates"));
            }
            let mut expected: Vec<WorkerId> = set
                .supersets
                .iter()
                .flat_map(|&s| self.sets[s].members.iter().copied())
                .collect();
            expected.sort_unstable();
            expected.dedup();
            let indexed: Vec<WorkerId> = set.by_load.iter().map(|&(_, w)| w).collect();
            let mut indexed_sorted = indexed.clone();
            indexed_sorted.sort_unstable();
            if self.track_loads && indexed_sorted != expected {
                return Err(format!("load index of {tags:?} lists {indexed:?}"));
            }
            if expected != set.candidates {
                return Err(format!(
                    "candidates of {tags:?}: cached {:?}, expected {expected:?}",
                    set.candidates
                ));
            }
        }
        let live = self.index.len() + self.free.len();
        if live != self.sets.len() {
            return Err(format!("{} slots, {live} live or free", self.sets.len()));
        }
        Ok(())
    }
}
