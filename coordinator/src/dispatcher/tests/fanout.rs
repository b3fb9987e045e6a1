//! Task operations, mostly in Fanout mode (and in every mode where the
//! behaviour is shared).

use super::*;

#[test]
fn enqueue_reaches_every_candidate_and_only_them() {
    let mut d = fanout();
    d.register(spec(1, &["linux", "gpu"], 2));
    d.register(spec(2, &["linux"], 2));
    d.register(spec(3, &["windows"], 2));
    assert_eq!(d.enqueue(task(1, 0, &["linux"])), ws(&[1, 2]));
    assert_eq!(d.enqueue(task(2, 0, &["gpu", "linux", "gpu"])), ws(&[1]));
    assert_eq!(d.enqueue(task(3, 0, &[])), ws(&[1, 2, 3]));
    assert_eq!(d.holders(t(1)), ws(&[1, 2]));
    assert_eq!(d.queue_len(w(1)), 3);
    assert_eq!(d.queued_total(), 3);
    ok(&d);
}

#[test]
fn enqueue_is_idempotent_in_every_state() {
    for mut d in all_modes() {
        d.register(spec(1, &[], 1));
        assert_eq!(d.enqueue(task(1, 0, &[])), ws(&[1]));
        assert!(d.enqueue(task(1, 5, &[])).is_empty(), "queued");
        assert_eq!(d.fetch(w(1), 1), ts(&[1]));
        assert!(d.enqueue(task(1, 0, &[])).is_empty(), "in flight");
        d.confirm(w(1), &ts(&[1]));
        assert!(d.enqueue(task(1, 0, &[])).is_empty(), "running");
        assert_eq!(d.queued_total(), 0);
        ok(&d);
    }
}

#[test]
fn task_without_candidate_waits_unplaced() {
    for mut d in all_modes() {
        d.register(spec(1, &["linux"], 1));
        assert!(d.enqueue(task(1, 0, &["gpu"])).is_empty());
        assert!(d.is_queued(t(1)));
        assert!(!d.has_candidate(t(1)));
        assert!(d.holders(t(1)).is_empty());
        assert_eq!(d.snapshot().unplaced, 1);
        assert_eq!(d.register(spec(2, &["gpu", "linux"], 1)), ws(&[2]));
        assert!(d.has_candidate(t(1)));
        assert_eq!(d.holders(t(1)), ws(&[2]));
        ok(&d);
    }
}

#[test]
fn fetch_pops_highest_rank_then_oldest() {
    for mut d in all_modes() {
        d.register(spec(1, &[], 10));
        for (id, rank) in [(1, 0), (2, 5), (3, 0), (4, 5), (5, -1), (6, 9)] {
            d.enqueue(task(id, rank, &[]));
        }
        assert_eq!(d.fetch(w(1), 10), ts(&[6, 2, 4, 1, 3, 5]));
        ok(&d);
    }
}

#[test]
fn fetch_respects_free_slots_and_max() {
    for mut d in all_modes() {
        d.register(spec(1, &[], 3));
        for id in 1..=10 {
            d.enqueue(task(id, 0, &[]));
        }
        assert_eq!(d.fetch(w(1), 2), ts(&[1, 2]));
        assert_eq!(d.fetch(w(1), 5), ts(&[3]), "in-flight tasks take slots");
        assert!(d.fetch(w(1), 5).is_empty());
        d.confirm(w(1), &ts(&[1, 2, 3]));
        assert!(d.fetch(w(1), 5).is_empty(), "running tasks take slots");
        d.finish(w(1), t(2));
        assert_eq!(d.running_len(w(1)), 2);
        assert_eq!(d.fetch(w(1), 5), ts(&[4]));
        assert!(d.fetch(w(1), 0).is_empty());
        ok(&d);
    }
}

#[test]
fn fetch_gives_nothing_to_draining_or_unknown_workers() {
    for mut d in all_modes() {
        d.register(spec(1, &[], 3));
        d.enqueue(task(1, 0, &[]));
        assert!(d.fetch(w(9), 1).is_empty());
        d.set_draining(w(1), true);
        assert!(d.fetch(w(1), 1).is_empty());
        assert!(d.is_queued(t(1)));
        ok(&d);
    }
}

#[test]
fn fanout_fetch_removes_the_task_from_every_queue() {
    let mut d = fanout();
    for id in 1..=3 {
        d.register(spec(id, &[], 1));
    }
    d.enqueue(task(1, 0, &[]));
    d.enqueue(task(2, 0, &[]));
    assert_eq!(d.fetch(w(2), 1), ts(&[1]));
    assert_eq!(d.queue_len(w(1)), 1);
    assert_eq!(d.queue_len(w(3)), 1);
    assert_eq!(d.fetch(w(3), 1), ts(&[2]));
    assert!(d.fetch(w(1), 1).is_empty());
    assert_eq!(d.running_len(w(2)), 1);
    ok(&d);
}

#[test]
fn abandon_forgets_and_frees_the_slot() {
    for mut d in all_modes() {
        d.register(spec(1, &[], 1));
        d.enqueue(task(1, 0, &[]));
        d.enqueue(task(2, 0, &[]));
        assert_eq!(d.fetch(w(1), 1), ts(&[1]));
        d.abandon(w(2), &ts(&[1]));
        assert_eq!(
            d.running_len(w(1)),
            1,
            "another worker's abandon is ignored"
        );
        d.abandon(w(1), &ts(&[1]));
        assert_eq!(d.running_len(w(1)), 0);
        assert!(!d.is_queued(t(1)));
        assert_eq!(d.fetch(w(1), 1), ts(&[2]));
        assert_eq!(
            d.enqueue(task(1, 0, &[])),
            ws(&[1]),
            "forgotten, so new again"
        );
        ok(&d);
    }
}

#[test]
fn restore_puts_tasks_back_in_order() {
    for mut d in all_modes() {
        d.register(spec(1, &[], 5));
        d.register(spec(2, &[], 5));
        for id in 1..=4 {
            d.enqueue(task(id, 0, &[]));
        }
        let got = d.fetch(w(1), 5);
        assert!(!got.is_empty());
        let woken = d.restore(w(1), &got);
        assert!(!woken.is_empty());
        assert_eq!(d.running_len(w(1)), 0);
        assert_eq!(d.queued_total(), 4);
        ok(&d);
        let mut all = d.fetch(w(1), 5);
        all.extend(d.fetch(w(2), 5));
        all.sort();
        assert_eq!(all, ts(&[1, 2, 3, 4]));
        assert!(d.restore(w(1), &ts(&[99])).is_empty());
    }
}

#[test]
fn confirm_then_finish_frees_slot_once() {
    for mut d in all_modes() {
        d.register(spec(1, &[], 2));
        d.enqueue(task(1, 0, &[]));
        let got = d.fetch(w(1), 1);
        d.confirm(w(1), &got);
        d.confirm(w(1), &got);
        assert_eq!(d.running_len(w(1)), 1);
        d.finish(w(2), t(1));
        assert_eq!(d.running_len(w(1)), 1, "another worker's finish is ignored");
        d.finish(w(1), t(1));
        d.finish(w(1), t(1));
        assert_eq!(d.running_len(w(1)), 0);
        ok(&d);
    }
}

#[test]
fn remove_takes_a_queued_task_out_of_every_queue() {
    for mut d in all_modes() {
        d.register(spec(1, &["a"], 1));
        d.register(spec(2, &["a"], 1));
        d.enqueue(task(1, 0, &["a"]));
        d.enqueue(task(2, 0, &["a"]));
        d.enqueue(task(3, 0, &["zzz"]));
        assert!(d.remove(t(1)));
        assert!(!d.remove(t(1)));
        assert!(d.remove(t(3)), "unplaced but queued");
        assert!(!d.is_queued(t(1)));
        assert_eq!(d.queue_len(w(1)) + d.queue_len(w(2)), d.holders(t(2)).len());
        assert_eq!(d.fetch(w(1), 1), ts(&[2]));
        assert!(!d.remove(t(2)), "in flight: the database decides");
        assert_eq!(d.running_len(w(1)), 1);
        ok(&d);
    }
}

#[test]
fn set_running_counts_before_and_after_registration() {
    for mut d in all_modes() {
        d.enqueue(task(1, 0, &[]));
        d.set_running(w(1), &ts(&[1, 2]));
        assert!(!d.is_queued(t(1)), "a queued task said to run is moved");
        assert_eq!(d.running_len(w(1)), 2);
        d.register(spec(1, &[], 3));
        assert_eq!(d.running_len(w(1)), 2);
        d.enqueue(task(3, 0, &[]));
        d.enqueue(task(4, 0, &[]));
        assert_eq!(d.fetch(w(1), 5), ts(&[3]));
        d.finish(w(1), t(1));
        assert_eq!(d.running_len(w(1)), 2);
        ok(&d);
        let gone = d.unregister(w(7));
        assert!(gone.running.is_empty());
        d.set_running(w(7), &ts(&[9]));
        assert_eq!(d.unregister(w(7)).running, ts(&[9]));
        assert_eq!(d.running_len(w(7)), 0);
        ok(&d);
    }
}

#[test]
fn snapshot_lists_queues_in_pop_order() {
    let mut d = fanout();
    d.register(spec(2, &["b", "a"], 4));
    d.register(spec(1, &["a"], 4));
    for id in 1..=150 {
        d.enqueue(task(id, if id % 2 == 0 { 1 } else { 0 }, &["a"]));
    }
    d.enqueue(task(151, 0, &["c"]));
    d.fetch(w(1), 1);
    let snap = d.snapshot();
    assert_eq!(snap.mode, DispatchMode::Fanout);
    assert_eq!(snap.strategy, BalanceStrategy::LeastQueue);
    assert_eq!(snap.queued_total, 150);
    assert_eq!(snap.unplaced, 1);
    assert_eq!(snap.workers.len(), 2);
    let w1 = &snap.workers[0];
    assert_eq!(
        (w1.id, w1.queued, w1.running, w1.in_flight),
        (w(1), 149, 1, 1)
    );
    assert_eq!(w1.queue.len(), 100);
    assert_eq!(&w1.queue[..3], &ts(&[4, 6, 8])[..]);
    assert_eq!(w1.queue[73], t(150));
    assert_eq!(w1.queue[74], t(1));
    assert_eq!(snap.workers[1].tags, vec!["a".to_owned(), "b".to_owned()]);
    let tag_sets: Vec<(Vec<String>, usize, usize)> = snap
        .tag_sets
        .iter()
        .map(|s| (s.tags.clone(), s.queued, s.candidates))
        .collect();
    assert_eq!(
        tag_sets,
        vec![(vec!["a".to_owned()], 149, 2), (vec!["c".to_owned()], 1, 0)]
    );
}
