//! Retention: finished tasks older than the configured age move from the
//! hot `tasks` table into `tasks_archive`, where the API still reads them.
//!
//! The hot table then holds live work and recent history only, so the
//! statements dispatch runs stay small. Each move is one bounded statement
//! that touches finished rows only and skips rows others hold (see
//! [`storage::archive::move_finished`]); it never blocks dispatch.

use std::time::Duration;

use sea_orm::{DatabaseConnection, DbErr};
use switchyard_config::ServeArgs;
use tokio_util::sync::CancellationToken;

use super::AppState;
use super::loops::{Doing, log_failure};
use crate::storage;

/// When and how finished tasks are archived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// A task is archived once it has been finished this long.
    pub age: Duration,
    /// Time between sweeps.
    pub interval: Duration,
    /// Most tasks one statement moves.
    pub batch: u32,
}

impl Retention {
    /// The configured retention; `None` when `--retention-age` is zero, which
    /// keeps finished tasks in the hot table for ever.
    pub fn from_config(config: &ServeArgs) -> Option<Self> {
        (!config.retention_age.is_zero()).then_some(Self {
            age: config.retention_age,
            interval: config.retention_interval,
            batch: config.retention_batch,
        })
    }
}

/// What one sweep did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Sweep {
    /// Tasks moved into the archive.
    pub moved: u64,
    /// Statements run, each moving at most the batch size.
    pub batches: u32,
}

/// How much longer than a batch took the sweep rests before the next: at 4,
/// a sweep keeps one connection busy at most a fifth of the time.
pub const REST_FACTOR: u32 = 4;
/// Shortest rest between batches.
const MIN_REST: Duration = Duration::from_millis(1);
/// Longest rest between batches (a batch slowed by a busy database does not
/// stall the sweep for long).
const MAX_REST: Duration = Duration::from_secs(2);

/// Archives every task finished more than `retention.age` ago, one batch
/// per statement (each its own transaction, so locks stay bounded), until a
/// batch comes back short or `stop` is cancelled. Between batches it rests
/// [`REST_FACTOR`] times as long as the last batch took, so a large backlog
/// is archived at a steady pace that leaves the database (and the cores it
/// shares with the coordinator) to dispatch.
///
/// Takes the pool rather than any connection: inside one transaction the
/// batches would hold all their locks to the end.
pub async fn sweep(
    db: &DatabaseConnection,
    retention: &Retention,
    stop: &CancellationToken,
) -> Result<Sweep, DbErr> {
    let age_secs = retention.age.as_secs_f64();
    let mut sweep = Sweep::default();
    loop {
        let started = std::time::Instant::now();
        let moved = storage::archive::move_finished_unsynced(db, age_secs, retention.batch).await?;
        sweep.moved += moved;
        sweep.batches += 1;
        if moved < u64::from(retention.batch) || stop.is_cancelled() {
            return Ok(sweep);
        }
        let rest = (started.elapsed() * REST_FACTOR).clamp(MIN_REST, MAX_REST);
        tokio::select! {
            () = tokio::time::sleep(rest) => {}
            () = stop.cancelled() => return Ok(sweep),
        }
    }
}

/// Sweeps every retention interval until shutdown; returns at once when
/// retention is off.
pub async fn run(state: AppState) {
    let Some(retention) = state.settings().retention else {
        tracing::info!("retention off: finished tasks stay in the tasks table");
        return;
    };
    let mut tick = tokio::time::interval(retention.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            () = state.shutdown().cancelled() => return,
        }
        // The leader archives; standbys leave it to it.
        if state.dispatch().epoch().is_none() {
            continue;
        }
        let swept = sweep(state.db(), &retention, state.shutdown())
            .await
            .doing("archive finished tasks");
        match swept {
            Ok(done) if done.moved > 0 => tracing::info!(
                moved = done.moved,
                batches = done.batches,
                age = %humantime::format_duration(retention.age),
                "archived finished tasks"
            ),
            Ok(_) => {}
            Err(error) => log_failure("retention sweep", &error),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use switchyard_config::{CoordinatorCli, CoordinatorCommand};

    fn retention(flags: &[&str]) -> Option<Retention> {
        let args = ["coordinator", "serve"].iter().chain(flags);
        let cli = CoordinatorCli::load_from(args.map(Into::into).collect())
            .unwrap_or_else(|e| panic!("{flags:?}: {e}"));
        match cli.command {
            CoordinatorCommand::Serve(serve) => Retention::from_config(&serve),
            other => panic!("expected serve, got {other:?}"),
        }
    }

    #[test]
    fn on_by_default_and_off_with_a_zero_age() {
        assert_eq!(
            retention(&[]),
            Some(Retention {
                age: Duration::from_secs(30 * 24 * 3600),
                interval: Duration::from_secs(60),
                batch: 100,
            })
        );
        assert_eq!(retention(&["--retention-age", "0s"]), None);
        let custom = retention(&[
            "--retention-age",
            "7d",
            "--retention-interval",
            "5m",
            "--retention-batch",
            "50",
        ]);
        assert_eq!(
            custom,
            Some(Retention {
                age: Duration::from_secs(7 * 24 * 3600),
                interval: Duration::from_secs(300),
                batch: 50,
            })
        );
    }

    #[test]
    fn bad_settings_are_refused() {
        for flags in [
            ["--retention-batch", "0"],
            ["--retention-batch", "100001"],
            ["--retention-interval", "0s"],
        ] {
            let args = ["coordinator", "serve"].iter().chain(&flags);
            let err = CoordinatorCli::load_from(args.map(Into::into).collect())
                .map(|_| ())
                .unwrap_err()
                .to_string();
            assert!(err.contains(&flags[0][2..]), "{flags:?}: {err}");
        }
    }
}
