//! The state every request handler shares.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use sea_orm::DatabaseConnection;
use switchyard_config::{Secret, ServeArgs};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::wakers::Wakers;
use crate::dispatcher::TaskDispatcher;

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
    /// Lost attempts (worker died) allowed beyond a task's `max_attempts`.
    pub lost_attempt_limit: i32,
    /// What admin requests must present; `None` closes the admin API.
    pub admin_token: Option<Secret>,
}

impl Settings {
    /// The settings a serving coordinator uses.
    pub fn from_config(config: &ServeArgs) -> Self {
        Self {
            heartbeat_interval: config.heartbeat_interval,
            heartbeat_timeout: config.heartbeat_timeout,
            default_task_timeout: config.default_task_timeout,
            retry_base: Duration::from_secs(1),
            retry_max: Duration::from_secs(300),
            lost_attempt_limit: 3,
            admin_token: config.admin_token.clone(),
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
    dispatcher: Mutex<TaskDispatcher>,
    wakers: Wakers,
    settings: Settings,
    /// Only one seed at a time.
    seed_lock: tokio::sync::Mutex<()>,
    /// Ends long-polls and timers at shutdown.
    shutdown: CancellationToken,
    /// Background work (retry timers) to wait for at shutdown.
    tracker: TaskTracker,
}

impl AppState {
    /// State over a connected database and an empty dispatcher.
    pub fn new(
        db: DatabaseConnection,
        dispatcher: TaskDispatcher,
        settings: Settings,
        shutdown: CancellationToken,
    ) -> Self {
        Self {
            inner: Arc::new(Inner {
                db,
                dispatcher: Mutex::new(dispatcher),
                wakers: Wakers::default(),
                settings,
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

    /// The dispatcher, locked. Never hold the guard across an `.await`.
    pub fn dispatcher(&self) -> MutexGuard<'_, TaskDispatcher> {
        // A panic inside the dispatcher leaves a consistent-enough cache;
        // the database stays the truth and a seed rebuilds it.
        self.inner
            .dispatcher
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Long-poll wake-ups.
    pub fn wakers(&self) -> &Wakers {
        &self.inner.wakers
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
