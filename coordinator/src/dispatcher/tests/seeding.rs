//! Seeding from a database snapshot while operations go on.

use super::*;

fn snapshot_of(ids: &[i64]) -> Vec<QueuedTask> {
    ids.iter().map(|&id| task(id, 0, &["a"])).collect()
}

#[test]
fn seeding_twice_creates_no_duplicates() {
    for mut d in all_modes() {
        d.register(spec(1, &["a"], 1));
        d.register(spec(2, &["a"], 1));
        let token = d.begin_seed();
        let woken = d.finish_seed(token, snapshot_of(&[1, 2, 3, 4]));
        assert_eq!(woken, ws(&[1, 2]));
        let token = d.begin_seed();
        assert!(d.finish_seed(token, snapshot_of(&[1, 2, 3, 4])).is_empty());
        assert_eq!(d.queued_total(), 4);
        let per_task = if d.mode() == DispatchMode::Fanout {
            2
        } else {
            1
        };
        assert_eq!(d.queue_len(w(1)) + d.queue_len(w(2)), 4 * per_task);
        ok(&d);
    }
}

#[test]
fn seeding_spreads_in_bulk_by_strategy() {
    for mut d in [least_queue(), round_robin()] {
        for id in 1..=3 {
            d.register(spec(id, &["a"], 1));
        }
        d.set_running(w(1), &ts(&[100, 101, 102]));
        let token = d.begin_seed();
        d.finish_seed(token, snapshot_of(&(1..=30).collect::<Vec<_>>()));
        let loads: Vec<usize> = (1..=3)
            .map(|i| d.queue_len(w(i)) + d.running_len(w(i)))
            .collect();
        assert_eq!(loads, vec![11, 11, 11]);
        ok(&d);
    }
}

#[test]
fn seeding_while_tasks_change_loses_and_duplicates_nothing() {
    for mut d in all_modes() {
        d.register(spec(1, &["a"], 10));
        d.enqueue(task(1, 0, &["a"])); // will be cancelled before the read
        d.enqueue(task(2, 0, &["zzz"])); // stale: gone from the database long ago
        d.enqueue(task(3, 0, &["a"])); // fetched after the read
        d.enqueue(task(4, 0, &["a"])); // cancelled after the read
        let token = d.begin_seed();
        assert!(d.remove(t(1)));
        d.enqueue(task(5, 0, &["a"])); // submitted before the read
        d.enqueue(task(6, 0, &["a"])); // submitted after the read
        // The read: 3, 4, 5 are queued in the database, and 7, which the
        // dispatcher missed; 8 is queued but will be fetched, then finish.
        let read = snapshot_of(&[3, 4, 5, 7, 8]);
        assert_eq!(d.fetch(w(1), 1), ts(&[3]));
        assert!(d.remove(t(4)));
        d.enqueue(task(8, 0, &["a"]));
        let got = d.fetch(w(1), 10);
        assert!(got.contains(&t(8)));
        d.confirm(w(1), &got);
        d.finish(w(1), t(8));
        d.restore(w(1), &[]);
        let woken = d.finish_seed(token, read);
        assert_eq!(woken, ws(&[1]), "7 was added");
        ok(&d);
        for (id, queued) in [
            (1, false),
            (2, false),
            (3, false),
            (4, false),
            (7, true),
            (8, false),
        ] {
            assert_eq!(d.is_queued(t(id)), queued, "task {id}");
        }
        assert_eq!(d.running_len(w(1)), 3, "3, 5 and 6 run");
        assert_eq!(d.queued_total(), 1);
    }
}

#[test]
fn enqueued_after_begin_survives_a_snapshot_without_it() {
    for mut d in all_modes() {
        d.register(spec(1, &["a"], 10));
        d.enqueue(task(1, 0, &["b"]));
        let token = d.begin_seed();
        d.enqueue(task(2, 0, &["a"]));
        let got = d.fetch(w(1), 10);
        d.restore(w(1), &got);
        d.finish_seed(token, snapshot_of(&[]));
        assert!(!d.is_queued(t(1)), "gone from the database before the seed");
        assert!(d.is_queued(t(2)));
        ok(&d);
    }
}

#[test]
fn overlapping_and_aborted_seeds() {
    for mut d in all_modes() {
        d.register(spec(1, &["a"], 10));
        let first = d.begin_seed();
        let second = d.begin_seed();
        d.abort_seed(first);
        d.enqueue(task(1, 0, &["a"]));
        let third = d.begin_seed();
        assert!(d.remove(t(1)));
        d.finish_seed(second, snapshot_of(&[1, 2]));
        assert!(!d.is_queued(t(1)), "removed after the second seed began");
        assert!(d.is_queued(t(2)));
        // Added by another seed after the third began: the third cannot tell
        // whether its read came before, so it keeps the task (at worst a
        // stale task the database later refuses; never a lost one).
        d.finish_seed(third, snapshot_of(&[]));
        assert!(d.is_queued(t(2)));
        let fourth = d.begin_seed();
        d.finish_seed(fourth, snapshot_of(&[]));
        assert!(!d.is_queued(t(2)), "the fourth read saw 2 gone");
        ok(&d);
    }
}

#[test]
fn seeded_tasks_without_candidate_wait_unplaced() {
    for mut d in all_modes() {
        let token = d.begin_seed();
        assert!(d.finish_seed(token, vec![task(1, 0, &["gpu"])]).is_empty());
        assert_eq!(d.snapshot().unplaced, 1);
        assert_eq!(d.register(spec(1, &["gpu"], 1)), ws(&[1]));
        ok(&d);
    }
}
