//! Queued work the measured tasks must coexist with. Before the measured
//! phase of the throughput and latency scenarios, `--backlog` tasks are
//! submitted and acknowledged. They require `--backlog-tags`, a set no
//! worker of the run offers, so they stay queued — in the coordinator's
//! dispatcher and in its database — for the whole measurement; they never
//! complete, and no measured figure counts them. They go in before the
//! fleet registers, so the fleet's warm-up also covers the coordinator
//! taking them in.
//!
//! With `--settle-db` the database is then vacuumed, analysed and
//! checkpointed, so the measured phase starts from settled tables instead
//! of paying for the one-off autovacuum and checkpoint that a bulk insert
//! sets off (a backlog that built up over hours would have had both).

use anyhow::Context;
use serde::Serialize;
use tokio::time::Instant;

use crate::Bench;
use crate::args::{BenchArgs, Scenario};
use crate::dispatcher::{self, DispatcherCounts};
use crate::stats::per_second;
use crate::submitters::{self, SubmitPlan};

/// The backlog a run queued before measuring.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Backlog {
    /// Tasks accepted: all of `--backlog`.
    pub tasks: u64,
    /// The tags each of them requires (`--backlog-tags`).
    pub tags: String,
    /// First batch sent → last batch acknowledged, in seconds.
    pub submit_secs: f64,
    /// Tasks acknowledged per second.
    pub submitted_per_sec: f64,
    /// Failed submissions (each was retried).
    pub submit_errors: u64,
    /// What the dispatcher held once every batch was acknowledged (with
    /// `--admin-token`): the backlog shows in `queued_tasks` and, as no
    /// worker has its tags, in `unplaced`.
    pub dispatcher: Option<DispatcherCounts>,
}

/// How long settling the database took (`--settle-db`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Settled {
    /// `VACUUM (ANALYZE)` of the coordinator's database, in seconds.
    pub vacuum_secs: f64,
    /// `CHECKPOINT` after it, in seconds.
    pub checkpoint_secs: f64,
}

/// What happened before the measured phase.
#[derive(Debug, Default)]
pub struct Prelude {
    /// The backlog, when `--backlog` is above 0.
    pub backlog: Option<Backlog>,
    /// The settling, with `--settle-db`.
    pub settled: Option<Settled>,
}

/// Checks the backlog and settling flags against the rest of `args`.
pub fn check(args: &BenchArgs) -> Result<(), String> {
    let measured = matches!(args.scenario, Scenario::Throughput | Scenario::Latency);
    if (args.backlog > 0 || args.settle_db) && !measured {
        return Err(
            "--backlog and --settle-db go with the throughput and latency scenarios".to_owned(),
        );
    }
    if args.settle_db && args.database_url.is_none() {
        return Err("--settle-db needs --database-url".to_owned());
    }
    if args.backlog == 0 {
        return Ok(());
    }
    let [tags] = args.backlog_tags.sets() else {
        return Err("--backlog-tags is one tag set: `,` between tags, no `;`".to_owned());
    };
    if tags.is_empty() {
        return Err(
            "--backlog-tags must name a tag: a task that requires none runs on any worker"
                .to_owned(),
        );
    }
    if let Some(offered) = args
        .tag_sets
        .sets()
        .iter()
        .find(|set| tags.iter().all(|tag| set.contains(tag)))
    {
        return Err(format!(
            "--backlog-tags `{}` are all in the workers' tag set `{}`: the backlog would be \
             run, not stay queued",
            tags.join(","),
            offered.join(",")
        ));
    }
    Ok(())
}

/// Submits the backlog and settles the database, as the settings ask.
/// Fails when the run is stopped before the backlog is all acknowledged:
/// a measurement beside part of it would be mislabelled.
pub async fn prepare(bench: &Bench) -> anyhow::Result<Prelude> {
    let backlog = submit(bench).await?;
    let settled = settle(bench).await?;
    Ok(Prelude { backlog, settled })
}

async fn submit(bench: &Bench) -> anyhow::Result<Option<Backlog>> {
    let args = &bench.args;
    if args.backlog == 0 {
        return Ok(None);
    }
    let plan = SubmitPlan {
        total: args.backlog,
        batch: args.batch,
        rate: None,
        submitters: args.submitters,
        tag_sets: args.backlog_tags.clone(),
        priorities: args.priorities.clone(),
    };
    let started = Instant::now();
    let outcome = submitters::run(bench.client.clone(), plan, bench.stop.clone()).await;
    let accepted: u64 = outcome.batches.iter().map(|b| b.ids.len() as u64).sum();
    anyhow::ensure!(
        accepted >= args.backlog,
        "the run was stopped after {accepted} of {} backlog tasks were accepted; nothing was \
         measured",
        args.backlog
    );
    let last = outcome
        .batches
        .iter()
        .map(|b| b.answered)
        .max()
        .unwrap_or(started);
    let took = last.saturating_duration_since(started);
    let dispatcher = dispatcher::counts_if_admin(args, "after the backlog").await;
    Ok(Some(Backlog {
        tasks: accepted,
        tags: args.backlog_tags.to_string(),
        submit_secs: took.as_secs_f64(),
        submitted_per_sec: per_second(accepted, took),
        submit_errors: outcome.errors,
        dispatcher,
    }))
}

async fn settle(bench: &Bench) -> anyhow::Result<Option<Settled>> {
    if !bench.args.settle_db {
        return Ok(None);
    }
    let pg = bench
        .target
        .pg
        .as_ref()
        .context("--settle-db needs --database-url")?;
    let started = Instant::now();
    tokio::select! {
        () = bench.stop.cancelled() => anyhow::bail!("the run was stopped while vacuuming"),
        vacuumed = pg.vacuum_analyze() => vacuumed?,
    }
    let vacuumed = Instant::now();
    tokio::select! {
        () = bench.stop.cancelled() => anyhow::bail!("the run was stopped while checkpointing"),
        checkpointed = pg.checkpoint() => checkpointed?,
    }
    Ok(Some(Settled {
        vacuum_secs: vacuumed.saturating_duration_since(started).as_secs_f64(),
        checkpoint_secs: vacuumed.elapsed().as_secs_f64(),
    }))
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn args(extra: &[&str]) -> BenchArgs {
        let mut argv = vec!["switchyard-bench"];
        argv.extend_from_slice(extra);
        BenchArgs::try_parse_from(argv).unwrap()
    }

    #[test]
    fn a_backlog_needs_tags_no_worker_offers() {
        assert!(check(&args(&["--backlog", "1000"])).is_ok());
        assert!(check(&args(&["--backlog", "10", "--scenario", "latency"])).is_ok());
        let err = check(&args(&[
            "--backlog",
            "10",
            "--tag-sets",
            "linux;backlog-unmatched,gpu",
        ]))
        .unwrap_err();
        assert!(err.contains("`backlog-unmatched,gpu`"), "{err}");
        // The backlog needs two tags; one worker set has only one of them.
        assert!(
            check(&args(&[
                "--backlog",
                "10",
                "--backlog-tags",
                "linux,parked",
                "--tag-sets",
                "linux;parked",
            ]))
            .is_ok()
        );
        for (tags, expected) in [("", "must name a tag"), ("a;b", "one tag set")] {
            let err = check(&args(&["--backlog", "10", "--backlog-tags", tags])).unwrap_err();
            assert!(err.contains(expected), "{tags}: {err}");
        }
        // Without a backlog its tags do not matter.
        assert!(check(&args(&["--backlog-tags", "linux"])).is_ok());
    }

    #[test]
    fn a_backlog_goes_with_measured_scenarios_only() {
        for scenario in ["idle", "bad-tokens"] {
            let err = check(&args(&["--scenario", scenario, "--backlog", "5"])).unwrap_err();
            assert!(err.contains("--backlog"), "{err}");
        }
        let err = check(&args(&["--settle-db"])).unwrap_err();
        assert!(err.contains("--database-url"), "{err}");
        let with_db = ["--settle-db", "--database-url", "postgres://u@127.0.0.1/db"];
        assert!(check(&args(&with_db)).is_ok());
        // The whole check of the arguments runs these.
        let err = crate::check_args(&args(&["--scenario", "idle", "--backlog", "5"])).unwrap_err();
        assert!(err.contains("--backlog"), "{err}");
    }

    #[test]
    fn the_table_and_json_name_the_backlog_and_the_cost() {
        let report = crate::report::Report {
            backlog: Some(Backlog {
                tasks: 100_000,
                tags: "backlog-unmatched".into(),
                submit_secs: 12.5,
                submitted_per_sec: 8000.0,
                submit_errors: 2,
                dispatcher: Some(DispatcherCounts {
                    workers: 0,
                    queued_tasks: 100_000,
                    queue_entries: 0,
                    unplaced: 100_000,
                }),
            }),
            settled: Some(Settled {
                vacuum_secs: 3.25,
                checkpoint_secs: 0.5,
            }),
            cost_per_task: Some(crate::cost::CostPerTask {
                tasks: 1000,
                coordinator_cpu_ms: Some(0.1234),
                postgres_cpu_ms: None,
            }),
            ..crate::report::tests::report()
        };
        let table = report.table();
        for expected in [
            "backlog (queued, never run)        100000 tasks requiring `backlog-unmatched`, \
             acknowledged in 12.50 s (8000 tasks/s, 2 failed submissions, retried)",
            "dispatcher after the backlog     100000 queued tasks, 100000 unplaced",
            "VACUUM (ANALYZE) 3.25 s, CHECKPOINT 0.50 s",
            "coordinator 0.123 ms, PostgreSQL not found (over 1000 measured tasks)",
        ] {
            assert!(table.contains(expected), "missing `{expected}` in\n{table}");
        }
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["backlog"]["tasks"], 100_000);
        assert_eq!(json["backlog"]["submit_secs"], 12.5);
        assert_eq!(json["backlog"]["dispatcher"]["unplaced"], 100_000);
        assert_eq!(json["settled"]["vacuum_secs"], 3.25);
        assert_eq!(json["cost_per_task"]["coordinator_cpu_ms"], 0.1234);
        assert!(json["cost_per_task"]["postgres_cpu_ms"].is_null());
        assert_eq!(json["settings"]["backlog_tags"], "backlog-unmatched");

        let plain = crate::report::tests::report();
        let table = plain.table();
        assert!(!table.contains("backlog"), "{table}");
        assert!(!table.contains("CPU per task"), "{table}");
        assert!(serde_json::to_value(&plain).unwrap()["backlog"].is_null());
    }
}
