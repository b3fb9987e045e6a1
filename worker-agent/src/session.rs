//! One registration of this agent, from the register answer until shutdown
//! or until the coordinator forgets the worker id.
//!
//! A session runs the heartbeat loop and the fetch loop side by side; the
//! tasks they start run on the session's [`TaskTracker`]. On shutdown it
//! stops fetching, gives running tasks the grace period, kills the rest
//! (reported `interrupted`) and unregisters. When the coordinator declares
//! the worker gone it kills its tasks without reporting them, since the
//! coordinator has taken them back. Running tasks live on a lease that each
//! answered heartbeat renews: an agent cut off from the coordinator kills
//! them before the coordinator could hand them to another worker.

use std::sync::Arc;
use std::time::Duration;

use switchyard_protocol::{Client, WorkerId, WorkerView};
use tokio::sync::{Semaphore, watch};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::Instrument;

use crate::backoff::{Backoff, Failure, classify, error_chain, retry};
use crate::isolation::Isolation;
use crate::reports::ReportQueue;
use crate::runner::Lease;
use crate::running::{KillReason, RunningTasks};

/// Heartbeat interval used when the coordinator's answer makes no sense.
const DEFAULT_HEARTBEAT_INTERVAL: Duration = Duration::from_secs(5);

/// How long unregistering may keep retrying on the way out.
const UNREGISTER_WINDOW: Duration = Duration::from_secs(10);

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SessionEnd {
    /// The agent was asked to shut down.
    ShutDown,
    /// The coordinator no longer knows this worker id; register again.
    Gone,
}

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
    /// Reports waiting to be sent together.
    pub(crate) reports: ReportQueue,
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
            client,
            worker_id: worker.id,
            isolation,
            heartbeat_interval: heartbeat_interval(worker.heartbeat_interval_secs),
            fetch_wait,
            slots: Arc::new(Semaphore::new(slots)),
            running: RunningTasks::default(),
            reports: ReportQueue::default(),
            tasks: TaskTracker::new(),
            closed: gone.child_token(),
            gone,
        }
    }

    /// The lease running tasks live on, for a task to follow.
    pub(crate) fn lease(&self) -> Lease {
        self.lease.subscribe()
    }

    /// The coordinator answered a heartbeat sent at `sent`: running tasks
    /// may live on until a lease length past it.
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

    /// Runs the session until `shutdown` fires (then drains within `grace`
    /// and unregisters) or the coordinator forgets the worker.
    pub(crate) async fn run(
        self: Arc<Self>,
        shutdown: &CancellationToken,
        grace: Duration,
    ) -> SessionEnd {
        let fetching = self.closed.child_token();
        let heartbeat = tokio::spawn(crate::heartbeat::run(self.clone()).in_current_span());
        let fetch =
            tokio::spawn(crate::fetch::run(self.clone(), fetching.clone()).in_current_span());
        let end = tokio::select! {
            () = shutdown.cancelled() => SessionEnd::ShutDown,
            () = self.gone.cancelled() => SessionEnd::Gone,
        };
        // No task is started once the fetch loop has returned.
        fetching.cancel();
        join("fetch", fetch).await;
        self.tasks.close();
        let registered = match end {
            SessionEnd::ShutDown => self.drain(grace).await,
            SessionEnd::Gone => {
                self.abandon().await;
                false
            }
        };
        self.closed.cancel();
        join("heartbeat", heartbeat).await;
        if registered {
            self.unregister().await;
        }
        end
    }

    /// Lets running tasks finish within `grace`, then kills the rest. False
    /// when the coordinator forgot the worker meanwhile.
    async fn drain(&self, grace: Duration) -> bool {
        let running = self.running.len();
        if running > 0 {
            tracing::info!(running, ?grace, "shutting down: waiting for running tasks");
        } else {
            tracing::info!("shutting down");
        }
        let finished = tokio::select! {
            finished = tokio::time::timeout(grace, self.tasks.wait()) => finished.is_ok(),
            () = self.gone.cancelled() => {
                self.abandon().await;
                return false;
            }
        };
        if !finished {
            tracing::warn!(
                running = self.running.len(),
                "shutdown grace is over; killing the remaining tasks"
            );
            self.running.kill_all(KillReason::ShutDown);
            self.tasks.wait().await;
        }
        !self.gone.is_cancelled()
    }

    /// Kills every running task without reporting it and waits for them to go.
    async fn abandon(&self) {
        let running = self.running.len();
        if running > 0 {
            tracing::warn!(
                running,
                "worker gone: killing its tasks without reporting them"
            );
        }
        self.running.kill_all(KillReason::Abandoned);
        self.tasks.wait().await;
    }

    async fn unregister(&self) {
        let never = CancellationToken::new();
        let result = retry(
            "unregister",
            Backoff::new(Duration::from_millis(250), Duration::from_secs(2)),
            Some(UNREGISTER_WINDOW),
            &never,
            || self.client.unregister(self.worker_id),
        )
        .await;
        match result {
            Some(Ok(_)) => tracing::info!("unregistered"),
            Some(Err(e)) if classify(&e) == Failure::Gone => {
                tracing::info!("already unregistered");
            }
            Some(Err(e)) => tracing::warn!(
                error = %error_chain(&e),
                "failed to unregister; the coordinator will declare this worker dead"
            ),
            None => {}
        }
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

async fn join(name: &str, handle: JoinHandle<()>) {
    if let Err(e) = handle.await {
        tracing::error!(error = %e, "the {name} loop panicked");
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
