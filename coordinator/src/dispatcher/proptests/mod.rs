//! Property tests: random operation sequences, checked after every step
//! against a simple reference model of the database and the fleet.
//!
//! The model knows what the database holds (queued, in flight, running) and
//! which workers exist; it also simulates the two ways the dispatcher can
//! drift from the database (a submit it never heard of, a cancel it never
//! heard of), which seeding must repair. See [`model::Model`].

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod check;
mod model;

use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;

use model::Model;

use super::{BalanceStrategy, DispatchMode};

/// One step of a test sequence. Indices (`worker`, `pick`) select among what
/// exists, modulo its size; a worker index may also name an unknown worker.
#[derive(Clone, Debug)]
enum Op {
    /// A new task, enqueued; submitted `after_ms` after the previous one
    /// (its rank depends on that when aging is on, see [`Model::rank`]).
    Submit {
        tags: Vec<u8>,
        priority: i8,
        after_ms: u32,
    },
    /// A new task the dispatcher never hears of (only seeding finds it).
    SubmitUnseen {
        tags: Vec<u8>,
        priority: i8,
        after_ms: u32,
    },
    Fetch {
        worker: u8,
        max: u8,
    },
    /// The database answers for one in-flight task: confirm, or the write
    /// failed (restore); a task cancelled meanwhile is abandoned.
    Settle {
        pick: u8,
        confirm: bool,
    },
    /// A running task ends; with `retry` it is queued again (same id).
    Finish {
        pick: u8,
        retry: bool,
    },
    /// A queued task is cancelled and removed.
    Cancel {
        pick: u8,
    },
    /// A queued task is cancelled without telling the dispatcher.
    CancelUnseen {
        pick: u8,
    },
    /// An in-flight task is cancelled; its hand-over will be refused.
    CancelInFlight {
        pick: u8,
    },
    Register {
        tags: Vec<u8>,
        slots: u8,
    },
    Update {
        worker: u8,
        tags: Vec<u8>,
        slots: u8,
    },
    Drain {
        worker: u8,
        on: bool,
    },
    /// The worker leaves or dies; its work is requeued and enqueued again.
    Unregister {
        worker: u8,
    },
    SeedBegin,
    /// The seed's database read happens now.
    SeedRead,
    SeedFinish,
    Rebalance,
}

fn tags() -> impl Strategy<Value = Vec<u8>> {
    prop::collection::vec(0u8..3, 0..=3)
}

/// Time between submits: often a whole number of aging steps (equal ranks
/// across priorities), otherwise anything up to 2.5 steps.
fn after_ms() -> impl Strategy<Value = u32> {
    prop_oneof![
        1 => Just(0u32),
        1 => Just(model::AGING_STEP_MS),
        2 => 0u32..=150_000,
    ]
}

/// Operations, weighted; `churn` makes workers come, change and go often.
fn op(churn: bool) -> impl Strategy<Value = Op> {
    let worker_weight = if churn { 4 } else { 2 };
    prop_oneof![
        8 => (tags(), -2i8..=2, after_ms())
            .prop_map(|(tags, priority, after_ms)| Op::Submit { tags, priority, after_ms }),
        1 => (tags(), -2i8..=2, after_ms())
            .prop_map(|(tags, priority, after_ms)| Op::SubmitUnseen { tags, priority, after_ms }),
        6 => (any::<u8>(), 0u8..=3).prop_map(|(worker, max)| Op::Fetch { worker, max }),
        4 => (any::<u8>(), any::<bool>()).prop_map(|(pick, confirm)| Op::Settle { pick, confirm }),
        3 => (any::<u8>(), any::<bool>()).prop_map(|(pick, retry)| Op::Finish { pick, retry }),
        1 => any::<u8>().prop_map(|pick| Op::Cancel { pick }),
        1 => any::<u8>().prop_map(|pick| Op::CancelUnseen { pick }),
        1 => any::<u8>().prop_map(|pick| Op::CancelInFlight { pick }),
        worker_weight + 1 => (tags(), 0u8..=3).prop_map(|(tags, slots)| Op::Register { tags, slots }),
        worker_weight => (any::<u8>(), tags(), 0u8..=3)
            .prop_map(|(worker, tags, slots)| Op::Update { worker, tags, slots }),
        worker_weight => (any::<u8>(), any::<bool>()).prop_map(|(worker, on)| Op::Drain { worker, on }),
        worker_weight => any::<u8>().prop_map(|worker| Op::Unregister { worker }),
        1 => Just(Op::SeedBegin),
        1 => Just(Op::SeedRead),
        1 => Just(Op::SeedFinish),
        1 => Just(Op::Rebalance),
    ]
}

fn ops(churn: bool) -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(churn), 1..=60)
}

/// Runs `ops`; with `aging`, ranks have the aging shape
/// `priority × step_ms − submitted_at_ms` (around −1.7e12), else they are
/// the priorities.
fn run(
    mode: DispatchMode,
    strategy: BalanceStrategy,
    aging: bool,
    ops: &[Op],
) -> Result<(), TestCaseError> {
    let mut model = Model::new(mode, strategy, aging);
    for op in ops {
        model.apply(op)?;
        model.check()?;
    }
    model.finish()
}

/// Cases per property run: proptest's own `PROPTEST_CASES` environment
/// variable when set (proptest reads it only for its default configuration,
/// which [`config`] replaces), else `default`.
fn cases(default: u32) -> u32 {
    match std::env::var("PROPTEST_CASES") {
        Ok(value) => value
            .parse()
            .unwrap_or_else(|_| panic!("PROPTEST_CASES={value:?} is not a case count")),
        Err(_) => default,
    }
}

/// The configuration of the model properties: 2,000 cases each unless
/// `PROPTEST_CASES` says otherwise.
fn config() -> ProptestConfig {
    config_with(2_000)
}

fn config_with(default_cases: u32) -> ProptestConfig {
    ProptestConfig {
        // By default 5 properties × 2,000 cases = 10,000 cases per run,
        // plus the determinism property's 500.
        cases: cases(default_cases),
        // Failing cases are kept next to this file (`mod.proptest-regressions`)
        // and replayed first on the next run.
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource(
            "proptest-regressions",
        ))),
        ..ProptestConfig::default()
    }
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn fanout_matches_model(ops in ops(false), aging in any::<bool>()) {
        run(DispatchMode::Fanout, BalanceStrategy::LeastQueue, aging, &ops)?;
    }

    #[test]
    fn fanout_matches_model_under_worker_churn(ops in ops(true), aging in any::<bool>()) {
        run(DispatchMode::Fanout, BalanceStrategy::RoundRobin, aging, &ops)?;
    }

    #[test]
    fn balanced_least_queue_matches_model(ops in ops(false), aging in any::<bool>()) {
        run(DispatchMode::Balanced, BalanceStrategy::LeastQueue, aging, &ops)?;
    }

    #[test]
    fn balanced_round_robin_matches_model(ops in ops(false), aging in any::<bool>()) {
        run(DispatchMode::Balanced, BalanceStrategy::RoundRobin, aging, &ops)?;
    }

    #[test]
    fn balanced_matches_model_under_worker_churn(ops in ops(true), aging in any::<bool>()) {
        run(DispatchMode::Balanced, BalanceStrategy::LeastQueue, aging, &ops)?;
    }
}

/// Runs `ops` on two models side by side and checks after every step that
/// the two dispatchers agree: same snapshot (queues in pop order, counts,
/// backlog per tag set) and same holders for every task.
fn run_twice(
    mode: DispatchMode,
    strategy: BalanceStrategy,
    ops: &[Op],
) -> Result<(), TestCaseError> {
    let mut a = Model::new(mode, strategy, false);
    let mut b = Model::new(mode, strategy, false);
    for op in ops {
        a.apply(op)?;
        b.apply(op)?;
        prop_assert_eq!(a.d.snapshot(), b.d.snapshot(), "after {:?}", op);
        for &id in a.tasks.keys() {
            prop_assert_eq!(a.d.holders(id), b.d.holders(id), "holders of {}", id);
        }
    }
    Ok(())
}

proptest! {
    #![proptest_config(config_with(500))]

    /// Invariant 8: nothing depends on hashing. Each dispatcher's tag-set
    /// index is a std `HashMap` with its own random keys, so an iteration
    /// over it would differ between the two.
    #[test]
    fn same_operations_same_dispatcher(ops in ops(true), round_robin in any::<bool>()) {
        let strategy = if round_robin {
            BalanceStrategy::RoundRobin
        } else {
            BalanceStrategy::LeastQueue
        };
        run_twice(DispatchMode::Balanced, strategy, &ops)?;
        run_twice(DispatchMode::Fanout, strategy, &ops)?;
    }
}

/// Found by the properties above: rebalancing in several passes can move a
/// task on to a third worker, and the one it passed through was woken with
/// an empty queue. Which tag set a pass visits first once depended on
/// hashing; it is now the same on every dispatcher (invariant 8).
#[test]
fn rebalance_wakes_only_workers_left_holding_work() {
    let submit = |tags: &[u8], priority, after_ms| Op::Submit {
        tags: tags.to_vec(),
        priority,
        after_ms,
    };
    let register = |tags: &[u8], slots| Op::Register {
        tags: tags.to_vec(),
        slots,
    };
    let ops = [
        submit(&[2], 2, 61_488),
        submit(&[0, 1], 2, 0),
        register(&[1, 0, 2], 0),
        submit(&[2], -2, 26_755),
        submit(&[0, 2], 0, 60_000),
        submit(&[1, 0], 2, 0),
        submit(&[2], 2, 77_235),
        register(&[2], 3),
        register(&[0, 2], 0),
        Op::Fetch {
            worker: 157,
            max: 2,
        },
        submit(&[], -1, 0),
        submit(&[1, 2], -1, 0),
        register(&[1], 0),
        Op::Rebalance,
    ];
    let result = run(
        DispatchMode::Balanced,
        BalanceStrategy::RoundRobin,
        true,
        &ops,
    );
    assert!(result.is_ok(), "{result:?}");
}
