//! The reference model: what the database holds and what the fleet looks
//! like, plus the operations applied to both it and the dispatcher.

use std::collections::{BTreeMap, BTreeSet};

use proptest::prelude::*;
use switchyard_protocol::{TaskId, WorkerId};

use super::Op;
use crate::dispatcher::{
    BalanceStrategy, DispatchMode, QueuedTask, SeedToken, TaskDispatcher, WorkerSpec,
};

const TAG_NAMES: [&str; 3] = ["a", "b", "c"];

/// Aging: one priority level per minute waited.
pub(super) const AGING_STEP_MS: u32 = 60_000;

/// Aging: when the first task is submitted, in ms since the epoch.
const EPOCH_MS: i64 = 1_700_000_000_000;

/// A worker index past the registered ones names this never-seen worker.
pub(super) const UNKNOWN_WORKER: WorkerId = WorkerId(999);

/// A task as submitted (raw tags: unsorted, maybe repeated).
#[derive(Clone, Debug)]
pub(super) struct TaskModel {
    pub(super) tags: Vec<String>,
    /// What the service would pass as [`QueuedTask::rank`].
    pub(super) rank: i64,
}

#[derive(Clone, Debug)]
pub(super) struct WorkerModel {
    pub(super) tags: BTreeSet<String>,
    pub(super) slots: u32,
    pub(super) draining: bool,
}

#[derive(Debug)]
struct SeedModel {
    token: SeedToken,
    read: Option<Vec<QueuedTask>>,
    /// Tasks enqueued or restored since the seed began.
    added: BTreeSet<TaskId>,
}

/// The database and fleet, and the dispatcher under test.
#[derive(Debug)]
pub(super) struct Model {
    pub(super) d: TaskDispatcher,
    pub(super) mode: DispatchMode,
    strategy: BalanceStrategy,
    /// Whether ranks have the priority-aging shape.
    aging: bool,
    /// The submit clock, in ms since the epoch.
    clock_ms: i64,
    /// Every live task (not finished, not cancelled), and stale ones.
    pub(super) tasks: BTreeMap<TaskId, TaskModel>,
    /// Tasks the database lists as queued (in-flight ones included: the
    /// database has not handed them over yet).
    pub(super) db_queued: BTreeSet<TaskId>,
    /// Queued in the database, unknown to the dispatcher.
    pub(super) hidden: BTreeSet<TaskId>,
    /// Known queued by the dispatcher, cancelled in the database.
    pub(super) stale: BTreeSet<TaskId>,
    /// In flight: worker, and whether cancelled meanwhile.
    pub(super) in_flight: BTreeMap<TaskId, (WorkerId, bool)>,
    pub(super) running: BTreeMap<TaskId, WorkerId>,
    pub(super) workers: BTreeMap<WorkerId, WorkerModel>,
    /// Every worker id ever registered, in order.
    ever: Vec<WorkerId>,
    next_task: i64,
    seed: Option<SeedModel>,
}

fn tag_names(tags: &[u8]) -> Vec<String> {
    tags.iter()
        .map(|&t| TAG_NAMES[usize::from(t) % TAG_NAMES.len()].to_owned())
        .collect()
}

fn pick<T: Copy>(items: impl IntoIterator<Item = T>, index: u8) -> Option<T> {
    let items: Vec<T> = items.into_iter().collect();
    if items.is_empty() {
        return None;
    }
    items.get(usize::from(index) % items.len()).copied()
}

impl Model {
    pub(super) fn new(mode: DispatchMode, strategy: BalanceStrategy, aging: bool) -> Self {
        Self {
            d: TaskDispatcher::new(mode, strategy),
            mode,
            strategy,
            aging,
            clock_ms: EPOCH_MS,
            tasks: BTreeMap::new(),
            db_queued: BTreeSet::new(),
            hidden: BTreeSet::new(),
            stale: BTreeSet::new(),
            in_flight: BTreeMap::new(),
            running: BTreeMap::new(),
            workers: BTreeMap::new(),
            ever: Vec::new(),
            next_task: 1,
            seed: None,
        }
    }

    /// Tasks the dispatcher should know as queued.
    pub(super) fn expected_queued(&self) -> BTreeSet<TaskId> {
        self.db_queued
            .iter()
            .filter(|id| !self.hidden.contains(id) && !self.in_flight.contains_key(id))
            .chain(&self.stale)
            .copied()
            .collect()
    }

    /// Active workers whose tags contain every tag of `task`.
    pub(super) fn candidates(&self, task: TaskId) -> BTreeSet<WorkerId> {
        let Some(t) = self.tasks.get(&task) else {
            return BTreeSet::new();
        };
        self.workers
            .iter()
            .filter(|(_, w)| !w.draining && t.tags.iter().all(|tag| w.tags.contains(tag)))
            .map(|(&id, _)| id)
            .collect()
    }

    pub(super) fn busy(&self, worker: WorkerId) -> usize {
        self.running.values().filter(|&&w| w == worker).count()
            + self
                .in_flight
                .values()
                .filter(|&&(w, _)| w == worker)
                .count()
    }

    fn worker(&self, index: u8) -> WorkerId {
        let i = usize::from(index) % (self.ever.len() + 1);
        self.ever.get(i).copied().unwrap_or(UNKNOWN_WORKER)
    }

    fn queued_task(&self, id: TaskId) -> QueuedTask {
        let t = &self.tasks[&id];
        QueuedTask {
            id,
            rank: t.rank,
            tags: t.tags.clone(),
        }
    }

    /// Enqueues `id` (queued in the database) and checks whom it reached:
    /// in Balanced mode a least loaded candidate (LeastQueue: the lowest id
    /// among them).
    fn enqueue(&mut self, id: TaskId) -> Result<(), TestCaseError> {
        let loads: BTreeMap<WorkerId, usize> = self
            .candidates(id)
            .into_iter()
            .map(|c| (c, self.d.queue_len(c) + self.d.running_len(c)))
            .collect();
        let woken = self.d.enqueue(self.queued_task(id));
        prop_assert_eq!(&woken, &self.d.holders(id), "enqueue wakes its holders");
        if let (DispatchMode::Balanced, Some(&least)) = (self.mode, loads.values().min()) {
            let chosen = woken.first().copied().unwrap_or(UNKNOWN_WORKER);
            prop_assert_eq!(
                loads.get(&chosen).copied(),
                Some(least),
                "{} is least loaded",
                chosen
            );
            if self.strategy == BalanceStrategy::LeastQueue {
                let lowest = loads.iter().find(|&(_, &l)| l == least).map(|(&w, _)| w);
                prop_assert_eq!(Some(chosen), lowest, "ties go to the lowest id");
            }
        }
        if let Some(seed) = &mut self.seed {
            seed.added.insert(id);
        }
        Ok(())
    }

    /// The rank of a task of `priority` submitted now, as the service
    /// computes it.
    fn rank(&self, priority: i8) -> i64 {
        let priority = i64::from(priority);
        if self.aging {
            priority * i64::from(AGING_STEP_MS) - self.clock_ms
        } else {
            priority
        }
    }

    fn new_task(&mut self, tags: &[u8], priority: i8, after_ms: u32) -> TaskId {
        let id = TaskId(self.next_task);
        self.next_task += 1;
        self.clock_ms += i64::from(after_ms);
        let (tags, rank) = (tag_names(tags), self.rank(priority));
        self.tasks.insert(id, TaskModel { tags, rank });
        self.db_queued.insert(id);
        id
    }

    pub(super) fn apply(&mut self, op: &Op) -> Result<(), TestCaseError> {
        match op {
            Op::Submit {
                tags,
                priority,
                after_ms,
            } => {
                let id = self.new_task(tags, *priority, *after_ms);
                self.enqueue(id)?;
            }
            Op::SubmitUnseen {
                tags,
                priority,
                after_ms,
            } => {
                let id = self.new_task(tags, *priority, *after_ms);
                self.hidden.insert(id);
            }
            Op::Fetch { worker, max } => self.fetch(self.worker(*worker), usize::from(*max))?,
            Op::Settle { pick: i, confirm } => {
                if let Some((id, (worker, cancelled))) = pick(&self.in_flight, *i) {
                    let (id, worker, cancelled) = (*id, *worker, *cancelled);
                    self.settle(id, worker, cancelled, *confirm);
                }
            }
            Op::Finish { pick: i, retry } => {
                if let Some((&id, &worker)) = pick(&self.running, *i) {
                    self.d.finish(worker, id);
                    self.running.remove(&id);
                    if *retry {
                        self.db_queued.insert(id);
                        self.enqueue(id)?;
                    } else {
                        self.tasks.remove(&id);
                    }
                }
            }
            Op::Cancel { pick: i } => {
                let queued = self
                    .db_queued
                    .iter()
                    .filter(|id| !self.in_flight.contains_key(id));
                if let Some(&id) = pick(queued, *i) {
                    let known = !self.hidden.contains(&id);
                    prop_assert_eq!(self.d.remove(id), known, "remove {} answers", id);
                    self.db_queued.remove(&id);
                    self.hidden.remove(&id);
                    self.tasks.remove(&id);
                }
            }
            Op::CancelUnseen { pick: i } => {
                if let Some(id) = pick(self.expected_queued(), *i)
                    && self.db_queued.remove(&id)
                {
                    self.stale.insert(id);
                }
            }
            Op::CancelInFlight { pick: i } => {
                if let Some((&id, _)) = pick(&self.in_flight, *i) {
                    prop_assert!(!self.d.remove(id), "in-flight {} is not removable", id);
                    self.db_queued.remove(&id);
                    if let Some(entry) = self.in_flight.get_mut(&id) {
                        entry.1 = true;
                    }
                }
            }
            Op::Register { tags, slots } => {
                let id = WorkerId(i64::try_from(self.ever.len()).unwrap_or(0) + 1);
                self.ever.push(id);
                let spec = self.spec(id, tags, *slots);
                let woken = self.d.register(spec);
                self.workers.insert(
                    id,
                    WorkerModel {
                        tags: tag_names(tags).into_iter().collect(),
                        slots: u32::from(*slots),
                        draining: false,
                    },
                );
                self.check_woken(&woken)?;
            }
            Op::Update {
                worker,
                tags,
                slots,
            } => {
                let id = self.worker(*worker);
                let spec = self.spec(id, tags, *slots);
                let woken = self.d.update_worker(spec);
                match self.workers.get_mut(&id) {
                    Some(w) => {
                        w.tags = tag_names(tags).into_iter().collect();
                        w.slots = u32::from(*slots);
                    }
                    None => prop_assert!(woken.is_empty()),
                }
                self.check_woken(&woken)?;
            }
            Op::Drain { worker, on } => {
                let id = self.worker(*worker);
                let woken = self.d.set_draining(id, *on);
                if let Some(w) = self.workers.get_mut(&id) {
                    w.draining = *on;
                }
                self.check_woken(&woken)?;
            }
            Op::Unregister { worker } => self.unregister(self.worker(*worker))?,
            Op::SeedBegin => {
                if self.seed.is_none() {
                    let token = self.d.begin_seed();
                    let (read, added) = (None, BTreeSet::new());
                    self.seed = Some(SeedModel { token, read, added });
                }
            }
            Op::SeedRead => self.seed_read(),
            Op::SeedFinish => self.seed_finish()?,
            Op::Rebalance => self.rebalance()?,
        }
        Ok(())
    }

    fn spec(&self, id: WorkerId, tags: &[u8], slots: u8) -> WorkerSpec {
        let tags = tag_names(tags);
        let slots = u32::from(slots);
        WorkerSpec { id, tags, slots }
    }

    fn settle(&mut self, id: TaskId, worker: WorkerId, cancelled: bool, confirm: bool) {
        self.in_flight.remove(&id);
        if cancelled {
            self.d.abandon(worker, &[id]);
            self.tasks.remove(&id);
        } else if confirm {
            self.d.confirm(worker, &[id]);
            self.db_queued.remove(&id);
            self.running.insert(id, worker);
        } else {
            self.d.restore(worker, &[id]);
            if let Some(seed) = &mut self.seed {
                seed.added.insert(id);
            }
        }
    }

    /// The worker goes; the service requeues what it ran (unless cancelled
    /// meanwhile) and enqueues it again. Invariant 5: nothing is lost.
    fn unregister(&mut self, worker: WorkerId) -> Result<(), TestCaseError> {
        let gone = self.d.unregister(worker);
        self.check_woken(&gone.woken)?;
        let mut expected: Vec<TaskId> = self
            .running
            .iter()
            .filter(|&(_, &w)| w == worker)
            .map(|(&id, _)| id)
            .chain(
                self.in_flight
                    .iter()
                    .filter(|&(_, &(w, _))| w == worker)
                    .map(|(&id, _)| id),
            )
            .collect();
        expected.sort();
        prop_assert_eq!(&gone.running, &expected, "unregister returns all busy work");
        self.workers.remove(&worker);
        for id in gone.running {
            self.running.remove(&id);
            let cancelled = self.in_flight.remove(&id).is_some_and(|(_, c)| c);
            if cancelled {
                self.tasks.remove(&id);
            } else {
                self.db_queued.insert(id);
                self.enqueue(id)?;
            }
        }
        Ok(())
    }

    fn seed_read(&mut self) {
        let read: Vec<QueuedTask> = self
            .db_queued
            .iter()
            .map(|&id| self.queued_task(id))
            .collect();
        if let Some(seed) = &mut self.seed
            && seed.read.is_none()
        {
            seed.read = Some(read);
        }
    }

    fn seed_finish(&mut self) -> Result<(), TestCaseError> {
        self.seed_read();
        let Some(seed) = self.seed.take() else {
            return Ok(());
        };
        let read = seed.read.unwrap_or_default();
        let read_ids: BTreeSet<TaskId> = read.iter().map(|t| t.id).collect();
        let woken = self.d.finish_seed(seed.token, read);
        self.check_woken(&woken)?;
        self.hidden.retain(|id| !read_ids.contains(id));
        let dropped: Vec<TaskId> = self
            .stale
            .iter()
            .filter(|id| !read_ids.contains(id) && !seed.added.contains(id))
            .copied()
            .collect();
        for id in dropped {
            self.stale.remove(&id);
            self.tasks.remove(&id);
        }
        Ok(())
    }

    /// End of a sequence: a complete seed repairs every drift, and seeding
    /// again duplicates nothing (invariant 4; `check` counts every task once).
    pub(super) fn finish(mut self) -> Result<(), TestCaseError> {
        self.seed_finish()?;
        self.check()?;
        self.apply(&Op::SeedBegin)?;
        self.seed_finish()?;
        prop_assert!(self.hidden.is_empty(), "seeding finds every queued task");
        prop_assert!(self.stale.is_empty(), "seeding drops every stale task");
        self.check()
    }
}
