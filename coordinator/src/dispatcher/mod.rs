//! The in-memory TaskDispatcher: decides which worker gets which queued task,
//! without asking the database.
//!
//! It is a cache of the database (which stays the truth and decides every
//! hand-over with a conditional UPDATE), so it does no I/O, no async and no
//! locking; the service keeps it behind one `std::sync::Mutex` and calls it
//! between database operations. It depends on no configuration or
//! serialisation crate: it takes its own [`DispatchMode`] and
//! [`BalanceStrategy`] and hands out a plain [`Snapshot`]; the service
//! converts at its edges.
//!
//! # Layout
//! - `mode`: the dispatch mode and balance strategy.
//! - `tagsets`: interned tag sets (keyed as in `tagkey`, numbered by
//!   `TagSetId`), their subset relation, the candidate cache (active workers
//!   per tag set) and, in Balanced mode, the load index that finds the least
//!   loaded candidate in O(log n) and the steal index that finds the longest
//!   queue.
//! - `queuekey`: the order of queued tasks.
//! - `queue`: a worker's priority queue, split by required tag set into
//!   `subqueue`s (ordered sets tuned for in-order arrival).
//! - `holders`: the reverse index entry of a task (the queues holding it).
//! - `placement`: the primitives every operation is built from: hold/unhold
//!   a task in a queue (or a whole sub-queue), make a worker a candidate or
//!   not, choose a worker by strategy, hand a task over.
//! - `tasks`: task operations (enqueue, fetch and stealing, confirm, abandon,
//!   restore, finish, remove, set_running).
//! - `workers`: worker operations (register, update, drain, unregister).
//! - `position`: how many tasks are ahead of a queued task.
//! - `balance`, `seed`, `snapshot`: the rest of the API.
//! - `invariants`: the full consistency check behind invariant 7.
//!
//! # Model
//! A task known here is *queued* (held by zero or more worker queues),
//! *in flight* (popped by a fetch, waiting for the database to confirm) or
//! *running*. Queued tasks are ordered by rank (higher first; see
//! [`QueuedTask::rank`]), then by id (submit order). A worker is a
//! *candidate* for a task when its tags
//! contain all the task's tags and it is registered and not draining.
//! Fanout puts a task in every candidate's queue; Balanced in exactly one.
//!
//! # Invariants
//! Numbered as in the design (invariants 1 to 6 are the design's, seen
//! from the dispatcher); tests cite them by number. Between any two public
//! calls:
//!
//! 1. **Placed.** Every known queued task with at least one active candidate
//!    is in a candidate's queue: in Fanout in every candidate's queue, in
//!    Balanced in exactly one. (The service enqueues a task once its
//!    `not_before` has passed.) Checked by [`TaskDispatcher::check_invariants`]
//!    and by the property tests' `Model::check` after every step.
//! 2. **Only candidates hold.** No queue holds a task that is not known as
//!    queued, nor one whose tags its worker lacks; a draining worker's
//!    queue is empty. Checked by `check_invariants` and `Model::check`.
//! 3. **One hand-over.** A fetch takes a task out of every queue at once and
//!    keeps it in flight for that one worker, so no other fetch returns it
//!    until the database settles it ([`TaskDispatcher::confirm`],
//!    [`TaskDispatcher::abandon`], [`TaskDispatcher::restore`]); the
//!    database's conditional UPDATE still decides. Checked by
//!    `check_invariants` (no task both queued and assigned, each assigned
//!    task listed by its one worker) and `Model::fetch` (every fetched task
//!    was queued).
//! 4. **Seeding duplicates nothing.** Seeding twice, or while tasks arrive,
//!    are handed over or are removed, neither duplicates nor resurrects a
//!    task, and a complete seed repairs every drift from the database.
//!    Checked by the property tests' interleaved seeds and `Model::finish`,
//!    and by `tests/seeding.rs`.
//! 5. **Nothing lost with a worker.** [`TaskDispatcher::unregister`] hands
//!    back every task the worker ran or had in flight, and its queued tasks
//!    go to their other candidates (or wait, held by no queue, for one).
//!    Checked by `Model::unregister`, then invariants 1 and 7.
//! 6. **No idle candidate while work waits.** A fetch returns fewer tasks
//!    than its worker may take only when no queued task it matches waits
//!    in any queue: in Balanced, a worker whose queue is empty steals from
//!    the longest candidate queue. Checked by `Model::fetch`.
//! 7. **The indexes agree.** The reverse index, the candidate cache, the
//!    per-tag-set counts and unheld lists, the load and steal indexes, the
//!    in-flight and running sets and the tag-set references all describe
//!    the same queues and workers. Checked by `check_invariants` (see
//!    `invariants.rs`), after every step of every property test and in
//!    the unit tests' `ok`.
//! 8. **Deterministic.** What an operation does depends only on the
//!    operations before it, never on hashing: every iteration whose order
//!    can change an outcome (placement, backfill, rebalance, stealing,
//!    snapshot order) walks an ordered structure. Two dispatchers fed the
//!    same operations hold the same queues and answer alike. Checked by the
//!    property test `same_operations_same_dispatcher` and
//!    `tests/balanced.rs`.

mod balance;
mod holders;
mod invariants;
mod mode;
mod placement;
mod position;
mod queue;
mod queuekey;
mod seed;
mod snapshot;
mod subqueue;
mod tagkey;
mod tagsets;
mod tasks;
mod workers;

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;

use rustc_hash::{FxHashMap, FxHashSet};
use switchyard_protocol::{TaskId, WorkerId};

pub use mode::{BalanceStrategy, DispatchMode};
pub use seed::SeedToken;
pub use snapshot::{SNAPSHOT_QUEUE_HEAD, Snapshot, TagSetSnapshot, WorkerSnapshot};

use holders::Holders;
use queue::WorkerQueue;
use seed::Journal;
use tagsets::{TagSetId, TagSets};

/// A task ready to run, as the dispatcher needs it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueuedTask {
    /// The task; ids grow with submit order.
    pub id: TaskId,
    /// The sort key: higher runs first; ties go to the lower [`TaskId`]
    /// (submit order). The service passes the priority itself when priority
    /// aging is off, or `priority × step_ms − submitted_at_ms` when it is on:
    /// then A is ahead of B iff `pA + waitA / step > pB + waitB / step` at
    /// any moment, so aging needs no re-sorting as time passes. The
    /// dispatcher only compares ranks (no arithmetic), so any `i64` works.
    pub rank: i64,
    /// Tags a worker must have to run it (any order, duplicates allowed).
    pub tags: Vec<String>,
}

/// A registered worker's placement-relevant settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkerSpec {
    /// The worker registration.
    pub id: WorkerId,
    /// Tags it offers (any order, duplicates allowed).
    pub tags: Vec<String>,
    /// How many tasks it runs at once.
    pub slots: u32,
}

/// What [`TaskDispatcher::unregister`] hands back.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Unregistered {
    /// Tasks the worker was running or had in flight, ascending. They are
    /// forgotten here: the caller requeues them in the database, then
    /// enqueues them again.
    pub running: Vec<TaskId>,
    /// Workers whose queue received tasks, to wake their long-polls.
    pub woken: Vec<WorkerId>,
}

/// What [`TaskDispatcher::rebalance`] did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rebalanced {
    /// Queued tasks moved from one worker's queue to another's.
    pub moved: usize,
    /// Workers whose queue received tasks and still holds some, to wake
    /// their long-polls.
    pub woken: Vec<WorkerId>,
}

/// The in-memory dispatcher. See the module documentation.
///
/// Maps keyed by task and worker ids use FxHash: the ids come from the
/// database, not from users, so a fast non-keyed hash is safe, and every
/// operation does several lookups. They serve lookups only: no outcome
/// depends on their iteration order (invariant 8).
#[derive(Debug)]
pub struct TaskDispatcher {
    mode: DispatchMode,
    strategy: BalanceStrategy,
    sets: TagSets,
    workers: FxHashMap<WorkerId, Worker>,
    queued: FxHashMap<TaskId, Queued>,
    assigned: FxHashMap<TaskId, Assigned>,
    /// Running tasks of workers that are not registered (from `set_running`).
    detached: FxHashMap<WorkerId, FxHashSet<TaskId>>,
    /// RoundRobin: the last worker chosen; ties go to the next id after it.
    cursor: Option<WorkerId>,
    /// Seeds in progress.
    seeds: Vec<Journal>,
    next_seed: u64,
}

/// A registered worker.
#[derive(Debug)]
struct Worker {
    set: TagSetId,
    slots: u32,
    draining: bool,
    /// Whether it is an active candidate, i.e. filed in the candidate lists
    /// and (Balanced) the load indexes of its set's subsets. False while
    /// draining, and between the two halves of a change of tag set, when
    /// its load must not be re-filed.
    active: bool,
    queue: WorkerQueue,
    running: FxHashSet<TaskId>,
    in_flight: FxHashSet<TaskId>,
}

impl Worker {
    /// Running plus in-flight tasks.
    fn busy(&self) -> usize {
        self.running.len() + self.in_flight.len()
    }

    /// What placement balances: queued + running + in flight.
    fn load(&self) -> usize {
        self.queue.len() + self.busy()
    }

    /// Slots not taken by running or in-flight tasks.
    fn free_slots(&self) -> usize {
        usize::try_from(self.slots)
            .unwrap_or(usize::MAX)
            .saturating_sub(self.busy())
    }
}

/// A known queued task.
#[derive(Debug)]
struct Queued {
    /// See [`QueuedTask::rank`].
    rank: i64,
    set: TagSetId,
    /// Workers whose queue holds it (the reverse index).
    holders: Holders,
}

/// A task handed to a worker.
#[derive(Clone, Copy, Debug)]
enum Assigned {
    /// Popped by a fetch; the database has not confirmed yet. Keeps what is
    /// needed to queue it again.
    InFlight {
        worker: WorkerId,
        rank: i64,
        set: TagSetId,
    },
    /// Confirmed by the database.
    Running { worker: WorkerId },
}

impl Assigned {
    fn worker(self) -> WorkerId {
        match self {
            Self::InFlight { worker, .. } | Self::Running { worker } => worker,
        }
    }
}

/// Sorts and deduplicates a list of workers to wake.
fn wake_list(mut workers: Vec<WorkerId>) -> Vec<WorkerId> {
    workers.sort_unstable();
    workers.dedup();
    workers
}

impl TaskDispatcher {
    /// An empty dispatcher placing tasks by `mode` (and `strategy` in Balanced).
    pub fn new(mode: DispatchMode, strategy: BalanceStrategy) -> Self {
        Self {
            mode,
            strategy,
            sets: TagSets::new(mode == DispatchMode::Balanced),
            workers: FxHashMap::default(),
            queued: FxHashMap::default(),
            assigned: FxHashMap::default(),
            detached: FxHashMap::default(),
            cursor: None,
            seeds: Vec::new(),
            next_seed: 0,
        }
    }

    /// How tasks are placed.
    pub fn mode(&self) -> DispatchMode {
        self.mode
    }

    /// How Balanced mode picks the one candidate.
    pub fn strategy(&self) -> BalanceStrategy {
        self.strategy
    }

    /// Workers whose queue holds `task`, ascending (empty unless queued).
    pub fn holders(&self, task: TaskId) -> Vec<WorkerId> {
        let mut holders = self
            .queued
            .get(&task)
            .map(|q| q.holders.as_slice().to_vec())
            .unwrap_or_default();
        holders.sort_unstable();
        holders
    }

    /// Whether `task` is known as queued, held by a queue or not.
    pub fn is_queued(&self, task: TaskId) -> bool {
        self.queued.contains_key(&task)
    }

    /// Whether some registered, non-draining worker matches the queued or
    /// in-flight `task`; false for unknown and running tasks. Lets the task
    /// view say `no_matching_worker`.
    pub fn has_candidate(&self, task: TaskId) -> bool {
        let set = match (self.queued.get(&task), self.assigned.get(&task)) {
            (Some(queued), _) => queued.set,
            (None, Some(Assigned::InFlight { set, .. })) => *set,
            _ => return false,
        };
        !self.sets.get(set).candidates.is_empty()
    }

    /// Whether `worker` is registered (draining or not).
    pub fn contains_worker(&self, worker: WorkerId) -> bool {
        self.workers.contains_key(&worker)
    }

    /// Whether `worker` is registered and draining.
    pub fn is_draining(&self, worker: WorkerId) -> bool {
        self.workers.get(&worker).is_some_and(|w| w.draining)
    }

    /// Tasks in `worker`'s queue (0 if unknown).
    pub fn queue_len(&self, worker: WorkerId) -> usize {
        self.workers.get(&worker).map_or(0, |w| w.queue.len())
    }

    /// Tasks `worker` runs or has in flight.
    pub fn running_len(&self, worker: WorkerId) -> usize {
        match self.workers.get(&worker) {
            Some(w) => w.busy(),
            None => self.detached.get(&worker).map_or(0, |d| d.len()),
        }
    }

    /// Distinct known queued tasks, held or not.
    pub fn queued_total(&self) -> usize {
        self.queued.len()
    }

    /// Whether `task` is known in any state: queued, in flight or running.
    pub fn is_known(&self, task: TaskId) -> bool {
        self.queued.contains_key(&task) || self.assigned.contains_key(&task)
    }
}
