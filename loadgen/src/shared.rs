//! What the simulated fleet shares: its stop signals, its counters, and
//! the events the latency scenario listens to.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use switchyard_protocol::TaskId;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

/// Something a worker saw, for the latency scenario.
#[derive(Debug, Clone, Copy)]
pub enum Event {
    /// A fetch returned this task at `at`.
    Fetched {
        /// The task.
        task: TaskId,
        /// When the fetch returned.
        at: Instant,
    },
    /// Its report was answered (or given up on).
    Reported {
        /// The task.
        task: TaskId,
    },
}

/// Counts of what the fleet did.
#[derive(Debug, Default)]
pub struct Counters {
    /// Fetches answered.
    pub fetches: AtomicU64,
    /// Fetches answered with no task.
    pub empty_fetches: AtomicU64,
    /// Fetches that failed.
    pub fetch_errors: AtomicU64,
    /// Report requests answered (each carries one report, or a batch).
    pub reports: AtomicU64,
    /// Reports refused or unanswered.
    pub report_errors: AtomicU64,
    /// Heartbeats answered.
    pub heartbeats: AtomicU64,
    /// Heartbeats that failed.
    pub heartbeat_errors: AtomicU64,
    /// Unregistrations that failed.
    pub unregister_errors: AtomicU64,
}

/// A copy of [`Counters`] for the report.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct FleetCounts {
    /// Fetches answered (with or without tasks).
    pub fetches: u64,
    /// Of those, ones that brought nothing (the long-poll wait ran out).
    pub empty_fetches: u64,
    /// Fetches that failed.
    pub fetch_errors: u64,
    /// Report requests answered (each carries one report, or a batch).
    pub reports: u64,
    /// Reports refused or unanswered.
    pub report_errors: u64,
    /// Heartbeats answered.
    pub heartbeats: u64,
    /// Heartbeats that failed.
    pub heartbeat_errors: u64,
    /// Unregistrations that failed.
    pub unregister_errors: u64,
}

impl Counters {
    /// The counts now.
    pub fn snapshot(&self) -> FleetCounts {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        FleetCounts {
            fetches: get(&self.fetches),
            empty_fetches: get(&self.empty_fetches),
            fetch_errors: get(&self.fetch_errors),
            reports: get(&self.reports),
            report_errors: get(&self.report_errors),
            heartbeats: get(&self.heartbeats),
            heartbeat_errors: get(&self.heartbeat_errors),
            unregister_errors: get(&self.unregister_errors),
        }
    }
}

/// State every worker of the fleet shares.
#[derive(Debug, Default)]
pub struct Shared {
    /// Ends the fetch loops.
    pub stop_fetching: CancellationToken,
    /// Ends the heartbeat loops.
    pub stop_heartbeats: CancellationToken,
    /// What the fleet did.
    pub counters: Counters,
    /// Tasks handled (reported, or given up on).
    pub handled: AtomicU64,
    /// When `handled` reaches this, `all_handled` is cancelled.
    pub target: Option<u64>,
    /// Cancelled once `target` tasks are handled.
    pub all_handled: CancellationToken,
    /// Where fetches and reports are announced (latency scenario).
    pub events: Option<mpsc::UnboundedSender<Event>>,
}
