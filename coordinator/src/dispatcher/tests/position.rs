//! Queue position: tasks ahead of a queued task in its best queue.

use super::*;

#[test]
fn position_counts_tasks_ahead_by_rank_then_id() {
    for mut d in all_modes() {
        d.register(spec(1, &[], 1));
        for (id, rank) in [(1, 0), (2, 5), (3, 0), (4, 5), (5, -1), (6, 9)] {
            d.enqueue(task(id, rank, &[]));
        }
        // Pop order: 6, 2, 4, 1, 3, 5.
        let positions: Vec<_> = (1..=6).map(|id| d.position(t(id))).collect();
        let expected = [3, 1, 4, 2, 5, 0].map(Some);
        assert_eq!(positions, expected);
        assert_eq!(d.fetch(w(1), 1), ts(&[6]));
        assert_eq!(d.position(t(6)), None, "in flight");
        assert_eq!(d.position(t(2)), Some(0));
        assert_eq!(d.position(t(5)), Some(4));
        d.confirm(w(1), &ts(&[6]));
        assert_eq!(d.position(t(6)), None, "running");
        assert_eq!(d.position(t(99)), None, "unknown");
        ok(&d);
    }
}

#[test]
fn position_counts_the_whole_queue_across_tag_sets() {
    for mut d in all_modes() {
        d.register(spec(1, &["a", "b"], 1));
        d.enqueue(task(1, 0, &[]));
        d.enqueue(task(2, 3, &["a"]));
        d.enqueue(task(3, 1, &["a", "b"]));
        d.enqueue(task(4, 3, &["b", "a"]));
        d.enqueue(task(5, 1, &["b"]));
        d.enqueue(task(6, 0, &["a"]));
        // Pop order: 2, 4, 3, 5, 1, 6, across four sub-queues.
        let positions: Vec<_> = (1..=6).map(|id| d.position(t(id))).collect();
        assert_eq!(positions, [4, 0, 2, 1, 3, 5].map(Some));
        ok(&d);
    }
}

#[test]
fn fanout_position_is_the_best_over_holders() {
    let mut d = fanout();
    d.register(spec(1, &["a"], 1));
    d.register(spec(2, &["a", "b"], 1));
    d.enqueue(task(1, 5, &["b"]));
    d.enqueue(task(2, 5, &["a"]));
    d.enqueue(task(3, 0, &["a"]));
    d.enqueue(task(4, 9, &["a", "b"]));
    // w1: 2, 3. w2: 4, 1, 2, 3.
    assert_eq!(d.position(t(3)), Some(1), "1 ahead on w1, 3 on w2");
    assert_eq!(d.position(t(2)), Some(0));
    assert_eq!(d.position(t(1)), Some(1));
    assert_eq!(d.position(t(4)), Some(0));
    d.unregister(w(1));
    assert_eq!(d.position(t(3)), Some(3), "only w2 holds it now");
    ok(&d);
}

#[test]
fn balanced_position_ignores_stealing() {
    for mut d in [least_queue(), round_robin()] {
        d.register(spec(1, &[], 1));
        for id in 1..=4 {
            d.enqueue(task(id, 0, &[]));
        }
        d.register(spec(2, &[], 1));
        assert_eq!(d.queue_len(w(2)), 0, "placed tasks are not backfilled");
        assert_eq!(d.position(t(4)), Some(3), "w2 could steal it, not counted");
        assert_eq!(d.fetch(w(2), 1), ts(&[1]));
        assert_eq!(d.position(t(4)), Some(2));
        ok(&d);
    }
}

#[test]
fn position_is_none_when_no_queue_holds_the_task() {
    for mut d in all_modes() {
        d.register(spec(1, &["linux"], 1));
        d.enqueue(task(1, 0, &["gpu"]));
        assert!(d.is_queued(t(1)));
        assert_eq!(d.position(t(1)), None, "no candidate");
        assert!(
            !d.has_candidate(t(1)),
            "the caller shows no_matching_worker"
        );
        d.enqueue(task(2, 0, &["linux"]));
        assert_eq!(d.position(t(2)), Some(0));
        d.set_draining(w(1), true);
        assert_eq!(d.position(t(2)), None, "its only candidate drains");
        d.set_draining(w(1), false);
        assert_eq!(d.position(t(2)), Some(0));
        d.remove(t(2));
        assert_eq!(d.position(t(2)), None, "removed");
        ok(&d);
    }
}

#[test]
fn position_capped_bounds_the_count() {
    for mut d in all_modes() {
        d.register(spec(1, &[], 1));
        for id in 1..=10 {
            d.enqueue(task(id, 0, &[]));
        }
        assert_eq!(d.position(t(10)), Some(9));
        assert_eq!(d.position_capped(t(10), 3), Some(3), "3 or more");
        assert_eq!(d.position_capped(t(10), 9), Some(9));
        assert_eq!(d.position_capped(t(10), 100), Some(9));
        assert_eq!(d.position_capped(t(10), 0), Some(0));
        assert_eq!(d.position_capped(t(1), 3), Some(0));
        assert_eq!(d.position_capped(t(11), 3), None);
    }
    // Fanout: the minimum over holders, each counted up to the cap.
    let mut d = fanout();
    d.register(spec(1, &["a", "b"], 1));
    d.register(spec(2, &["a"], 1));
    for id in 1..=5 {
        d.enqueue(task(id, 0, &["b"]));
    }
    d.enqueue(task(6, 0, &["a"]));
    d.enqueue(task(7, -1, &["a"]));
    // w1: 1..=5, 6, 7. w2: 6, 7.
    assert_eq!(d.position_capped(t(7), 3), Some(1));
    assert_eq!(d.position_capped(t(7), 1), Some(1));
    assert_eq!(d.position_capped(t(7), 0), Some(0));
    assert_eq!(d.position_capped(t(6), 3), Some(0));
    d.set_draining(w(2), true);
    assert_eq!(d.position(t(7)), Some(6));
    assert_eq!(d.position_capped(t(7), 3), Some(3));
    ok(&d);
}
