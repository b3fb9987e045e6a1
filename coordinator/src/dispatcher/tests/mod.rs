//! Unit tests of the dispatcher, one file per area.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod balanced;
mod fanout;
mod position;
mod ranks;
mod seeding;
mod workers;

use switchyard_protocol::{TaskId, WorkerId};

use super::{BalanceStrategy, DispatchMode, QueuedTask, TaskDispatcher, WorkerSpec};

fn t(id: i64) -> TaskId {
    TaskId(id)
}

fn w(id: i64) -> WorkerId {
    WorkerId(id)
}

fn ts(ids: &[i64]) -> Vec<TaskId> {
    ids.iter().copied().map(TaskId).collect()
}

fn ws(ids: &[i64]) -> Vec<WorkerId> {
    ids.iter().copied().map(WorkerId).collect()
}

fn task(id: i64, rank: i64, tags: &[&str]) -> QueuedTask {
    QueuedTask {
        id: TaskId(id),
        rank,
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
    }
}

fn spec(id: i64, tags: &[&str], slots: u32) -> WorkerSpec {
    WorkerSpec {
        id: WorkerId(id),
        tags: tags.iter().map(|t| (*t).to_owned()).collect(),
        slots,
    }
}

fn fanout() -> TaskDispatcher {
    TaskDispatcher::new(DispatchMode::Fanout, BalanceStrategy::LeastQueue)
}

fn balanced(strategy: BalanceStrategy) -> TaskDispatcher {
    TaskDispatcher::new(DispatchMode::Balanced, strategy)
}

fn least_queue() -> TaskDispatcher {
    balanced(BalanceStrategy::LeastQueue)
}

fn round_robin() -> TaskDispatcher {
    balanced(BalanceStrategy::RoundRobin)
}

/// Both modes (and both strategies), for tests that hold in all of them.
fn all_modes() -> Vec<TaskDispatcher> {
    vec![fanout(), least_queue(), round_robin()]
}

#[track_caller]
fn ok(d: &TaskDispatcher) {
    if let Err(e) = d.check_invariants() {
        panic!("invariant broken: {e}\n{d:#?}");
    }
}

/// Fetches one by one and confirms, returning the order.
fn drain_all(d: &mut TaskDispatcher, worker: WorkerId) -> Vec<TaskId> {
    let mut out = Vec::new();
    loop {
        let got = d.fetch(worker, 1);
        if got.is_empty() {
            return out;
        }
        d.confirm(worker, &got);
        for &task in &got {
            d.finish(worker, task);
        }
        out.extend(got);
        ok(d);
    }
}
