//! Seeding: rebuilding the dispatcher's queued tasks from the database
//! without losing or duplicating tasks that change while the database is
//! read.
//!
//! The caller takes a [`SeedToken`] with [`TaskDispatcher::begin_seed`],
//! reads every queued task from the database, and hands the snapshot to
//! [`TaskDispatcher::finish_seed`]. In between the dispatcher keeps a
//! journal of what happened, which tells apart "absent from the snapshot
//! because it is gone" from "absent because it arrived after the read", and
//! "in the snapshot but already handed over or removed since".

use std::collections::BTreeMap;

use rustc_hash::FxHashSet;
use switchyard_protocol::{TaskId, WorkerId};

use super::queuekey::QueueKey;
use super::tagsets::normalize;
use super::{QueuedTask, TaskDispatcher, wake_list};

/// Proof of a seed in progress; consumed by [`TaskDispatcher::finish_seed`].
#[derive(Debug)]
#[must_use = "a seed in progress records every operation until finished"]
pub struct SeedToken(u64);

/// What happened since a seed began.
#[derive(Debug)]
pub(super) struct Journal {
    token: u64,
    /// Tasks enqueued (or restored) since: kept even if the snapshot lacks them.
    added: FxHashSet<TaskId>,
    /// Tasks removed, handed over or ended since: not re-added from the snapshot.
    gone: FxHashSet<TaskId>,
}

impl TaskDispatcher {
    /// Starts a seed: from now until [`Self::finish_seed`] every enqueue,
    /// removal and hand-over is recorded. Call it *before* reading the
    /// database. Several seeds may overlap.
    pub fn begin_seed(&mut self) -> SeedToken {
        let token = self.next_seed;
        self.next_seed += 1;
        self.seeds.push(Journal {
            token,
            added: FxHashSet::default(),
            gone: FxHashSet::default(),
        });
        SeedToken(token)
    }

    /// Finishes a seed with `tasks`, every task the database listed as
    /// queued when read after [`Self::begin_seed`]:
    /// - snapshot tasks not known here are added, unless they were removed,
    ///   handed over or ended since the seed began;
    /// - known queued tasks absent from the snapshot are dropped, unless they
    ///   were enqueued since the seed began;
    /// - known tasks are left as they are, so seeding twice duplicates
    ///   nothing.
    ///
    /// A token this dispatcher did not hand out is ignored. Returns the workers to
    /// wake. O(queued + snapshot), placement in bulk per tag set.
    pub fn finish_seed(&mut self, token: SeedToken, tasks: Vec<QueuedTask>) -> Vec<WorkerId> {
        let Some(pos) = self.seeds.iter().position(|j| j.token == token.0) else {
            return Vec::new();
        };
        let journal = self.seeds.swap_remove(pos);
        let listed: FxHashSet<TaskId> = tasks.iter().map(|t| t.id).collect();
        let mut stale: Vec<TaskId> = self
            .queued
            .keys()
            .filter(|id| !listed.contains(id) && !journal.added.contains(id))
            .copied()
            .collect();
        // Dropped in id order, not the map's (invariant 8).
        stale.sort_unstable();
        for id in stale {
            self.drop_queued(id);
            self.journal_gone(id);
        }
        let mut fresh: BTreeMap<_, Vec<TaskId>> = BTreeMap::new();
        let mut best_first = tasks;
        best_first.sort_unstable_by_key(|t| QueueKey::new(t.rank, t.id));
        for task in best_first {
            if journal.gone.contains(&task.id) || self.is_known(task.id) {
                continue;
            }
            let set = self.sets.acquire(&normalize(task.tags));
            self.insert_queued(task.id, task.rank, set);
            self.journal_added(task.id);
            fresh.entry(set).or_default().push(task.id);
        }
        let mut woken = Vec::new();
        for (set, ids) in fresh {
            if self.balanced() {
                woken.extend(self.distribute(set, &ids));
            } else {
                for &id in &ids {
                    self.place(id);
                }
                woken.extend_from_slice(&self.sets.get(set).candidates);
            }
        }
        wake_list(woken)
    }

    /// Abandons a seed (the database could not be read): stops its journal
    /// and changes nothing else.
    pub fn abort_seed(&mut self, token: SeedToken) {
        self.seeds.retain(|j| j.token != token.0);
    }

    /// Records, in every seed in progress, that `id` became queued.
    pub(super) fn journal_added(&mut self, id: TaskId) {
        for journal in &mut self.seeds {
            journal.added.insert(id);
        }
    }

    /// Records, in every seed in progress, that `id` stopped being queued
    /// here (removed, handed over, ended).
    pub(super) fn journal_gone(&mut self, id: TaskId) {
        for journal in &mut self.seeds {
            journal.gone.insert(id);
        }
    }
}
