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
use std::fmt;

use switchyard_protocol::WorkerId;

use super::queuekey::QueueKey;
use super::tagkey::{TagKey, encode_into};

/// The id of an interned tag set: its slot in [`TagSets`]. Valid while the
/// set is live; the slot of a forgotten set is reused by the next new one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub(super) struct TagSetId(u32);

impl TagSetId {
    /// The id of slot `index`. Tag sets are bounded by the queued tasks and
    /// registered workers held in memory, far below `u32::MAX`.
    fn from_index(index: usize) -> Self {
        match u32::try_from(index) {
            Ok(id) => Self(id),
            Err(_) => panic!("more than {} tag sets", u32::MAX),
        }
    }

    /// The slot.
    fn index(self) -> usize {
        self.0 as usize
    }
}

impl fmt::Display for TagSetId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
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
    pub(super) unheld: BTreeSet<QueueKey>,
    /// Active (registered, not draining) workers whose tags are exactly this set.
    pub(super) members: BTreeSet<WorkerId>,
    /// Active workers whose tags contain this set, sorted by id.
    pub(super) candidates: Vec<WorkerId>,
    /// Live sets contained in this one, itself included, in the order they
    /// were interned (deterministic for a given sequence of operations).
    pub(super) subsets: Vec<TagSetId>,
    /// Live sets containing this one, itself included.
    pub(super) supersets: Vec<TagSetId>,
    /// The load index (Balanced mode): the candidates by (load, id), so the
    /// least loaded candidate is found in O(log n) instead of by scanning
    /// them all.
    pub(super) load_index: BTreeSet<(usize, WorkerId)>,
    /// The steal index (Balanced mode): workers holding tasks of this set,
    /// by how many they hold (ties: lowest worker id last), so stealing
    /// finds the longest queue in O(log n). Kept only while the set has two
    /// or more candidates: with one, that worker holds all its tasks and
    /// there is nobody to steal them, so tasks pinned to one worker skip the
    /// upkeep.
    pub(super) steal_index: BTreeSet<(usize, Reverse<WorkerId>)>,
}

/// What [`TagSets::activate`] changed.
#[derive(Debug, Default)]
pub(super) struct Activated {
    /// Subsets that had no candidate before.
    pub(super) newly_served: Vec<TagSetId>,
    /// Subsets that now have two candidates: their steal index starts now
    /// and must be filled from the two workers' queues.
    pub(super) newly_shared: Vec<TagSetId>,
}

/// The interning table.
#[derive(Debug, Default)]
pub(super) struct TagSets {
    /// Whether the load indexes are maintained (Balanced mode).
    track_loads: bool,
    sets: Vec<TagSet>,
    free: Vec<TagSetId>,
    /// Live sets by their encoded tags (see [`TagKey`]), for lookups. Tags
    /// come from users, so this map keeps std's keyed hash, whose iteration
    /// order differs from one map to the next: never iterate it.
    index: HashMap<TagKey, TagSetId>,
    /// Live sets in id order, for iteration: what an operation does never
    /// depends on hashing, so two dispatchers fed the same operations place
    /// and rebalance alike. Changes only when a set is interned or forgotten.
    live: BTreeSet<TagSetId>,
    /// Reused buffer for encoding the tags being looked up.
    scratch: Vec<u8>,
}

impl TagSets {
    /// An empty table; `track_loads` keeps the load indexes (Balanced).
    pub(super) fn new(track_loads: bool) -> Self {
        Self {
            track_loads,
            ..Self::default()
        }
    }

    /// The set `id`. Ids handed out by [`TagSets::acquire`] stay valid until
    /// their last reference is released.
    pub(super) fn get(&self, id: TagSetId) -> &TagSet {
        &self.sets[id.index()]
    }

    fn get_mut(&mut self, id: TagSetId) -> &mut TagSet {
        &mut self.sets[id.index()]
    }

    /// Ids of all live sets, ascending.
    pub(super) fn live(&self) -> impl Iterator<Item = TagSetId> + '_ {
        self.live.iter().copied()
    }

    /// References held on `id`.
    pub(super) fn refs(&self, id: TagSetId) -> usize {
        self.get(id).refs
    }

    /// Takes a reference on the set of these (normalised) tags, interning it
    /// if new: O(1) for a known set, O(sets × tags + candidates) for a new one.
    pub(super) fn acquire(&mut self, tags: &[String]) -> TagSetId {
        self.scratch.clear();
        encode_into(tags, &mut self.scratch);
        if let Some(&id) = self.index.get(self.scratch.as_slice()) {
            self.get_mut(id).refs += 1;
            return id;
        }
        let id = match self.free.pop() {
            Some(id) => id,
            None => {
                self.sets.push(TagSet::default());
                TagSetId::from_index(self.sets.len() - 1)
            }
        };
        let mut set = TagSet {
            tags: tags.to_vec(),
            refs: 1,
            subsets: vec![id],
            supersets: vec![id],
            ..TagSet::default()
        };
        for &other in &self.live {
            let other_set = &mut self.sets[other.index()];
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
            .flat_map(|&s| self.get(s).members.iter().copied())
            .collect();
        candidates.sort_unstable();
        candidates.dedup();
        set.candidates = candidates;
        if self.track_loads {
            // Every candidate of the new set is a candidate of each of its
            // live supersets, whose load indexes carry its current load.
            set.load_index = set
                .supersets
                .iter()
                .filter(|&&s| s != id)
                .flat_map(|&s| self.get(s).load_index.iter().copied())
                .collect();
        }
        self.index.insert(TagKey::new(&self.scratch), id);
        self.live.insert(id);
        *self.get_mut(id) = set;
        id
    }

    /// Drops a reference; the last one forgets the set.
    pub(super) fn release(&mut self, id: TagSetId) {
        let set = self.get_mut(id);
        set.refs = set.refs.saturating_sub(1);
        if set.refs > 0 {
            return;
        }
        let set = std::mem::take(set);
        for &sub in &set.subsets {
            self.get_mut(sub).supersets.retain(|&s| s != id);
        }
        for &sup in &set.supersets {
            self.get_mut(sup).subsets.retain(|&s| s != id);
        }
        self.scratch.clear();
        encode_into(&set.tags, &mut self.scratch);
        self.index.remove(self.scratch.as_slice());
        self.live.remove(&id);
        self.free.push(id);
    }

    /// Makes `worker` (whose tags are exactly `id`, with `load`) an active
    /// candidate of every subset.
    pub(super) fn activate(&mut self, id: TagSetId, worker: WorkerId, load: usize) -> Activated {
        self.get_mut(id).members.insert(worker);
        let mut activated = Activated::default();
        for i in 0..self.get(id).subsets.len() {
            let sub_id = self.get(id).subsets[i];
            let sub = &mut self.sets[sub_id.index()];
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
                sub.load_index.insert((load, worker));
            }
        }
        activated
    }

    /// Undoes [`TagSets::activate`]; `load` is the worker's current load.
    /// A subset left with one candidate drops its steal index.
    pub(super) fn deactivate(&mut self, id: TagSetId, worker: WorkerId, load: usize) {
        self.get_mut(id).members.remove(&worker);
        for i in 0..self.get(id).subsets.len() {
            let sub_id = self.get(id).subsets[i];
            let sub = self.get_mut(sub_id);
            if let Ok(pos) = sub.candidates.binary_search(&worker) {
                sub.candidates.remove(pos);
            }
            sub.load_index.remove(&(load, worker));
            if sub.candidates.len() < 2 {
                sub.steal_index.clear();
            }
        }
    }

    /// Balanced mode: an active worker whose tags are exactly `id` went from
    /// load `old` to `new`; re-files it in the load index of every subset.
    /// O(subsets × log n).
    pub(super) fn move_in_load_index(
        &mut self,
        id: TagSetId,
        worker: WorkerId,
        old: usize,
        new: usize,
    ) {
        let count = self.get(id).subsets.len();
        for i in 0..count {
            // A set is its own subset; when it is the only one, skip reading
            // the list (one cache miss on every load change).
            let sub = if count == 1 {
                id
            } else {
                self.get(id).subsets[i]
            };
            let load_index = &mut self.get_mut(sub).load_index;
            load_index.remove(&(old, worker));
            load_index.insert((new, worker));
        }
    }

    /// Counts a new queued task requiring exactly `id`.
    pub(super) fn add_task(&mut self, id: TagSetId) {
        self.get_mut(id).queued += 1;
    }

    /// Uncounts a queued task requiring exactly `id`.
    pub(super) fn remove_task(&mut self, id: TagSetId) {
        let set = self.get_mut(id);
        set.queued = set.queued.saturating_sub(1);
    }

    /// A queued task of set `id` is now held by no queue.
    pub(super) fn mark_unheld(&mut self, id: TagSetId, key: QueueKey) {
        self.get_mut(id).unheld.insert(key);
    }

    /// A queued task of set `id` is held by a queue again, or is gone.
    pub(super) fn clear_unheld(&mut self, id: TagSetId, key: &QueueKey) {
        let unheld = &mut self.get_mut(id).unheld;
        if !unheld.is_empty() {
            unheld.remove(key);
        }
    }

    /// Balanced mode: `worker` now holds `new` tasks of set `id` (was `old`);
    /// re-files it in the set's steal index. Ignored while the set has fewer
    /// than two candidates (see [`TagSet::steal_index`]).
    pub(super) fn move_in_steal_index(
        &mut self,
        id: TagSetId,
        worker: WorkerId,
        old: usize,
        new: usize,
    ) {
        let set = self.get_mut(id);
        if set.candidates.len() < 2 {
            return;
        }
        let steal_index = &mut set.steal_index;
        if old > 0 {
            steal_index.remove(&(old, Reverse(worker)));
        }
        if new > 0 {
            steal_index.insert((new, Reverse(worker)));
        }
    }

    /// Consistency of the index itself, for [`super::TaskDispatcher::check_invariants`].
    pub(super) fn check(&self) -> Result<(), String> {
        if self.index.len() != self.live.len() {
            return Err(format!(
                "{} sets indexed by tags, {} listed live",
                self.index.len(),
                self.live.len()
            ));
        }
        for &id in &self.live {
            let set = self.get(id);
            let tags = &set.tags;
            let mut encoded = Vec::new();
            encode_into(tags, &mut encoded);
            if self.index.get(encoded.as_slice()) != Some(&id) || set.refs == 0 {
                return Err(format!("tag set {id} {tags:?} is not live"));
            }
            for &other in &self.live {
                let other_tags = &self.get(other).tags;
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
                .flat_map(|&s| self.get(s).members.iter().copied())
                .collect();
            expected.sort_unstable();
            expected.dedup();
            let indexed: Vec<WorkerId> = set.load_index.iter().map(|&(_, w)| w).collect();
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
        let live = self.live.len() + self.free.len();
        if live != self.sets.len() {
            return Err(format!("{} slots, {live} live or free", self.sets.len()));
        }
        Ok(())
    }
}
