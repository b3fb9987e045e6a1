//! The lease and its fence, statement by statement on real PostgreSQL: one
//! election wins, a lapsed lease is taken as a new epoch, a statement fenced
//! with an old epoch changes nothing and says so, an election waits for the
//! fenced statements in flight while a renewal does not.

use std::time::Duration;

use sea_orm::{DatabaseConnection, TransactionTrait};
use switchyard_coordinator::domain::Epoch;
use switchyard_coordinator::storage::{self, leadership};
use switchyard_protocol::TaskId;
use switchyard_tests::{
    TestDatabase, backends_waiting_on_a_lock, insert_queued_task, test_database, wait_until,
};

/// Long enough never to lapse during a test.
const LONG: f64 = 600.0;

#[tokio::test]
async fn one_election_wins_and_a_lapsed_lease_becomes_a_new_epoch() {
    let database = test_database().await;
    let db = database.connect().await;
    let first = leadership::elect(&db, "a", "http://a", LONG).await.unwrap();
    let Some(first) = first else {
        panic!("the free lease was not taken")
    };
    assert_eq!(
        leadership::elect(&db, "b", "http://b", LONG).await.unwrap(),
        None,
        "a held lease is not taken"
    );
    assert!(leadership::renew(&db, "a", first, LONG).await.unwrap());
    assert!(
        !leadership::renew(&db, "b", first, LONG).await.unwrap(),
        "only the holder renews"
    );

    // a's lease lapses at once: b takes it as the next epoch, and a can no
    // longer renew the old one.
    assert!(leadership::renew(&db, "a", first, 0.0).await.unwrap());
    let second = wait_until(
        "b to take the lapsed lease",
        Duration::from_secs(10),
        || {
            let db = &db;
            async move { leadership::elect(db, "b", "http://b", LONG).await.unwrap() }
        },
    )
    .await;
    assert_eq!(second, first + 1);
    assert!(!leadership::renew(&db, "a", first, LONG).await.unwrap());
    let lease = leadership::lease(&db).await.unwrap().unwrap();
    assert_eq!(
        (lease.epoch, lease.holder.as_deref(), lease.url.as_deref()),
        (second, Some("b"), Some("http://b"))
    );
    assert!(lease.held);
}

#[tokio::test]
async fn a_statement_fenced_with_an_old_epoch_fails_and_changes_nothing() {
    let (_database, db, epoch, task) = leading_with_a_task().await;

    let current = storage::tasks::end_fence(&db, &[task], Some(Epoch(epoch))).await;
    assert!(current.is_ok(), "the current epoch passes: {current:?}");
    for stale in [Some(Epoch(epoch - 1)), Some(Epoch(epoch + 1)), None] {
        let error = storage::tasks::end_fence(&db, &[task], stale)
            .await
            .expect_err("a stale epoch is refused");
        assert!(storage::is_fenced(&error), "{stale:?}: {error}");
    }
}

#[tokio::test]
async fn an_election_waits_for_fenced_statements_in_flight_and_a_renewal_does_not() {
    let (database, db, epoch, task) = leading_with_a_task().await;

    // A fenced statement of epoch `epoch`, its transaction still open.
    let txn = db.begin().await.unwrap();
    storage::tasks::end_fence(&txn, &[task], Some(Epoch(epoch)))
        .await
        .unwrap();

    // A renewal goes through meanwhile; so does lapsing the lease.
    let renewed = tokio::time::timeout(
        Duration::from_secs(10),
        leadership::renew(&db, "a", epoch, 0.0),
    )
    .await
    .expect("a renewal does not wait for fenced statements");
    assert!(renewed.unwrap());

    // An election waits for the open transaction...
    let other = database.connect().await;
    let election = tokio::spawn(async move {
        wait_until(
            "b to take the lapsed lease",
            Duration::from_secs(20),
            || {
                let other = &other;
                async move {
                    leadership::elect(other, "b", "http://b", LONG)
                        .await
                        .unwrap()
                }
            },
        )
        .await
    });
    wait_until(
        "the election to wait for the fenced transaction",
        Duration::from_secs(10),
        || async { (backends_waiting_on_a_lock(&db).await > 0).then_some(()) },
    )
    .await;
    assert!(!election.is_finished());

    // ...and wins once it ends, after which the old epoch is refused.
    txn.commit().await.unwrap();
    let won = election.await.unwrap();
    assert_eq!(won, epoch + 1);
    let error = storage::tasks::end_fence(&db, &[task], Some(Epoch(epoch)))
        .await
        .expect_err("the old epoch is refused after the election");
    assert!(storage::is_fenced(&error), "{error}");
}

/// A database whose lease `a` holds (its epoch), with one queued task.
async fn leading_with_a_task() -> (TestDatabase, DatabaseConnection, i64, TaskId) {
    let database = test_database().await;
    let db = database.connect().await;
    let epoch = leadership::elect(&db, "a", "http://a", LONG)
        .await
        .unwrap()
        .unwrap();
    let task = insert_queued_task(&db, &[]).await;
    (database, db, epoch, task)
}
