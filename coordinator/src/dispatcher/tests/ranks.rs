//! Ordering by rank: the priority itself, or the aging shape
//! `priority × step_ms − submitted_at_ms`, which the dispatcher only compares.

use super::*;

/// One priority level per minute of waiting.
const STEP_MS: i64 = 60_000;
/// A submit time in milliseconds since the epoch (November 2023).
const T0: i64 = 1_700_000_000_000;

/// The rank the service computes with aging on.
fn aged(priority: i64, submitted_ms: i64) -> i64 {
    priority * STEP_MS - submitted_ms
}

#[test]
fn aged_ranks_order_by_priority_plus_wait() {
    for mut d in all_modes() {
        d.register(spec(1, &[], 10));
        // Priority 0 waiting 10 min more beats priority 9 (10 levels > 9).
        d.enqueue(task(1, aged(0, T0), &[]));
        d.enqueue(task(2, aged(9, T0 + 10 * STEP_MS), &[]));
        // 9 levels of wait against 9 of priority: a tie, submit order wins.
        d.enqueue(task(3, aged(9, T0 + 9 * STEP_MS), &[]));
        // Priority 5 submitted one minute later: 4 levels ahead of task 1.
        d.enqueue(task(4, aged(5, T0 + STEP_MS), &[]));
        // Negative priorities age too.
        d.enqueue(task(5, aged(-3, T0 + 2 * STEP_MS), &[]));
        assert_eq!(d.fetch(w(1), 10), ts(&[4, 1, 3, 2, 5]));
        ok(&d);
    }
}

#[test]
fn extreme_ranks_compare_without_overflow() {
    for mut d in all_modes() {
        d.register(spec(1, &[], 10));
        for (id, rank) in [(1, i64::MIN), (2, 0), (3, i64::MAX), (4, -1), (5, i64::MIN)] {
            d.enqueue(task(id, rank, &[]));
        }
        assert_eq!(d.position(t(5)), Some(4));
        assert_eq!(d.fetch(w(1), 10), ts(&[3, 2, 4, 1, 5]));
        ok(&d);
    }
}

#[test]
fn restore_keeps_the_rank() {
    for mut d in all_modes() {
        d.register(spec(1, &[], 1));
        d.enqueue(task(1, aged(0, T0), &[]));
        d.enqueue(task(2, aged(2, T0 + STEP_MS), &[]));
        d.enqueue(task(3, aged(0, T0 + STEP_MS), &[]));
        assert_eq!(d.fetch(w(1), 1), ts(&[2]));
        d.restore(w(1), &ts(&[2]));
        ok(&d);
        assert_eq!(d.position(t(2)), Some(0));
        assert_eq!(d.position(t(3)), Some(2));
        assert_eq!(drain_all(&mut d, w(1)), ts(&[2, 1, 3]));
    }
}

#[test]
fn stealing_and_rebalance_take_the_best_ranked_task() {
    let mut d = least_queue();
    d.register(spec(1, &[], 1));
    for (id, priority, minute) in [(1, 0, 0), (2, 0, 1), (3, 4, 2), (4, 3, 3), (5, 0, 4)] {
        d.enqueue(task(id, aged(priority, T0 + minute * STEP_MS), &[]));
    }
    d.register(spec(2, &[], 1));
    assert_eq!(d.fetch(w(2), 1), ts(&[3]), "stolen: the best rank");
    d.confirm(w(2), &ts(&[3]));
    d.finish(w(2), t(3));
    d.register(spec(3, &[], 1));
    // w1 holds, best first, 1 and 4 (equal ranks: by id), 2, 5; w2 and w3
    // are idle.
    let moved = d.rebalance();
    assert_eq!(moved.moved, 2);
    assert_eq!(moved.woken, ws(&[2, 3]));
    assert_eq!(d.holders(t(1)), ws(&[2]), "the best rank, lowest id");
    assert_eq!(d.holders(t(4)), ws(&[3]), "same rank as 1, beats 2");
    assert_eq!(d.holders(t(2)), ws(&[1]));
    assert_eq!(d.holders(t(5)), ws(&[1]));
    ok(&d);
}

#[test]
fn seeding_places_by_rank() {
    for mut d in all_modes() {
        d.register(spec(1, &[], 10));
        let token = d.begin_seed();
        let snapshot = vec![
            task(1, aged(0, T0), &[]),
            task(2, aged(3, T0 + 5 * STEP_MS), &[]),
            task(3, aged(1, T0 + STEP_MS), &[]),
            task(4, aged(0, T0 - STEP_MS), &[]),
        ];
        assert_eq!(d.finish_seed(token, snapshot), ws(&[1]));
        ok(&d);
        assert_eq!(d.fetch(w(1), 10), ts(&[4, 1, 3, 2]));
    }
}
