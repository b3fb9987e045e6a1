//! What one connection is doing, as the server's timeouts see it: waiting
//! for a request's head, serving requests, or idle between them; and
//! therefore when it must be closed.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::admission::{Admission, Admitted, Occupant};
use super::limits::HttpLimits;

/// How long a connection asked to close may go without moving bytes
/// (finishing its last answer) before it is closed.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// Longest a connection asked to close may take to finish its last answer,
/// however slowly its client reads.
const CLOSE_LIMIT: Duration = Duration::from_secs(10);

/// Why a connection is closed by the server before the client closes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Expiry {
    /// A request head (or the TLS handshake) took longer than the header timeout.
    Header,
    /// No request and no bytes moving for the idle timeout.
    Idle,
    /// Evicted for a newcomer, or the server is shutting down.
    Closing,
}

impl Expiry {
    /// The reason as a log field.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Self::Header => "header timeout",
            Self::Idle => "idle timeout",
            Self::Closing => "closing",
        }
    }
}

/// One admitted connection's state, shared by its socket wrapper, its
/// request service and its task. Dropping the last handle gives its place
/// back to the [`Admission`] table, which sees it as an [`Occupant`].
#[derive(Debug)]
pub(super) struct Activity {
    phase: Mutex<Phase>,
    /// Cancelled to ask the connection to close (eviction, or shutdown
    /// through the parent token); a request in progress still finishes.
    close: CancellationToken,
    /// Woken when the deadline may have moved earlier or come back (a
    /// request answered, a head started).
    changed: Notify,
    admission: Arc<Admission>,
}

#[derive(Debug)]
struct Phase {
    /// Requests whose answer is not yet produced.
    in_flight: u32,
    /// Of those, requests that only wait out a delay of their own choosing
    /// (a refused credential's); a connection whose requests all do may be
    /// evicted like an idle one.
    parked: u32,
    /// Changes whenever the connection starts or stops waiting for a
    /// request, so a stale entry of the admission's waiting queue is told
    /// from a current one.
    epoch: u64,
    /// When the head now arriving began: at accept for a new connection,
    /// at the first byte after an idle pause otherwise.
    head_since: Option<Instant>,
    /// When bytes last moved, or the last answer was produced.
    last_io: Instant,
    /// When the connection was first seen asked to close, between requests.
    closing_since: Option<Instant>,
}

impl Activity {
    /// Admits a connection accepted now into `admission`'s table (see
    /// [`Admission::admit`]); `close` is its close token.
    pub(super) fn admit(admission: &Arc<Admission>, close: CancellationToken) -> Admitted<Self> {
        admission.admit(|admission| Self::new(admission, close))
    }

    /// A connection accepted now; its first head is due within the header timeout.
    fn new(admission: Arc<Admission>, close: CancellationToken) -> Self {
        let now = Instant::now();
        Self {
            phase: Mutex::new(Phase {
                in_flight: 0,
                parked: 0,
                epoch: 0,
                head_since: Some(now),
                last_io: now,
                closing_since: None,
            }),
            close,
            changed: Notify::new(),
            admission,
        }
    }

    fn phase(&self) -> MutexGuard<'_, Phase> {
        // The phase is plain data that no panic leaves half-written.
        self.phase.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The token that asks this connection to close.
    pub(super) fn close_token(&self) -> &CancellationToken {
        &self.close
    }

    /// Resolves when [`deadline`](Self::deadline) may have changed.
    pub(super) async fn changed(&self) {
        self.changed.notified().await;
    }

    /// Bytes arrived. Between requests, the first byte starts the header timeout.
    pub(super) fn on_read(&self) {
        let now = Instant::now();
        let mut phase = self.phase();
        phase.last_io = now;
        if phase.in_flight == 0 && phase.head_since.is_none() {
            phase.head_since = Some(now);
            drop(phase);
            self.changed.notify_one();
        }
    }

    /// Bytes left.
    pub(super) fn on_write(&self) {
        self.phase().last_io = Instant::now();
    }

    /// A request's head is complete: no timeout of the connection applies
    /// until its answer is produced (the body has its own).
    pub(super) fn request_started(self: &Arc<Self>) -> RequestGuard {
        let mut phase = self.phase();
        phase.in_flight += 1;
        phase.head_since = None;
        phase.epoch += 1;
        RequestGuard(Arc::clone(self))
    }

    fn request_finished(self: &Arc<Self>) {
        let epoch = {
            let mut phase = self.phase();
            phase.in_flight = phase.in_flight.saturating_sub(1);
            if phase.in_flight > 0 {
                return;
            }
            phase.last_io = Instant::now();
            phase.epoch += 1;
            phase.epoch
        };
        self.changed.notify_one();
        let waiting: Weak<Self> = Arc::downgrade(self);
        self.admission.waiting(waiting, epoch);
    }

    /// Waits `delay` in a request without holding the connection's place:
    /// meanwhile the connection may be evicted for a newcomer, which ends
    /// the wait at once.
    async fn park(self: &Arc<Self>, delay: Duration) {
        let evictable_since = {
            let mut phase = self.phase();
            phase.parked += 1;
            phase.epoch += 1;
            (phase.in_flight == phase.parked).then_some(phase.epoch)
        };
        if let Some(epoch) = evictable_since {
            let waiting: Weak<Self> = Arc::downgrade(self);
            self.admission.waiting(waiting, epoch);
        }
        tokio::select! {
            () = tokio::time::sleep(delay) => {}
            () = self.close.cancelled() => {}
        }
        let mut phase = self.phase();
        phase.parked = phase.parked.saturating_sub(1);
        phase.epoch += 1;
    }

    /// When the connection must be closed if nothing happens before, and
    /// why; `None` while a request is in progress. A connection asked to
    /// close goes at once while a head is arriving (or none has), and
    /// otherwise once its bytes have stopped moving for a moment (its last
    /// answer written).
    pub(super) fn deadline(&self, limits: &HttpLimits) -> Option<(Instant, Expiry)> {
        let mut phase = self.phase();
        if phase.in_flight > 0 {
            return None;
        }
        let closing = self.close.is_cancelled();
        Some(match phase.head_since {
            Some(_) if closing => (Instant::now(), Expiry::Closing),
            Some(since) => (since + limits.header_timeout, Expiry::Header),
            None => {
                let idle = phase.last_io + limits.idle_timeout;
                if !closing {
                    return Some((idle, Expiry::Idle));
                }
                // Bytes moving keep a closing connection open a little,
                // never past the limit: a slow reader cannot hold it.
                let since = *phase.closing_since.get_or_insert_with(Instant::now);
                let soon = (phase.last_io + CLOSE_GRACE).min(since + CLOSE_LIMIT);
                (soon.min(idle), Expiry::Closing)
            }
        })
    }
}

impl Occupant for Activity {
    /// Whether the connection waits for a request (or only waits out a
    /// parked delay) since `epoch`, and may be evicted for a newcomer.
    fn evictable(&self, epoch: u64) -> bool {
        let phase = self.phase();
        phase.epoch == epoch && phase.in_flight == phase.parked && !self.close.is_cancelled()
    }

    fn evict(&self) {
        self.close.cancel();
    }
}

impl Drop for Activity {
    fn drop(&mut self) {
        self.admission.release();
    }
}

/// A handle a request may use to wait without holding its connection's
/// place (see [`Activity::park`]); the server puts one in each request's
/// extensions.
#[derive(Debug, Clone)]
pub struct Parking(pub(super) Arc<Activity>);

impl Parking {
    /// Waits `delay`, or less if the connection is evicted meanwhile.
    pub async fn wait(&self, delay: Duration) {
        self.0.park(delay).await;
    }
}

/// A request in progress; dropping it (answer produced, or the request
/// abandoned) lets the connection's timeouts run again.
#[derive(Debug)]
pub(super) struct RequestGuard(Arc<Activity>);

impl Drop for RequestGuard {
    fn drop(&mut self) {
        self.0.request_finished();
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
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
}
