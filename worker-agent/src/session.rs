//! What one registration of this agent shares among its loops and tasks:
//! the worker's client and id, its slots, the running tasks, the report
//! queue, the output on its way, the tracker tasks run on, the signals that
//! end it, and the lease.
//!
//! Running tasks live on a lease that each heartbeat the leading
//! coordinator answers renews: an agent cut off from every coordinator (or
//! hearing only `not_leader` from them) kills them before a coordinator
//! could hand them to another worker. Starting and ending the loops is
//! `registration`'s business; this module only holds what they share.
//!
//! With several coordinators, the client follows the leader among them
//! (shared by all the session's loops), and a `not_leader` answer leaves
//! the session as it is: the worker's row, id and token live in the shared
//! database, so the next leader knows them, and running tasks and queued
//! reports carry on towards it.

use std::sync::Arc;
use std::time::Duration;

use switchyard_protocol::{Client, WorkerId, WorkerView};
use tokio::sync::{Semaphore, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::isolation::Isolation;
use crate::output::Outbox;
use crate::reports::Reporter;
use crate::runner::Lease;
use crate::running::RunningTasks;

/// Heartbeat interval used when the coordinator's answer makes no sense.
const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);

/// State shared by a session's loops and tasks.
#[derive(Debug)]
pub(crate) struct Session {
    pub(crate) client: Client,
    pub(crate) worker_id: WorkerId,
    /// How tasks are kept apart from the agent and each other.
    pub(crate) isolation: Arc<Isolation>,
    pub(crate) heartbeat_interval: Duration,
    pub(crate) fetch_wait: Duration,
    /// One permit per slot; a running task holds one.
    pub(crate) slots: Arc<Semaphore>,
    pub(crate) running: RunningTasks,
    /// Reports waiting to be sent together, and the sending of them.
    pub(crate) reports: Reporter,
    /// Output of running tasks waiting to be sent.
    pub(crate) output: Arc<Outbox>,
    pub(crate) tasks: TaskTracker,
    /// Fired when the coordinator answers that it no longer knows this worker.
    pub(crate) gone: CancellationToken,
    /// Fired when the session is over; stops the heartbeat. Fires with `gone`.
    pub(crate) closed: CancellationToken,
    /// Until when running tasks may live without news from the coordinator.
    lease: watch::Sender<Option<Instant>>,
    /// How long past a heartbeat's sending the lease lasts (see [`lease_length`]).
    lease_length: Option<Duration>,
}

impl Session {
    /// A session for the worker the coordinator just registered.
    /// `contacted` is when the registration that made `worker` was sent:
    /// the coordinator counts the worker alive from then.
    pub(crate) fn new(
        client: Client,
        worker: &WorkerView,
        contacted: Instant,
        isolation: Arc<Isolation>,
        slots: usize,
        fetch_wait: Duration,
    ) -> Self {
        let gone = CancellationToken::new();
        let lease_length = lease_length(worker);
        Self {
            lease: watch::Sender::new(lease_length.map(|length| contacted + length)),
            lease_length,
            reports: Reporter::new(client.clone(), worker.id, gone.clone()),
            output: Arc::new(Outbox::new(client.clone(), worker.id)),
            client,
            worker_id: worker.id,
            isolation,
            heartbeat_interval: heartbeat_interval(worker.heartbeat_interval_secs),
            fetch_wait,
            slots: Arc::new(Semaphore::new(slots)),
            running: RunningTasks::default(),
            tasks: TaskTracker::new(),
            closed: gone.child_token(),
            gone,
        }
    }

    /// The lease running tasks live on, for a task to follow.
    pub(crate) fn lease(&self) -> Lease {
        self.lease.subscribe()
    }

    /// The leading coordinator answered a heartbeat sent at `sent`: running
    /// tasks may live on until a lease length past it. Only such an answer
    /// renews the lease; a `not_leader` answer is an error and never does.
    pub(crate) fn renew_lease(&self, sent: Instant) {
        let Some(length) = self.lease_length else {
            return;
        };
        let until = sent + length;
        self.lease.send_if_modified(|lease| {
            let later = lease.is_none_or(|current| until > current);
            if later {
                *lease = Some(until);
            }
            later
        });
    }
}

/// How long running tasks may live past the last heartbeat the coordinator
/// answered: its heartbeat timeout plus half its lost-attempt fence. After
/// that the coordinator may have declared this worker dead and its fence
/// may be about to hand the tasks to another worker, so they are killed
/// first (the other half of the fence is the margin). `None` when the
/// coordinator has no fence (0) or did not say.
fn lease_length(worker: &WorkerView) -> Option<Duration> {
    let timeout = Duration::try_from_secs_f64(worker.heartbeat_timeout_secs).ok()?;
    let fence = Duration::try_from_secs_f64(worker.lost_attempt_fence_secs).ok()?;
    (!timeout.is_zero() && !fence.is_zero()).then(|| timeout + fence / 2)
}

/// The heartbeat interval the coordinator asked for, within sane bounds.
fn heartbeat_interval(secs: f64) -> Duration {
    match Duration::try_from_secs_f64(secs) {
        Ok(interval) if !interval.is_zero() => {
            interval.clamp(Duration::from_millis(100), Duration::from_secs(3600))
        }
        _ => {
            tracing::warn!(
                secs,
                "coordinator sent an unusable heartbeat interval; using 5s"
            );
            DEFAULT_HEARTBEAT_INTERVAL
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_interval_is_sanitised() {
        assert_eq!(heartbeat_interval(2.5), Duration::from_millis(2500));
        assert_eq!(heartbeat_interval(0.0), DEFAULT_HEARTBEAT_INTERVAL);
        assert_eq!(heartbeat_interval(-1.0), DEFAULT_HEARTBEAT_INTERVAL);
        assert_eq!(heartbeat_interval(f64::NAN), DEFAULT_HEARTBEAT_INTERVAL);
        assert_eq!(heartbeat_interval(0.001), Duration::from_millis(100));
        assert_eq!(heartbeat_interval(1e12), Duration::from_secs(3600));
    }
}
