//! A measured window: CPU of every party and PostgreSQL's counters between
//! its opening and its closing.

use std::time::Duration;

use tokio::time::Instant;

use crate::monitor::{Probe, Usage};
use crate::pgstat::{PgCounters, PgRates};
use crate::target::Target;

/// An open window.
#[derive(Debug)]
pub struct Window {
    /// When it opened.
    pub opened: Instant,
    probe: Probe,
    pg_before: Option<PgCounters>,
}

/// A closed window, before PostgreSQL's statistics have settled.
#[derive(Debug)]
pub struct Closed {
    /// How long it was open.
    pub elapsed: Duration,
    /// Where the CPU went.
    pub usage: Usage,
    pg_before: Option<PgCounters>,
    pg_at_close: Option<PgCounters>,
}

async fn read_pg(target: &Target) -> Option<PgCounters> {
    let pg = target.pg.as_ref()?;
    match pg.counters().await {
        Ok(counters) => Some(counters),
        Err(error) => {
            tracing::warn!(
                error = format!("{error:#}"),
                "could not read PostgreSQL's counters"
            );
            None
        }
    }
}

impl Window {
    /// Opens a window now.
    pub async fn open(target: &Target) -> Self {
        Self::open_on(target, target.coordinator_pid).await
    }

    /// Opens a window now on the coordinator process `coordinator_pid`
    /// (one started after the run began, as the restart scenario's).
    pub async fn open_on(target: &Target, coordinator_pid: Option<u32>) -> Self {
        let pg_before = read_pg(target).await;
        Self {
            opened: Instant::now(),
            probe: Probe::start(coordinator_pid, target.postgres_pid),
            pg_before,
        }
    }

    /// Closes it now.
    pub async fn close(self, target: &Target) -> Closed {
        let elapsed = self.opened.elapsed();
        let usage = self.probe.finish();
        Closed {
            elapsed,
            usage,
            pg_before: self.pg_before,
            pg_at_close: read_pg(target).await,
        }
    }
}

impl Closed {
    /// PostgreSQL's rates over the window: transaction ids as read at the
    /// close, commits after waiting `settle` for idle backends to publish
    /// their statistics. Call once the load has stopped.
    pub async fn pg_rates(&self, target: &Target, settle: Duration) -> Option<PgRates> {
        let (before, at_close) = (self.pg_before?, self.pg_at_close?);
        tokio::time::sleep(settle).await;
        let settled = read_pg(target).await?;
        let after = PgCounters {
            commits: settled.commits,
            next_xid: at_close.next_xid,
        };
        Some(PgRates::between(before, after, self.elapsed))
    }
}
