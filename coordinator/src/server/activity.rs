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
mod tests;
