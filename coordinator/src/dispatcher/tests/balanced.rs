//! Balanced mode: strategies, stealing, rebalancing.

use std::collections::BTreeMap;

use super::*;

fn counts(received: &[WorkerId]) -> BTreeMap<WorkerId, usize> {
    let mut counts = BTreeMap::new();
    for &worker in received {
        *counts.entry(worker).or_default() += 1;
    }
    counts
}

fn assert_even(counts: &BTreeMap<WorkerId, usize>, workers: usize, each: usize) {
    assert_eq!(counts.len(), workers, "{counts:?}");
    for (&worker, &n) in counts {
        assert!(
            n.abs_diff(each) <= 1,
            "{worker} got {n}, expected {each} ± 1: {counts:?}"
        );
    }
}

#[test]
fn round_robin_shares_evenly_between_idle_workers() {
    let mut d = round_robin();
    for id in 1..=4 {
        d.register(spec(id, &[], 1));
    }
    let mut received = Vec::new();
    for id in 1..=400 {
        let woken = d.enqueue(task(id, 0, &[]));
        assert_eq!(woken.len(), 1);
        received.extend(woken);
    }
    assert_even(&counts(&received), 4, 100);
    ok(&d);
}

#[test]
fn round_robin_shares_evenly_when_tasks_are_fetched_in_between() {
    let mut d = round_robin();
    for id in 1..=4 {
        d.register(spec(id, &[], 1));
    }
    let mut received = Vec::new();
    for id in 1..=400 {
        let woken = d.enqueue(task(id, 0, &[]));
        received.extend(woken.iter().copied());
        // The receiver runs it at once: every worker is idle again.
        for worker in woken {
            drain_all(&mut d, worker);
        }
    }
    assert_even(&counts(&received), 4, 100);
    ok(&d);
}

#[test]
fn least_queue_alone_piles_ties_on_the_lowest_id() {
    let mut d = least_queue();
    for id in 1..=4 {
        d.register(spec(id, &[], 1));
    }
    let mut received = Vec::new();
    for id in 1..=40 {
        let woken = d.enqueue(task(id, 0, &[]));
        received.extend(woken.iter().copied());
        for worker in woken {
            drain_all(&mut d, worker);
        }
    }
    assert_eq!(counts(&received), BTreeMap::from([(w(1), 40)]));
}

#[test]
fn least_queue_counts_running_and_in_flight_tasks() {
    let mut d = least_queue();
    d.register(spec(1, &[], 10));
    d.register(spec(2, &[], 10));
    d.set_running(w(1), &ts(&[100, 101]));
    d.register(spec(3, &[], 10));
    for id in 1..=3 {
        d.enqueue(task(id, 0, &[]));
    }
    d.fetch(w(3), 1);
    // Loads now: w1 2 running, w2 2 queued, w3 1 in flight.
    assert_eq!(d.enqueue(task(10, 0, &[])), ws(&[3]));
    assert_eq!(
        d.enqueue(task(11, 0, &[])),
        ws(&[1]),
        "ties go to the lowest id"
    );
    assert_eq!(d.queue_len(w(1)), 1);
    ok(&d);
}

#[test]
fn balanced_places_each_task_in_one_queue() {
    for mut d in [least_queue(), round_robin()] {
        d.register(spec(1, &["a"], 1));
        d.register(spec(2, &["a", "b"], 1));
        d.register(spec(3, &["b"], 1));
        for id in 1..=30 {
            let tags: &[&str] = match id % 3 {
                0 => &["a"],
                1 => &["b"],
                _ => &[],
            };
            assert_eq!(d.enqueue(task(id, 0, tags)).len(), 1);
            assert_eq!(d.holders(t(id)).len(), 1);
        }
        ok(&d);
    }
}

#[test]
fn an_idle_worker_steals_the_best_tasks_it_matches() {
    let mut d = least_queue();
    d.register(spec(1, &["linux", "gpu"], 1));
    for id in 1..=10 {
        d.enqueue(task(id, 0, &["linux", "gpu"]));
    }
    for id in 11..=14 {
        d.enqueue(task(id, i64::from(id == 13), &["linux"]));
    }
    d.register(spec(2, &["linux"], 3));
    assert_eq!(d.queue_len(w(2)), 0);
    assert_eq!(d.fetch(w(2), 3), ts(&[13, 11, 12]));
    assert_eq!(d.queue_len(w(1)), 11);
    ok(&d);
    d.confirm(w(2), &ts(&[13, 11, 12]));
    assert!(d.fetch(w(2), 3).is_empty(), "slots full");
    for id in [11, 12, 13] {
        d.finish(w(2), t(id));
    }
    assert_eq!(d.fetch(w(2), 3), ts(&[14]), "never a gpu task");
    ok(&d);
}

#[test]
fn stealing_takes_from_the_longest_queue_first() {
    let mut d = least_queue();
    d.register(spec(1, &[], 1));
    for id in 1..=2 {
        d.enqueue(task(id, 0, &[]));
    }
    d.register(spec(2, &[], 1));
    for id in 3..=7 {
        d.enqueue(task(id, 0, &[]));
    }
    // w1 holds 1, 2, 5, 7; w2 holds 3, 4, 6.
    assert_eq!((d.queue_len(w(1)), d.queue_len(w(2))), (4, 3));
    d.register(spec(3, &[], 1));
    assert_eq!(d.fetch(w(3), 1), ts(&[1]));
    d.finish(w(3), t(1));
    assert_eq!(
        d.fetch(w(3), 1),
        ts(&[2]),
        "equal lengths: the lowest worker id"
    );
    ok(&d);
}

#[test]
fn own_queue_comes_before_stealing() {
    let mut d = least_queue();
    d.register(spec(1, &[], 5));
    d.register(spec(2, &[], 5));
    for id in 1..=6 {
        d.enqueue(task(id, 0, &[]));
    }
    // w1 holds 1, 3, 5 and w2 holds 2, 4, 6.
    assert_eq!(d.fetch(w(1), 5), ts(&[1, 3, 5, 2, 4]));
    ok(&d);
}

#[test]
fn rebalance_spreads_a_backlog_over_joined_workers() {
    for mut d in [least_queue(), round_robin()] {
        d.register(spec(1, &["a"], 1));
        for id in 1..=600 {
            d.enqueue(task(id, 0, &["a"]));
        }
        for id in 2..=4 {
            assert!(d.register(spec(id, &["a", "b"], 1)).is_empty());
        }
        let result = d.rebalance();
        assert_eq!(result.moved, 450);
        assert_eq!(result.woken, ws(&[2, 3, 4]));
        for id in 1..=4 {
            assert!(
                d.queue_len(w(id)).abs_diff(150) <= 1,
                "{}",
                d.queue_len(w(id))
            );
        }
        ok(&d);
        assert_eq!(d.rebalance().moved, 0, "already balanced");
        // The earliest tasks were spread first: the joined workers start
        // with the oldest ones.
        for id in 2..=4 {
            let head = d.snapshot().workers[id - 1].queue[0];
            assert!(head.0 <= 4, "worker {id} starts with {head}");
        }
    }
}

#[test]
fn rebalance_counts_running_work_and_respects_tags() {
    let mut d = least_queue();
    d.register(spec(1, &["a", "b"], 10));
    for id in 1..=10 {
        d.enqueue(task(id, 0, &["b"]));
    }
    for id in 11..=20 {
        d.enqueue(task(id, 0, &["a"]));
    }
    d.register(spec(2, &["a"], 10));
    d.register(spec(3, &["a"], 10));
    d.set_running(w(3), &ts(&[100, 101, 102, 103]));
    let result = d.rebalance();
    ok(&d);
    // b tasks cannot move; a tasks go to w2 and w3 until loads are close.
    assert_eq!(d.holders(t(5)), ws(&[1]));
    let loads: Vec<usize> = (1..=3)
        .map(|i| d.queue_len(w(i)) + d.running_len(w(i)))
        .collect();
    assert!(loads[0] >= 10, "{loads:?}");
    assert!(loads[1].abs_diff(loads[2]) <= 1, "{loads:?}");
    // w1 20, w2 0, w3 4 → every a task moves: 10, 7, 7.
    assert_eq!(result.moved, 10);
    assert_eq!(loads, vec![10, 7, 7]);
}

#[test]
fn rebalance_is_a_no_op_in_fanout() {
    let mut d = fanout();
    d.register(spec(1, &[], 1));
    d.enqueue(task(1, 0, &[]));
    d.register(spec(2, &[], 1));
    assert_eq!(d.rebalance(), super::super::Rebalanced::default());
}

/// Invariant 8: rebalancing visits tag sets in an order that depends on the
/// operations only. Tasks of six overlapping tag sets pile on one worker,
/// then workers matching different subsets join: which set is rebalanced
/// first decides where each task goes, so every fresh dispatcher (each with
/// its own hash keys) must move the same tasks to the same workers.
#[test]
fn rebalance_is_the_same_on_every_dispatcher_fed_the_same_operations() {
    let run = |strategy| {
        let mut d = balanced(strategy);
        d.register(spec(1, &["a", "b", "c"], 1));
        let sets: [&[&str]; 6] = [&[], &["a"], &["b"], &["c"], &["a", "b"], &["b", "c"]];
        for id in 1..=60 {
            d.enqueue(task(id, id % 3, sets[id as usize % sets.len()]));
        }
        d.register(spec(2, &["a", "b"], 1));
        d.register(spec(3, &["b", "c"], 1));
        d.register(spec(4, &["a"], 1));
        d.register(spec(5, &["c"], 1));
        let rebalanced = d.rebalance();
        ok(&d);
        let holders: Vec<Vec<WorkerId>> = (1..=60).map(|id| d.holders(t(id))).collect();
        (rebalanced, d.snapshot(), holders)
    };
    for strategy in [BalanceStrategy::LeastQueue, BalanceStrategy::RoundRobin] {
        let first = run(strategy);
        assert!(first.0.moved > 0, "{:?}", first.0);
        for _ in 0..20 {
            assert_eq!(run(strategy), first, "{strategy:?}");
        }
    }
}
