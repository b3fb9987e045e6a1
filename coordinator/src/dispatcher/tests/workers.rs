//! Worker operations in both modes: register, update, drain, unregister.

use super::*;

#[test]
fn fanout_register_backfills_every_matching_task() {
    let mut d = fanout();
    d.register(spec(1, &["linux", "gpu"], 1));
    for id in 1..=5 {
        d.enqueue(task(id, 0, &["linux"]));
    }
    d.enqueue(task(6, 0, &["gpu"]));
    d.enqueue(task(7, 0, &["arm"]));
    assert_eq!(d.register(spec(2, &["linux", "arm"], 1)), ws(&[2]));
    assert_eq!(d.queue_len(w(2)), 6);
    assert_eq!(d.holders(t(3)), ws(&[1, 2]));
    assert_eq!(d.holders(t(7)), ws(&[2]));
    assert!(d.register(spec(3, &["windows"], 1)).is_empty());
    ok(&d);
}

#[test]
fn balanced_register_backfills_only_unplaced_tasks() {
    let mut d = least_queue();
    d.register(spec(1, &["linux"], 1));
    for id in 1..=5 {
        d.enqueue(task(id, 0, &["linux"]));
    }
    d.enqueue(task(6, 0, &["linux", "gpu"]));
    assert_eq!(d.register(spec(2, &["linux", "gpu"], 1)), ws(&[2]));
    assert_eq!(d.queue_len(w(1)), 5, "no automatic rebalance");
    assert_eq!(d.holders(t(6)), ws(&[2]));
    ok(&d);
}

#[test]
fn register_again_updates() {
    for mut d in all_modes() {
        d.register(spec(1, &["a"], 1));
        d.enqueue(task(1, 0, &["b"]));
        assert_eq!(d.register(spec(1, &["a", "b"], 2)), ws(&[1]));
        assert_eq!(d.snapshot().workers[0].slots, 2);
        assert_eq!(d.holders(t(1)), ws(&[1]));
        ok(&d);
    }
}

#[test]
fn dropping_a_tag_stops_those_tasks_reaching_the_worker() {
    for mut d in all_modes() {
        d.register(spec(1, &["linux", "gpu"], 1000));
        for id in 1..=100 {
            d.enqueue(task(id, 0, &["linux", "gpu"]));
        }
        for id in 101..=110 {
            d.enqueue(task(id, 0, &["linux"]));
        }
        d.update_worker(spec(1, &["linux"], 1000));
        ok(&d);
        assert_eq!(d.queue_len(w(1)), 10);
        let got = d.fetch(w(1), 1000);
        assert_eq!(got, (101..=110).map(TaskId).collect::<Vec<_>>());
        assert!(d.is_queued(t(50)));
        assert!(!d.has_candidate(t(50)));
        // Another gpu worker picks them up; the first one still gets none.
        assert_eq!(d.register(spec(2, &["gpu", "linux"], 1000)), ws(&[2]));
        assert_eq!(d.queue_len(w(2)), 100);
        assert!(d.fetch(w(1), 1000).is_empty());
        assert_eq!(d.fetch(w(2), 1000).len(), 100);
        ok(&d);
    }
}

#[test]
fn update_moves_unmatched_tasks_to_other_candidates() {
    for mut d in [least_queue(), round_robin()] {
        d.register(spec(1, &["a", "b"], 1));
        for id in 1..=6 {
            d.enqueue(task(id, 0, &["b"]));
        }
        d.register(spec(2, &["b"], 1));
        d.register(spec(3, &["b", "c"], 1));
        let woken = d.update_worker(spec(1, &["a"], 1));
        assert_eq!(woken, ws(&[2, 3]));
        assert_eq!((d.queue_len(w(2)), d.queue_len(w(3))), (3, 3));
        ok(&d);
    }
}

#[test]
fn update_keeps_running_work_and_changes_slots() {
    for mut d in all_modes() {
        d.register(spec(1, &["a"], 1));
        d.enqueue(task(1, 0, &["a"]));
        d.enqueue(task(2, 0, &["a"]));
        let got = d.fetch(w(1), 1);
        d.confirm(w(1), &got);
        d.update_worker(spec(1, &["b"], 2));
        assert_eq!(d.running_len(w(1)), 1);
        assert!(d.holders(t(2)).is_empty());
        assert!(d.update_worker(spec(9, &["a"], 1)).is_empty(), "unknown");
        d.update_worker(spec(1, &["a"], 2));
        assert_eq!(d.fetch(w(1), 5), ts(&[2]), "two slots now");
        ok(&d);
    }
}

#[test]
fn draining_redistributes_and_undraining_backfills() {
    for mut d in all_modes() {
        d.register(spec(1, &[], 1));
        d.register(spec(2, &[], 1));
        for id in 1..=4 {
            d.enqueue(task(id, 0, &[]));
        }
        let woken = d.set_draining(w(1), true);
        assert_eq!(d.queue_len(w(1)), 0);
        assert_eq!(d.queue_len(w(2)), 4);
        assert!(d.set_draining(w(1), true).is_empty(), "already draining");
        assert!(d.is_draining(w(1)));
        ok(&d);
        if d.mode() == DispatchMode::Balanced {
            assert_eq!(woken, ws(&[2]));
        }
        d.set_draining(w(2), true);
        assert_eq!(d.snapshot().unplaced, 4);
        assert_eq!(d.set_draining(w(1), false), ws(&[1]));
        assert_eq!(d.queue_len(w(1)), 4);
        ok(&d);
    }
}

#[test]
fn unregister_returns_busy_work_and_moves_queued_work() {
    for mut d in all_modes() {
        d.register(spec(1, &["a"], 2));
        d.register(spec(2, &["a"], 2));
        d.register(spec(3, &["b"], 2));
        for id in 1..=6 {
            d.enqueue(task(id, 0, &["a"]));
        }
        let got = d.fetch(w(1), 2);
        d.confirm(w(1), &got[..1]);
        let gone = d.unregister(w(1));
        let mut expected = got.clone();
        expected.sort();
        assert_eq!(gone.running, expected, "running and in flight come back");
        ok(&d);
        assert_eq!(d.queued_total(), 4);
        assert_eq!(
            d.queue_len(w(2)),
            4,
            "every queued task found its candidate"
        );
        for id in got {
            assert_eq!(d.enqueue(task(id.0, 0, &["a"])), ws(&[2]), "requeued");
        }
        let last = d.unregister(w(2));
        assert!(last.running.is_empty() && last.woken.is_empty());
        assert_eq!(d.queued_total(), 6);
        assert_eq!(
            d.snapshot().unplaced,
            6,
            "no candidate left: kept, unplaced"
        );
        assert!(d.unregister(w(2)).running.is_empty(), "twice is harmless");
        assert_eq!(d.register(spec(4, &["a", "b"], 1)), ws(&[4]));
        assert_eq!(d.queue_len(w(4)), 6);
        ok(&d);
    }
}

#[test]
fn balanced_unregister_places_each_task_once_by_strategy() {
    let mut d = least_queue();
    d.register(spec(1, &[], 1));
    for id in 1..=9 {
        d.enqueue(task(id, 0, &[]));
    }
    d.register(spec(2, &[], 1));
    d.register(spec(3, &[], 1));
    d.set_running(w(2), &ts(&[100, 101, 102]));
    let gone = d.unregister(w(1));
    assert_eq!(gone.woken, ws(&[2, 3]));
    // w2 starts at load 3, w3 at 0: 9 tasks end 6 / 6.
    assert_eq!((d.queue_len(w(2)), d.queue_len(w(3))), (3, 6));
    ok(&d);
}

#[test]
fn tag_sets_are_forgotten_when_unused() {
    for mut d in all_modes() {
        d.register(spec(1, &["x", "y"], 1));
        d.enqueue(task(1, 0, &["x"]));
        d.enqueue(task(2, 0, &["q"]));
        d.remove(t(2));
        d.fetch(w(1), 1);
        d.confirm(w(1), &ts(&[1]));
        d.update_worker(spec(1, &["z"], 1));
        ok(&d);
        d.unregister(w(1));
        ok(&d);
        assert!(d.snapshot().tag_sets.is_empty());
        d.register(spec(1, &["x"], 1));
        assert_eq!(d.enqueue(task(3, 0, &["x"])), ws(&[1]));
        ok(&d);
    }
}
