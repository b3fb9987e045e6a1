//! The one owner of the dispatcher: [`Dispatch`] holds the in-memory
//! [`TaskDispatcher`] behind its lock together with the long-poll wakers,
//! and offers the operations the services need. Each operation locks once
//! (per call, however many tasks it carries), never across an `.await`,
//! and wakes the workers it must before it returns; no caller sees the lock.
//!
//! # One panic policy
//! A panic while the lock is held (a bug in the dispatcher) poisons it, and
//! the cache it guards may be half-changed. The handle does not serve it on:
//! the next operation to take the lock replaces it with an empty dispatcher
//! of the same mode, marks itself *rebuilding* and asks the rebuild loop
//! ([`super::rebuild`]) to load it again from the database, which is the
//! truth. Meanwhile every operation still applies to the new dispatcher (so
//! submissions, reports and changes made meanwhile are not lost), fetches
//! hand out nothing and wait, and `/health` says so. The rebuild loads the
//! workers and what they run, seeds the queued tasks the usual way, and
//! ends the rebuilding state, retrying until it succeeds.
//!
//! # Leading and standing by
//! The handle serves its dispatcher only while this coordinator leads, under
//! the epoch it was elected with ([`Dispatch::lead`]); the fetches it hands
//! out carry that epoch to the database's fence. Taking the lead starts
//! from an empty dispatcher that is built from the database the same way
//! as after a panic. Standing by ([`Dispatch::follow`]) drops the
//! dispatcher and answers every waiting fetch; meanwhile changes to
//! dispatch made here (submissions, cancels, drains) are collected by the
//! [`Relay`] for the leader instead.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError, TryLockError};

use switchyard_protocol::{TaskId, WorkerId};
use tokio::sync::Notify;

use super::changes::Relay;
use super::wakers::Wakers;
use crate::dispatcher::{
    BalanceStrategy, DispatchMode, QueuedTask, Rebalanced, SeedToken, TaskDispatcher, WorkerSpec,
};
use crate::domain::Epoch;

/// What a fetch found.
#[derive(Debug, PartialEq, Eq)]
pub enum Fetched {
    /// Tasks popped for the worker (none when it has no work or no slot),
    /// and the epoch their hand-over must be fenced with.
    Tasks(Vec<TaskId>, Epoch),
    /// The dispatcher does not serve this worker (unknown, or gone).
    NotServed,
    /// The dispatcher is being rebuilt: nothing is handed out meanwhile.
    Rebuilding,
    /// This coordinator stands by: the leader serves workers.
    NotLeader,
}

/// What the dispatcher knows of a worker's running tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Running {
    /// It serves the worker, which runs (or has in flight) this many tasks.
    Tasks(usize),
    /// It does not serve this worker (unknown, or gone).
    NotServed,
    /// Being rebuilt: it cannot tell.
    Rebuilding,
    /// This coordinator stands by.
    NotLeader,
}

/// What a look at the dispatcher that must not wait found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Look<T> {
    /// The lock was free and the dispatcher serving.
    Ready(T),
    /// Being rebuilt (after a panic, or on taking the lead).
    Rebuilding(Rebuild),
    /// This coordinator stands by: it has no dispatcher to look at.
    Standby,
    /// Someone holds the lock now.
    Busy,
}

/// Why the dispatcher is being built from the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rebuild {
    /// A panic interrupted it.
    Panic,
    /// This coordinator was just elected leader.
    Election,
}

/// A worker as the database lists it, for loading into the dispatcher.
#[derive(Debug, Clone)]
pub struct LoadedWorker {
    pub spec: WorkerSpec,
    pub draining: bool,
    /// Tasks the database says it runs.
    pub running: Vec<TaskId>,
}

/// A seed in progress, on the dispatcher it began on.
#[derive(Debug)]
pub struct Seed {
    token: SeedToken,
    generation: u64,
}

/// Where a rebuild began; the rebuild stands only if nothing it read could
/// have changed since (see [`Dispatch::rebuild_load`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RebuildMark {
    generation: u64,
    changes: u64,
    /// Why the rebuild is done.
    pub why: Rebuild,
}

/// The dispatcher and its lock, the wakers, and the rebuild state.
#[derive(Debug)]
pub struct Dispatch {
    cache: Mutex<Cache>,
    /// Whether the cache's epoch is set, readable without the lock: answers
    /// that choose between the dispatcher's figures and the database's
    /// ([`super::figures`]) must not contend for it.
    leading: AtomicBool,
    wakers: Wakers,
    /// Changes collected for the leader while standing by.
    relay: Relay,
    mode: DispatchMode,
    strategy: BalanceStrategy,
    /// Told when the dispatcher needs a rebuild.
    rebuild_wanted: Notify,
}

#[derive(Debug)]
struct Cache {
    dispatcher: TaskDispatcher,
    /// The epoch this coordinator leads under; `None` while it stands by.
    epoch: Option<Epoch>,
    /// Being built from the database, and why; nothing is handed out.
    rebuilding: Option<Rebuild>,
    /// Counts replacements of the dispatcher (panics, elections, stepping
    /// down).
    generation: u64,
    /// Counts changes to workers and their running tasks (registrations,
    /// drains, unregistrations, tasks ending or confirmed): a rebuild that
    /// read the workers while one happened reads them again.
    changes: u64,
}

impl Dispatch {
    /// A handle serving `dispatcher` under epoch 0, the epoch before any
    /// election (tests and tools); a coordinator then leads or follows as
    /// elected. A rebuild uses the same mode and strategy.
    pub fn new(dispatcher: TaskDispatcher) -> Self {
        Self {
            mode: dispatcher.mode(),
            strategy: dispatcher.strategy(),
            cache: Mutex::new(Cache {
                dispatcher,
                epoch: Some(Epoch(0)),
                rebuilding: None,
                generation: 0,
                changes: 0,
            }),
            leading: AtomicBool::new(true),
            wakers: Wakers::default(),
            relay: Relay::default(),
            rebuild_wanted: Notify::new(),
        }
    }

    /// The lock; a poisoned one is recovered from here, the only place.
    fn lock(&self) -> MutexGuard<'_, Cache> {
        match self.cache.lock() {
            Ok(guard) => guard,
            Err(poisoned) => self.recover(poisoned.into_inner()),
        }
    }

    /// A panic poisoned the lock: the cache may be half-changed, so it is
    /// replaced by an empty one and a rebuild from the database is asked for.
    fn recover<'a>(&'a self, mut cache: MutexGuard<'a, Cache>) -> MutexGuard<'a, Cache> {
        cache.dispatcher = TaskDispatcher::new(self.mode, self.strategy);
        cache.generation += 1;
        self.cache.clear_poison();
        if cache.epoch.is_some() {
            tracing::error!("a panic interrupted the dispatcher; rebuilding it from the database");
            cache.rebuilding = Some(Rebuild::Panic);
            self.rebuild_wanted.notify_one();
        }
        cache
    }

    /// Runs `change` on the dispatcher, counting it as a change to workers
    /// or their running tasks, and wakes the workers it returns; while
    /// standing by, hands `standby` the relay instead.
    fn change(
        &self,
        change: impl FnOnce(&mut TaskDispatcher) -> Vec<WorkerId>,
        standby: impl FnOnce(&Relay),
    ) {
        let woken = {
            let mut cache = self.lock();
            if cache.epoch.is_none() {
                drop(cache);
                standby(&self.relay);
                return;
            }
            cache.changes += 1;
            change(&mut cache.dispatcher)
        };
        self.wakers.wake(&woken);
    }

    /// Leads under `epoch`: an empty dispatcher, built from the database by
    /// the rebuild loop before it hands anything out.
    pub fn lead(&self, epoch: Epoch) {
        {
            let mut cache = self.lock();
            cache.dispatcher = TaskDispatcher::new(self.mode, self.strategy);
            cache.epoch = Some(epoch);
            self.leading.store(true, Ordering::Release);
            cache.rebuilding = Some(Rebuild::Election);
            cache.generation += 1;
            cache.changes += 1;
        }
        self.rebuild_wanted.notify_one();
    }

    /// Stands by: the dispatcher is dropped and every waiting fetch answered
    /// (the agents go to the leader).
    pub fn follow(&self) {
        {
            let mut cache = self.lock();
            cache.dispatcher = TaskDispatcher::new(self.mode, self.strategy);
            cache.epoch = None;
            self.leading.store(false, Ordering::Release);
            cache.rebuilding = None;
            cache.generation += 1;
            cache.changes += 1;
        }
        self.wakers.wake_all();
    }

    /// The epoch this coordinator leads under; `None` while standing by.
    pub fn epoch(&self) -> Option<Epoch> {
        self.lock().epoch
    }

    /// Whether this coordinator leads, without taking the lock (it may stop
    /// leading a moment later, as with [`Self::epoch`]).
    pub fn leads(&self) -> bool {
        self.leading.load(Ordering::Acquire)
    }

    /// Changes collected for the leader while standing by.
    pub fn relay(&self) -> &Relay {
        &self.relay
    }

    /// A read-only look under the lock. `look` cannot await, nor keep the
    /// dispatcher past its return.
    pub fn read<R>(&self, look: impl FnOnce(&TaskDispatcher) -> R) -> R {
        look(&self.lock().dispatcher)
    }

    /// [`Self::read`] if the lock is free now; for health checks, which must
    /// not wait for it.
    pub fn try_read<R>(&self, look: impl FnOnce(&TaskDispatcher) -> R) -> Look<R> {
        let cache = match self.cache.try_lock() {
            Ok(cache) => cache,
            Err(TryLockError::Poisoned(poisoned)) => self.recover(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => return Look::Busy,
        };
        match (cache.epoch, cache.rebuilding) {
            (None, _) => Look::Standby,
            (Some(_), Some(why)) => Look::Rebuilding(why),
            (Some(_), None) => Look::Ready(look(&cache.dispatcher)),
        }
    }

    /// Whether the dispatcher is being built from the database, and why.
    pub fn rebuilding(&self) -> Option<Rebuild> {
        self.lock().rebuilding
    }

    /// The notifier a long-polling fetch of `worker` waits on.
    pub fn waker(&self, worker: WorkerId) -> std::sync::Arc<Notify> {
        self.wakers.get(worker)
    }

    /// Offers ready queued tasks to their candidates.
    pub fn enqueue(&self, tasks: Vec<QueuedTask>) {
        if tasks.is_empty() {
            return;
        }
        let woken = {
            let mut cache = self.lock();
            if cache.epoch.is_none() {
                drop(cache);
                self.relay.tasks(tasks.iter().map(|task| task.id));
                return;
            }
            let mut woken = Vec::new();
            for task in tasks {
                woken.extend(cache.dispatcher.enqueue(task));
            }
            woken
        };
        self.wakers.wake(&woken);
    }

    /// Takes a queued task out of every queue (cancelled, or about to be
    /// offered again under new terms). Returns whether it was queued here.
    pub fn remove(&self, task: TaskId) -> bool {
        let mut cache = self.lock();
        if cache.epoch.is_none() {
            drop(cache);
            self.relay.tasks([task]);
            return false;
        }
        cache.dispatcher.remove(task)
    }

    /// Brings `tasks` in step with the database (a standby changed them):
    /// each leaves the queues, and those of `ready` (the ones still queued
    /// and due) are offered again under their current terms. Tasks in
    /// flight or running are left to the database.
    pub fn refresh(&self, tasks: &[TaskId], ready: Vec<QueuedTask>) {
        let woken = {
            let mut cache = self.lock();
            if cache.epoch.is_none() {
                return;
            }
            for &task in tasks {
                cache.dispatcher.remove(task);
            }
            let mut woken = Vec::new();
            for task in ready {
                woken.extend(cache.dispatcher.enqueue(task));
            }
            woken
        };
        self.wakers.wake(&woken);
    }

    /// Frees the slots of tasks that ended or were taken back (`(worker,
    /// task)` pairs), offers `ready` tasks again, and wakes those workers
    /// and whoever received a task.
    pub fn release(&self, ended: &[(WorkerId, TaskId)], ready: Vec<QueuedTask>) {
        if ended.is_empty() && ready.is_empty() {
            return;
        }
        let ready_ids: Vec<TaskId> = ready.iter().map(|task| task.id).collect();
        self.change(
            |dispatcher| {
                let mut woken = Vec::with_capacity(ended.len());
                for &(worker, task) in ended {
                    dispatcher.finish(worker, task);
                    woken.push(worker);
                }
                for task in ready {
                    woken.extend(dispatcher.enqueue(task));
                }
                woken.sort_unstable();
                woken.dedup();
                woken
            },
            |relay| relay.tasks(ready_ids),
        );
    }

    /// Pops up to `max` tasks for `worker`.
    pub fn fetch(&self, worker: WorkerId, max: usize) -> Fetched {
        let mut cache = self.lock();
        let Some(epoch) = cache.epoch else {
            return Fetched::NotLeader;
        };
        if cache.rebuilding.is_some() {
            Fetched::Rebuilding
        } else if cache.dispatcher.contains_worker(worker) {
            Fetched::Tasks(cache.dispatcher.fetch(worker, max), epoch)
        } else {
            Fetched::NotServed
        }
    }

    /// Settles hand-overs the database decided, each `(worker, confirmed,
    /// refused)`: confirmed tasks run on their worker, refused ones are
    /// forgotten and their slots freed.
    pub fn settle(&self, outcomes: &[(WorkerId, Vec<TaskId>, Vec<TaskId>)]) {
        self.change(
            |dispatcher| {
                for (worker, confirmed, refused) in outcomes {
                    dispatcher.confirm(*worker, confirmed);
                    dispatcher.abandon(*worker, refused);
                }
                Vec::new()
            },
            |_| {},
        );
    }

    /// Hand-overs the database could not write, each `(worker, tasks)`: the
    /// tasks go back to the queues as if never fetched.
    pub fn restore(&self, failed: &[(WorkerId, Vec<TaskId>)]) {
        self.change(
            |dispatcher| {
                let mut woken = Vec::new();
                for (worker, tasks) in failed {
                    woken.extend(dispatcher.restore(*worker, tasks));
                }
                woken
            },
            |_| {},
        );
    }

    /// What the dispatcher knows of `worker`'s running tasks.
    pub fn running(&self, worker: WorkerId) -> Running {
        let cache = self.lock();
        if cache.epoch.is_none() {
            Running::NotLeader
        } else if cache.rebuilding.is_some() {
            Running::Rebuilding
        } else if cache.dispatcher.contains_worker(worker) {
            Running::Tasks(cache.dispatcher.running_len(worker))
        } else {
            Running::NotServed
        }
    }

    /// Registers a worker (or changes a registered one) and gives it the
    /// queued work it matches.
    pub fn register(&self, worker: WorkerSpec) {
        let id = worker.id;
        self.change(
            |dispatcher| dispatcher.register(worker),
            |relay| relay.worker(id),
        );
    }

    /// Changes a registered worker's tags and slots.
    pub fn update_worker(&self, worker: WorkerSpec) {
        let id = worker.id;
        self.change(
            |dispatcher| dispatcher.update_worker(worker),
            |relay| relay.worker(id),
        );
    }

    /// Marks a worker draining, or active again.
    pub fn set_draining(&self, worker: WorkerId, draining: bool) {
        self.change(
            |dispatcher| dispatcher.set_draining(worker, draining),
            |relay| relay.worker(worker),
        );
    }

    /// A worker as the database has it now (a standby changed it): its tags,
    /// slots and drain, in one step.
    pub fn refresh_worker(&self, worker: WorkerSpec, draining: bool) {
        let id = worker.id;
        self.change(
            |dispatcher| {
                let mut woken = if dispatcher.contains_worker(id) {
                    dispatcher.update_worker(worker)
                } else {
                    dispatcher.register(worker)
                };
                woken.extend(dispatcher.set_draining(id, draining));
                woken
            },
            |_| {},
        );
    }

    /// Takes a worker out of dispatch: its queue goes to other candidates
    /// and any fetch of it still waiting returns.
    pub fn unregister(&self, worker: WorkerId) {
        self.change(
            |dispatcher| dispatcher.unregister(worker).woken,
            |relay| relay.worker(worker),
        );
        self.wakers.remove(worker);
    }

    /// Balanced mode: evens out the queues (nothing while standing by).
    pub fn rebalance(&self) -> Rebalanced {
        let rebalanced = {
            let mut cache = self.lock();
            if cache.epoch.is_none() {
                return Rebalanced::default();
            }
            cache.dispatcher.rebalance()
        };
        self.wakers.wake(&rebalanced.woken);
        rebalanced
    }

    /// Loads workers as the database lists them.
    pub fn load(&self, workers: Vec<LoadedWorker>) {
        self.change(|dispatcher| load(dispatcher, workers), |_| {});
    }

    /// Starts a seed (see [`TaskDispatcher::begin_seed`]).
    pub fn begin_seed(&self) -> Seed {
        let mut cache = self.lock();
        Seed {
            token: cache.dispatcher.begin_seed(),
            generation: cache.generation,
        }
    }

    /// Abandons a seed whose read failed.
    pub fn abort_seed(&self, seed: Seed) {
        let mut cache = self.lock();
        if cache.generation == seed.generation {
            cache.dispatcher.abort_seed(seed.token);
        }
    }

    /// Finishes a seed with the ready tasks the database listed, and wakes
    /// whoever received one. A seed begun on a dispatcher since replaced (a
    /// panic, an election, stepping down) changes nothing.
    pub fn finish_seed(&self, seed: Seed, ready: Vec<QueuedTask>) {
        let woken = {
            let mut cache = self.lock();
            if cache.generation != seed.generation {
                return;
            }
            cache.dispatcher.finish_seed(seed.token, ready)
        };
        self.wakers.wake(&woken);
    }

    /// Resolves once a rebuild is wanted (at once if one was asked for
    /// since the last call).
    pub async fn rebuild_wanted(&self) {
        self.rebuild_wanted.notified().await;
    }

    /// Begins one try of a rebuild: where things stand before the workers
    /// are read. `None` when no rebuild is needed.
    pub fn rebuild_begin(&self) -> Option<RebuildMark> {
        let cache = self.lock();
        cache.rebuilding.map(|why| RebuildMark {
            generation: cache.generation,
            changes: cache.changes,
            why,
        })
    }

    /// Loads the workers read since `mark` into the rebuilding dispatcher,
    /// unless workers or their running tasks changed meanwhile (their
    /// change may be missing from what was read): then it answers false
    /// and the caller reads again. Nothing is handed out while rebuilding,
    /// so such changes die down.
    pub fn rebuild_load(&self, mark: RebuildMark, workers: Vec<LoadedWorker>) -> bool {
        let woken = {
            let mut cache = self.lock();
            if cache.generation != mark.generation || cache.changes != mark.changes {
                return false;
            }
            load(&mut cache.dispatcher, workers)
        };
        self.wakers.wake(&woken);
        true
    }

    /// Ends the rebuild begun at `mark` once the queued tasks are seeded,
    /// and wakes every waiting fetch. False when another panic replaced the
    /// dispatcher meanwhile (the rebuild starts over).
    pub fn rebuild_finish(&self, mark: RebuildMark) -> bool {
        {
            let mut cache = self.lock();
            if cache.generation != mark.generation {
                return false;
            }
            cache.rebuilding = None;
        }
        self.wakers.wake_all();
        true
    }

    /// Panics while holding the lock, as a bug in the dispatcher would, and
    /// catches the panic: the lock is left poisoned. For the tests of the
    /// panic policy; no route reaches it.
    #[doc(hidden)]
    pub fn panic_inside_lock_for_tests(&self) {
        let panicked = std::panic::catch_unwind(AssertUnwindSafe(|| {
            let _guard = self.cache.lock().unwrap_or_else(PoisonError::into_inner);
            std::panic::panic_any("a test panicked inside the dispatcher lock");
        }));
        debug_assert!(panicked.is_err());
    }
}

/// Registers `workers` (draining ones marked so) and what they run.
fn load(dispatcher: &mut TaskDispatcher, workers: Vec<LoadedWorker>) -> Vec<WorkerId> {
    let mut woken = Vec::new();
    for worker in workers {
        let id = worker.spec.id;
        woken.extend(dispatcher.register(worker.spec));
        if worker.draining {
            woken.extend(dispatcher.set_draining(id, true));
        }
        if !worker.running.is_empty() {
            dispatcher.set_running(id, &worker.running);
        }
    }
    woken.sort_unstable();
    woken.dedup();
    woken
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: i64) -> QueuedTask {
        QueuedTask {
            id: TaskId(id),
            rank: 0,
            tags: Vec::new(),
        }
    }

    fn worker(id: i64) -> LoadedWorker {
        LoadedWorker {
            spec: WorkerSpec {
                id: WorkerId(id),
                tags: Vec::new(),
                slots: 2,
            },
            draining: false,
            running: Vec::new(),
        }
    }

    fn handle() -> Dispatch {
        Dispatch::new(TaskDispatcher::new(
            DispatchMode::Fanout,
            BalanceStrategy::LeastQueue,
        ))
    }

    #[test]
    fn a_panic_replaces_the_dispatcher_and_nothing_is_handed_out_until_rebuilt() {
        let dispatch = handle();
        dispatch.load(vec![worker(1)]);
        dispatch.enqueue(vec![task(10)]);
        dispatch.panic_inside_lock_for_tests();

        assert_eq!(dispatch.try_read(|_| ()), Look::Rebuilding(Rebuild::Panic));
        assert_eq!(dispatch.rebuilding(), Some(Rebuild::Panic));
        assert_eq!(dispatch.fetch(WorkerId(1), 5), Fetched::Rebuilding);
        assert_eq!(dispatch.running(WorkerId(1)), Running::Rebuilding);
        assert_eq!(
            dispatch.read(TaskDispatcher::queued_total),
            0,
            "the possibly half-changed cache is gone"
        );
        // Submitted meanwhile: kept in the new dispatcher.
        dispatch.enqueue(vec![task(11)]);

        let mark = dispatch.rebuild_begin().expect("a rebuild is wanted");
        assert!(dispatch.rebuild_load(mark, vec![worker(1)]));
        let seed = dispatch.begin_seed();
        dispatch.finish_seed(seed, vec![task(10), task(11)]);
        assert!(dispatch.rebuild_finish(mark));

        assert_eq!(dispatch.rebuild_begin(), None);
        assert_eq!(
            dispatch.fetch(WorkerId(1), 5),
            Fetched::Tasks(vec![TaskId(10), TaskId(11)], Epoch(0))
        );
    }

    #[test]
    fn leads_says_what_the_epoch_says_without_the_lock() {
        let dispatch = handle();
        assert!(dispatch.leads(), "a new handle serves epoch 0");
        dispatch.follow();
        assert!(!dispatch.leads());
        assert_eq!(dispatch.epoch(), None);
        dispatch.lead(Epoch(4));
        assert!(dispatch.leads());
        assert_eq!(dispatch.epoch(), Some(Epoch(4)));
    }

    #[test]
    fn a_rebuild_that_raced_a_worker_change_or_another_panic_starts_over() {
        let dispatch = handle();
        dispatch.panic_inside_lock_for_tests();
        let mark = dispatch.rebuild_begin().expect("a rebuild is wanted");
        // A report freed a slot while the workers were being read.
        dispatch.release(&[(WorkerId(1), TaskId(5))], Vec::new());
        assert!(!dispatch.rebuild_load(mark, vec![worker(1)]));

        let mark = dispatch.rebuild_begin().expect("still wanted");
        assert!(dispatch.rebuild_load(mark, vec![worker(1)]));
        dispatch.panic_inside_lock_for_tests();
        assert!(!dispatch.rebuild_finish(mark), "a second panic meanwhile");
        assert_eq!(dispatch.rebuilding(), Some(Rebuild::Panic));
        assert_eq!(dispatch.fetch(WorkerId(1), 1), Fetched::Rebuilding);
    }

    #[test]
    fn a_standby_hands_nothing_out_relays_its_changes_and_a_new_lead_starts_empty() {
        let dispatch = handle();
        dispatch.load(vec![worker(1)]);
        dispatch.enqueue(vec![task(10)]);
        let stale_seed = dispatch.begin_seed();

        dispatch.follow();
        assert_eq!(dispatch.epoch(), None);
        assert_eq!(dispatch.fetch(WorkerId(1), 5), Fetched::NotLeader);
        assert_eq!(dispatch.running(WorkerId(1)), Running::NotLeader);
        assert_eq!(dispatch.try_read(|_| ()), Look::Standby);
        dispatch.enqueue(vec![task(11)]);
        assert!(!dispatch.remove(TaskId(12)));
        dispatch.set_draining(WorkerId(1), true);
        assert_eq!(
            dispatch.relay().take(),
            crate::service::changes::Changes {
                tasks: vec![TaskId(11), TaskId(12)],
                workers: vec![WorkerId(1)],
            },
            "what a standby changed is collected for the leader"
        );
        assert_eq!(dispatch.read(TaskDispatcher::queued_total), 0);

        dispatch.lead(Epoch(7));
        assert_eq!(dispatch.rebuilding(), Some(Rebuild::Election));
        assert_eq!(dispatch.fetch(WorkerId(1), 5), Fetched::Rebuilding);
        // A seed begun before the dispatcher was replaced changes nothing.
        dispatch.finish_seed(stale_seed, vec![task(10)]);
        assert_eq!(dispatch.read(TaskDispatcher::queued_total), 0);

        let mark = dispatch
            .rebuild_begin()
            .expect("a new leader builds its dispatcher");
        assert_eq!(mark.why, Rebuild::Election);
        assert!(dispatch.rebuild_load(mark, vec![worker(1)]));
        let seed = dispatch.begin_seed();
        dispatch.finish_seed(seed, vec![task(10), task(11)]);
        assert!(dispatch.rebuild_finish(mark));
        assert_eq!(
            dispatch.fetch(WorkerId(1), 5),
            Fetched::Tasks(vec![TaskId(10), TaskId(11)], Epoch(7)),
            "hand-overs carry the epoch they are fenced with"
        );
    }
}
