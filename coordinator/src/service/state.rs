//! The state every request handler shares.

use std::sync::Arc;
use std::time::Duration;

use sea_orm::DatabaseConnection;
use switchyard_config::ServeArgs;
use switchyard_protocol::ClusterRole;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::admission::Admission;
use super::auth::TokenCache;
use super::auth::secret::{TokenHash, hash};
use super::clock::Clock;
use super::coalesce::Coalescer;
use super::fence::Fences;
use super::finishes::{self, Finishes};
use super::handle::Dispatch;
use super::handover::{self, Handovers};
use super::leadership::{self, Leadership};
use super::liveness::Liveness;
use super::retention::Retention;
use super::watch::Watch;
use crate::dispatcher::TaskDispatcher;
use crate::error::ApiError;
use crate::metrics::Metrics;

/// Settings the services read, taken once from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub heartbeat_interval: Duration,
    pub heartbeat_timeout: Duration,
    pub default_task_timeout: Duration,
    /// First retry back-off; each further attempt doubles it.
    pub retry_base: Duration,
    /// Longest retry back-off.
    pub retry_max: Duration,
    /// How long past its timeout a running task may go unreported.
    pub timeout_grace: Duration,
    /// Priority aging: one level gained per step waited; `None` when off.
    pub priority_aging_step: Option<Duration>,
    /// Most queued tasks; `None` for no limit.
    pub max_queued_tasks: Option<usize>,
    /// Lost attempts (worker died) allowed beyond a task's `max_attempts`.
    pub lost_attempt_limit: i32,
    /// How long the running tasks of a worker declared dead wait before they
    /// may run elsewhere (zero: no wait).
    pub lost_attempt_fence: Duration,
    /// The hash of the bootstrap admin token; `None` when only tokens in
    /// the database count.
    pub admin_token_hash: Option<TokenHash>,
    /// Whether `/stats` and `/api/v1/stats` need no token.
    pub public_stats: bool,
    /// Whether `/metrics` needs no token.
    pub public_metrics: bool,
    /// When finished tasks move to the archive; `None` keeps them for ever.
    pub retention: Option<Retention>,
    /// More queued tasks than this makes `/health` degraded.
    pub health_max_queued: u64,
    /// Most database lookups of unrecognised tokens at once.
    pub auth_lookup_concurrency: usize,
    /// Longest an unrecognised token waits for a lookup before `auth_busy`.
    pub auth_lookup_wait: Duration,
    /// How late a refused credential is answered.
    pub auth_failure_delay: Duration,
    /// How long a dashboard login lasts.
    pub session_lifetime: Duration,
    /// Whether session cookies are marked `Secure` (the coordinator serves HTTPS).
    pub secure_cookies: bool,
}

impl Settings {
    /// The settings a serving coordinator uses.
    pub fn from_config(config: &ServeArgs) -> Self {
        Self {
            heartbeat_interval: config.heartbeat_interval,
            heartbeat_timeout: config.heartbeat_timeout,
            default_task_timeout: config.default_task_timeout,
            retry_base: config.retry_backoff,
            retry_max: config.retry_backoff_max,
            timeout_grace: config.timeout_grace,
            priority_aging_step: config.priority_aging_step,
            max_queued_tasks: usize::try_from(config.max_queued_tasks)
                .ok()
                .filter(|max| *max > 0),
            lost_attempt_limit: 3,
            lost_attempt_fence: config.lost_attempt_fence,
            admin_token_hash: config.admin_token.as_ref().map(|t| hash(t.expose())),
            public_stats: config.public_stats,
            public_metrics: config.public_metrics,
            retention: Retention::from_config(config),
            health_max_queued: config.health_max_queued,
            // Never more lookups than connections.
            auth_lookup_concurrency: usize::try_from(
                config
                    .auth_lookup_concurrency
                    .min(config.db_max_connections),
            )
            .unwrap_or(1),
            auth_lookup_wait: config.auth_lookup_wait,
            auth_failure_delay: config.auth_failure_delay,
            session_lifetime: config.session_lifetime,
            secure_cookies: config.http.tls_files().is_some(),
        }
    }
}

/// Shared by every handler and background loop. Cheap to clone.
#[derive(Debug, Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    db: DatabaseConnection,
    dispatch: Dispatch,
    clock: Clock,
    admission: Admission,
    tokens: TokenCache,
    handovers: Handovers,
    finishes: Finishes,
    liveness: Liveness,
    fences: Fences,
    watch: Arc<Watch>,
    metrics: Metrics,
    settings: Settings,
    leadership: Leadership,
    /// Asks the leader's reconciliation to run now.
    reconcile: Notify,
    /// Only one seed at a time.
    seed_lock: tokio::sync::Mutex<()>,
    /// Ends long-polls and timers at shutdown.
    shutdown: CancellationToken,
    /// Background work (retry timers) to wait for at shutdown.
    tracker: TaskTracker,
}

impl AppState {
    /// State over a connected database and an empty dispatcher, in the
    /// cluster as `leadership`, on the system clock.
    pub fn new(
        db: DatabaseConnection,
        dispatcher: TaskDispatcher,
        settings: Settings,
        shutdown: CancellationToken,
        leadership: Leadership,
    ) -> Self {
        Self::with_clock(
            db,
            dispatcher,
            settings,
            shutdown,
            leadership,
            Clock::system(),
        )
    }

    /// [`Self::new`] on another clock (tests: one that follows tokio's).
    pub fn with_clock(
        db: DatabaseConnection,
        dispatcher: TaskDispatcher,
        settings: Settings,
        shutdown: CancellationToken,
        leadership: Leadership,
        clock: Clock,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                db,
                dispatch: Dispatch::new(dispatcher),
                clock,
                admission: Admission::default(),
                tokens: TokenCache::new(
                    settings.auth_lookup_concurrency,
                    settings.auth_lookup_wait,
                ),
                handovers: Coalescer::new(handover::IN_FLIGHT),
                finishes: Coalescer::new(finishes::IN_FLIGHT),
                liveness: Liveness::default(),
                fences: Fences::default(),
                watch: Arc::new(Watch::default()),
                metrics: Metrics::new(),
                settings,
                leadership,
                reconcile: Notify::new(),
                seed_lock: tokio::sync::Mutex::new(()),
                shutdown,
                tracker: TaskTracker::new(),
            }),
        }
    }

    /// The database pool.
    pub fn db(&self) -> &DatabaseConnection {
        &self.inner.db
    }

    /// The dispatcher's handle: every look at the dispatcher and every
    /// change to it goes through it.
    pub fn dispatch(&self) -> &Dispatch {
        &self.inner.dispatch
    }

    /// Where the services read the time.
    pub fn clock(&self) -> &Clock {
        &self.inner.clock
    }

    /// This app's metrics.
    pub fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// Recently authenticated tokens.
    pub fn tokens(&self) -> &TokenCache {
        &self.inner.tokens
    }

    /// Hand-overs waiting to be confirmed together.
    pub fn handovers(&self) -> &Handovers {
        &self.inner.handovers
    }

    /// Reports waiting to be recorded together.
    pub fn finishes(&self) -> &Finishes {
        &self.inner.finishes
    }

    /// Heartbeats not yet written.
    pub fn liveness(&self) -> &Liveness {
        &self.inner.liveness
    }

    /// Tasks waiting behind the fences of dead workers.
    pub fn fences(&self) -> &Fences {
        &self.inner.fences
    }

    /// What the watchers of tasks hear: running attempts' output, and
    /// tasks' ends.
    pub fn watch(&self) -> &Arc<Watch> {
        &self.inner.watch
    }

    /// The queue limit's bookkeeping.
    pub fn admission(&self) -> &Admission {
        &self.inner.admission
    }

    /// This coordinator in its cluster.
    pub fn leadership(&self) -> &Leadership {
        &self.inner.leadership
    }

    /// Leader or standby, now.
    pub fn role(&self) -> ClusterRole {
        leadership::role(self)
    }

    /// The answer to a request only the leader serves, naming the leader.
    pub fn not_leader(&self) -> ApiError {
        ApiError::NotLeader(self.inner.leadership.leader_url())
    }

    /// Fails with [`Self::not_leader`] unless this coordinator leads.
    pub fn require_leader(&self) -> Result<(), ApiError> {
        match self.role() {
            ClusterRole::Leader => Ok(()),
            ClusterRole::Standby => Err(self.not_leader()),
        }
    }

    /// Asks the leader's reconciliation to run now (notifications may have
    /// been missed).
    pub fn reconcile_soon(&self) {
        self.inner.reconcile.notify_one();
    }

    /// Resolves when a reconciliation is asked for.
    pub async fn reconcile_wanted(&self) {
        self.inner.reconcile.notified().await;
    }

    /// The services' settings.
    pub fn settings(&self) -> &Settings {
        &self.inner.settings
    }

    /// Serialises seeding.
    pub fn seed_lock(&self) -> &tokio::sync::Mutex<()> {
        &self.inner.seed_lock
    }

    /// Cancelled when the coordinator shuts down.
    pub fn shutdown(&self) -> &CancellationToken {
        &self.inner.shutdown
    }

    /// Tracks background tasks spawned by services.
    pub fn tracker(&self) -> &TaskTracker {
        &self.inner.tracker
    }
}
