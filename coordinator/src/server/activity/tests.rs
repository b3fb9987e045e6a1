//! How a connection's activity sets its deadline, and how the connection
//! table admits and evicts real connections.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;

const LIMITS: HttpLimits = HttpLimits {
    header_timeout: Duration::from_secs(10),
    body_timeout: Duration::from_secs(30),
    idle_timeout: Duration::from_secs(75),
    max_connections: 8,
};

fn connection() -> Arc<Activity> {
    admit(&Admission::new(8)).expect("an empty table is full")
}

fn admit(admission: &Arc<Admission>) -> Option<Arc<Activity>> {
    match Activity::admit(admission, CancellationToken::new()) {
        Admitted::Yes(activity) => Some(activity),
        Admitted::Full => None,
    }
}

#[tokio::test(start_paused = true)]
async fn a_new_connection_has_the_header_timeout_and_a_busy_one_none() {
    let activity = connection();
    let (at, expiry) = activity.deadline(&LIMITS).unwrap();
    assert_eq!(expiry, Expiry::Header);
    assert_eq!(at, Instant::now() + LIMITS.header_timeout);
    let busy = activity.request_started();
    assert!(
        activity.deadline(&LIMITS).is_none(),
        "a long-poll is never cut"
    );
    tokio::time::advance(Duration::from_secs(120)).await;
    drop(busy);
    let (at, expiry) = activity.deadline(&LIMITS).unwrap();
    assert_eq!(expiry, Expiry::Idle);
    assert_eq!(at, Instant::now() + LIMITS.idle_timeout);
}

#[tokio::test(start_paused = true)]
async fn the_header_timeout_counts_from_the_first_byte_and_is_not_reset_by_more() {
    let activity = connection();
    drop(activity.request_started());
    tokio::time::advance(Duration::from_secs(5)).await;
    activity.on_read();
    let first_byte = Instant::now();
    tokio::time::advance(Duration::from_secs(3)).await;
    activity.on_read();
    assert_eq!(
        activity.deadline(&LIMITS),
        Some((first_byte + LIMITS.header_timeout, Expiry::Header))
    );
}

#[tokio::test(start_paused = true)]
async fn a_connection_asked_to_close_goes_now_unless_it_may_be_writing() {
    let slow_head = connection();
    slow_head.on_read();
    slow_head.close_token().cancel();
    assert_eq!(
        slow_head.deadline(&LIMITS),
        Some((Instant::now(), Expiry::Closing))
    );
    let answered = connection();
    drop(answered.request_started());
    answered.close_token().cancel();
    assert_eq!(
        answered.deadline(&LIMITS),
        Some((Instant::now() + CLOSE_GRACE, Expiry::Closing))
    );
}

#[tokio::test(start_paused = true)]
async fn a_slow_reader_cannot_hold_a_closing_connection_past_the_limit() {
    let reader = connection();
    drop(reader.request_started());
    reader.close_token().cancel();
    let asked = Instant::now();
    // The connection's task, woken by the token, looks at once.
    assert!(reader.deadline(&LIMITS).is_some());
    // A byte leaves every half second, for ever.
    for _ in 0..40 {
        tokio::time::advance(Duration::from_millis(500)).await;
        reader.on_write();
        let (at, expiry) = reader.deadline(&LIMITS).unwrap();
        assert_eq!(expiry, Expiry::Closing);
        assert!(
            at <= asked + CLOSE_LIMIT,
            "held open until {:?}",
            at - asked
        );
    }
}

#[tokio::test(start_paused = true)]
async fn a_parked_request_leaves_its_connection_evictable() {
    let activity = connection();
    let busy = activity.request_started();
    let epoch = activity.phase().epoch;
    assert!(
        !activity.evictable(epoch),
        "a request in progress holds its place"
    );
    let parked = {
        let activity = Arc::clone(&activity);
        tokio::spawn(async move { activity.park(Duration::from_secs(60)).await })
    };
    tokio::task::yield_now().await;
    let epoch = activity.phase().epoch;
    assert!(activity.evictable(epoch), "a parked request gives it up");
    // Evicting it ends the wait at once.
    activity.close_token().cancel();
    parked.await.unwrap();
    drop(busy);
}

#[test]
fn a_full_table_evicts_the_longest_waiting_connection() {
    let admission = Admission::new(2);
    let first = admit(&admission).unwrap();
    let second = admit(&admission).unwrap();
    let third = admit(&admission).unwrap();
    assert!(first.close_token().is_cancelled(), "the oldest waiter goes");
    assert!(!second.close_token().is_cancelled());
    assert!(!third.close_token().is_cancelled());
    drop(first);
    assert_eq!(admission.open(), 2);
}

#[test]
fn busy_connections_are_never_evicted_and_a_full_busy_table_refuses() {
    let admission = Admission::new(2);
    let first = admit(&admission).unwrap();
    let second = admit(&admission).unwrap();
    let busy_first = first.request_started();
    let busy_second = second.request_started();
    assert!(admit(&admission).is_none(), "every connection is busy");
    assert!(!first.close_token().is_cancelled());
    drop(busy_first);
    // `first` waits again (its request is answered): it makes room.
    let third = admit(&admission).unwrap();
    assert!(first.close_token().is_cancelled());
    assert!(!second.close_token().is_cancelled());
    drop((busy_second, third));
}

#[test]
fn stale_entries_do_not_pile_up() {
    let admission = Admission::new(4);
    let connection = admit(&admission).unwrap();
    for _ in 0..1000 {
        drop(connection.request_started());
    }
    // One open connection: the queue is swept past 2 × 1 + 64 entries.
    assert!(admission.queued() <= 67);
}
