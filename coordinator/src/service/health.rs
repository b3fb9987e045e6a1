//! Whether the coordinator can serve, and what needs attention.
//!
//! - **unhealthy** (cannot serve): the database does not answer, the
//!   dispatcher is broken (a panic poisoned it) or stuck, or the coordinator
//!   is shutting down;
//! - **degraded** (serving, look at it): the database is slow, the backlog is
//!   over `--health-max-queued`, or queued tasks have no live worker with
//!   their tags;
//! - **healthy** otherwise.
//!
//! A standby is healthy when it works: it serves users, and a load balancer
//! may send it anything (workers it tells where the leader is). The report
//! says which it is.

use std::time::{Duration, Instant};

use switchyard_protocol::{HealthReport, HealthStatus};

use super::AppState;
use super::handle::{Look, Rebuild};
use crate::storage;

/// A database round trip slower than this makes the coordinator degraded.
pub const DB_SLOW: Duration = Duration::from_millis(500);
/// A database that has not answered within this is taken as unreachable.
pub const DB_TIMEOUT: Duration = Duration::from_secs(3);
/// A dispatcher lock held longer than this is taken as stuck.
pub const DISPATCHER_STUCK: Duration = Duration::from_secs(1);

#[derive(Debug, Default)]
struct Findings {
    unhealthy: Vec<String>,
    degraded: Vec<String>,
}

/// Runs every check and sums them up. Never fails: failing checks are
/// what it reports.
pub async fn check(state: &AppState) -> HealthReport {
    let mut findings = Findings::default();
    if state.shutdown().is_cancelled() {
        findings.unhealthy.push("shutting down".to_owned());
    }
    check_database(state, &mut findings).await;
    check_dispatcher(state, &mut findings).await;
    let Findings {
        mut unhealthy,
        degraded,
    } = findings;
    let status = if !unhealthy.is_empty() {
        HealthStatus::Unhealthy
    } else if !degraded.is_empty() {
        HealthStatus::Degraded
    } else {
        HealthStatus::Healthy
    };
    unhealthy.extend(degraded);
    HealthReport {
        status,
        role: state.role(),
        reasons: unhealthy,
    }
}

async fn check_database(state: &AppState, findings: &mut Findings) {
    let started = Instant::now();
    match tokio::time::timeout(DB_TIMEOUT, storage::stats::ping(state.db())).await {
        Err(_) => {
            findings.unhealthy.push(format!(
                "database unreachable: no answer within {} s",
                DB_TIMEOUT.as_secs()
            ));
            return;
        }
        Ok(Err(error)) => {
            tracing::warn!(%error, "health: database probe failed");
            findings
                .unhealthy
                .push("database unreachable: the probe query failed".to_owned());
            return;
        }
        Ok(Ok(())) => {}
    }
    let took = started.elapsed();
    if took > DB_SLOW {
        findings.degraded.push(format!(
            "database slow: a trivial query took {} ms (over {} ms)",
            took.as_millis(),
            DB_SLOW.as_millis()
        ));
    }
    let max = state.settings().health_max_queued;
    match tokio::time::timeout(DB_TIMEOUT, storage::stats::queued_up_to(state.db(), max)).await {
        Ok(Ok(queued)) if queued > max => findings.degraded.push(format!(
            "queue backing up: more than {max} tasks queued (--health-max-queued)"
        )),
        Ok(Ok(_)) => {}
        Ok(Err(error)) => {
            tracing::warn!(%error, "health: counting queued tasks failed");
            findings
                .degraded
                .push("cannot count queued tasks: the query failed".to_owned());
        }
        Err(_) => findings.degraded.push(format!(
            "database slow: counting queued tasks took over {} s",
            DB_TIMEOUT.as_secs()
        )),
    }
}

/// What the health check reports while the dispatcher is rebuilt.
pub const REBUILDING: &str =
    "dispatcher rebuilding after a panic: tasks are recorded, none is handed out until it is done";

/// What the health check reports while a new leader loads its dispatcher.
pub const TAKING_OVER: &str = "taking the lead: loading the dispatcher from the database; nothing is handed out until it is done";

/// Looks at the dispatcher without blocking the executor: tries its lock
/// until [`DISPATCHER_STUCK`] has passed.
async fn check_dispatcher(state: &AppState, findings: &mut Findings) {
    let deadline = Instant::now() + DISPATCHER_STUCK;
    let unplaced = loop {
        match state
            .dispatch()
            .try_read(|dispatcher| dispatcher.unplaced())
        {
            Look::Ready(unplaced) => break unplaced,
            Look::Rebuilding(Rebuild::Panic) => {
                findings.degraded.push(REBUILDING.to_owned());
                return;
            }
            Look::Rebuilding(Rebuild::Election) => {
                findings.degraded.push(TAKING_OVER.to_owned());
                return;
            }
            // A standby has no dispatcher: it serves users, and is healthy.
            Look::Standby => return,
            Look::Busy if Instant::now() >= deadline => {
                findings.unhealthy.push(format!(
                    "dispatcher not running: busy for over {} s",
                    DISPATCHER_STUCK.as_secs()
                ));
                return;
            }
            Look::Busy => tokio::time::sleep(Duration::from_millis(5)).await,
        }
    };
    if unplaced > 0 {
        findings.degraded.push(format!(
            "{unplaced} queued task(s) have no live worker with every tag they need"
        ));
    }
}
