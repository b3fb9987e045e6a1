//! PostgreSQL's own counters for the coordinator's database: committed
//! transactions (`pg_stat_database.xact_commit`) and transaction ids handed
//! out (every writing transaction takes one) — and settling that database
//! before a measurement (`--settle-db`).

use std::time::Duration;

use anyhow::Context;
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, FromQueryResult,
    Statement,
};
use serde::Serialize;
use switchyard_config::DatabaseUrl;

/// Reads the counters (and settles the database); a single connection,
/// apart from the coordinator's pool.
#[derive(Debug)]
pub struct PgStats {
    db: DatabaseConnection,
}

/// The counters at one moment.
#[derive(Debug, Clone, Copy, PartialEq, Eq, FromQueryResult)]
pub struct PgCounters {
    /// Transactions committed in this database so far. Backends publish
    /// theirs at most once a second while busy and within 10 s once idle.
    pub commits: i64,
    /// The next transaction id: exact and immediate, counts writing
    /// transactions of the whole server.
    pub next_xid: i64,
}

/// What the database did over a window.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct PgRates {
    /// Transactions committed in the coordinator's database, per second.
    pub commits_per_sec: f64,
    /// Writing transactions (transaction ids taken), server-wide, per second.
    pub write_xacts_per_sec: f64,
    /// Transactions committed in all.
    pub commits: i64,
}

const COUNTERS: &str = "SELECT \
    (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()) AS commits, \
    pg_snapshot_xmax(pg_current_snapshot())::text::bigint AS next_xid";

impl PgStats {
    /// Connects to `url`.
    pub async fn connect(url: &DatabaseUrl) -> anyhow::Result<Self> {
        let mut options = ConnectOptions::new(url.expose());
        options
            .max_connections(1)
            .min_connections(1)
            .connect_timeout(Duration::from_secs(10))
            .sqlx_logging(false);
        let db = Database::connect(options)
            .await
            .with_context(|| format!("failed to connect to the database at {url}"))?;
        Ok(Self { db })
    }

    /// The counters now.
    pub async fn counters(&self) -> anyhow::Result<PgCounters> {
        PgCounters::find_by_statement(Statement::from_string(DbBackend::Postgres, COUNTERS))
            .one(&self.db)
            .await
            .context("failed to read pg_stat_database")?
            .context("pg_stat_database has no row for this database")
    }

    /// `VACUUM (ANALYZE)` of the whole database: dead rows gone, the
    /// visibility map and the planner's statistics up to date. Outside any
    /// transaction, as VACUUM must be.
    pub async fn vacuum_analyze(&self) -> anyhow::Result<()> {
        self.db
            .execute_unprepared("VACUUM (ANALYZE)")
            .await
            .context("failed to VACUUM (ANALYZE) the database")?;
        Ok(())
    }

    /// `CHECKPOINT`: dirty pages written out now rather than during the
    /// measurement. Needs a superuser (or, from PostgreSQL 15, a role
    /// granted `pg_checkpoint`).
    pub async fn checkpoint(&self) -> anyhow::Result<()> {
        self.db
            .execute_unprepared("CHECKPOINT")
            .await
            .context("failed to CHECKPOINT")?;
        Ok(())
    }
}

impl PgRates {
    /// The rates between `before` and `after` over `window` (the commit
    /// count may have been read later, once the statistics settled).
    pub fn between(before: PgCounters, after: PgCounters, window: Duration) -> Self {
        let secs = window.as_secs_f64().max(f64::EPSILON);
        let commits = after.commits.saturating_sub(before.commits);
        Self {
            commits_per_sec: commits as f64 / secs,
            write_xacts_per_sec: after.next_xid.saturating_sub(before.next_xid) as f64 / secs,
            commits,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_over_the_window() {
        let before = PgCounters {
            commits: 1_000,
            next_xid: 500,
        };
        let after = PgCounters {
            commits: 3_000,
            next_xid: 1_500,
        };
        let rates = PgRates::between(before, after, Duration::from_secs(2));
        assert_eq!(rates.commits, 2_000);
        assert!((rates.commits_per_sec - 1_000.0).abs() < 1e-9);
        assert!((rates.write_xacts_per_sec - 500.0).abs() < 1e-9);
    }
}
