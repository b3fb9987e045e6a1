//! The result of a run: one structure, written as JSON for tools (and
//! printed as a table for people, see [`crate::table`]).

use std::path::Path;

use anyhow::Context;
use serde::Serialize;

use crate::args::{BadTokenKind, BenchArgs, Scenario};
use crate::backlog::{Backlog, Settled};
use crate::cost::CostPerTask;
use crate::dispatcher::DispatcherCounts;
use crate::monitor::Usage;
use crate::pgstat::PgRates;
use crate::stats::Summary;
use crate::workers::FleetCounts;

/// How the coordinator dispatches, as its admin API says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DispatchInfo {
    /// `fanout` or `balanced`.
    pub mode: String,
    /// `least-queue` or `round-robin`.
    pub strategy: String,
}

/// The settings of the run (no secrets).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Settings {
    /// `--url`.
    pub url: String,
    /// `--tasks` (throughput).
    pub tasks: u64,
    /// `--submitters` (throughput).
    pub submitters: usize,
    /// `--batch` (throughput).
    pub batch: usize,
    /// `--rate` (throughput), tasks per second.
    pub rate: Option<f64>,
    /// `--workers`.
    pub workers: usize,
    /// `--tag-sets`.
    pub tag_sets: String,
    /// `--priorities`.
    pub priorities: Vec<i32>,
    /// `--backlog` (throughput and latency).
    pub backlog: u64,
    /// `--backlog-tags`.
    pub backlog_tags: String,
    /// `--settle-db` (throughput and latency).
    pub settle_db: bool,
    /// `--fetch-max`.
    pub fetch_max: u32,
    /// `--fetch-wait`, in seconds.
    pub fetch_wait_secs: f64,
    /// Slots each worker registered with.
    pub slots: u32,
    /// `--report-concurrency`.
    pub report_concurrency: usize,
    /// `--report-batch`.
    pub report_batch: usize,
    /// `--shared-client`.
    pub shared_client: bool,
    /// `--samples` (latency).
    pub samples: usize,
    /// `--watchers` (latency).
    pub watchers: usize,
    /// `--duration` (idle), in seconds.
    pub duration_secs: f64,
    /// `--bad-clients` (bad-tokens).
    pub bad_clients: usize,
    /// `--bad-token-kind` (bad-tokens).
    pub bad_token_kind: BadTokenKind,
}

impl From<&BenchArgs> for Settings {
    fn from(args: &BenchArgs) -> Self {
        Self {
            url: args.url.clone(),
            tasks: args.tasks,
            submitters: args.submitters,
            batch: args.batch,
            rate: args.rate,
            workers: args.workers,
            tag_sets: args.tag_sets.to_string(),
            priorities: args.priorities.clone(),
            backlog: args.backlog,
            backlog_tags: args.backlog_tags.to_string(),
            settle_db: args.settle_db,
            fetch_max: args.fetch_max,
            fetch_wait_secs: args.fetch_wait.as_secs_f64(),
            slots: args.worker_slots(),
            report_concurrency: args.report_concurrency,
            report_batch: args.report_batch,
            shared_client: args.shared_client,
            samples: args.samples,
            watchers: args.watchers,
            duration_secs: args.duration.as_secs_f64(),
            bad_clients: args.bad_clients,
            bad_token_kind: args.bad_token_kind,
        }
    }
}

/// Throughput scenario figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Throughput {
    /// Tasks accepted by the coordinator.
    pub submitted: u64,
    /// Tasks reported as succeeded.
    pub completed: u64,
    /// Failed submissions (each was retried).
    pub submit_errors: u64,
    /// Submitted tasks per second, from the start to the last answer.
    pub submitted_per_sec: f64,
    /// Completed tasks per second, from the start to the last report.
    pub completed_per_sec: f64,
    /// Submit request sent → report answered, per task.
    pub end_to_end: Option<Summary>,
}

/// Latency scenario figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pickup {
    /// Tasks submitted.
    pub samples: usize,
    /// Submit answered → fetch returned (0 when the fetch returned first).
    pub after_answer: Option<Summary>,
    /// Submit request sent → fetch returned.
    pub after_send: Option<Summary>,
    /// Samples whose fetch returned before the submit answer arrived.
    pub fetched_before_answer: usize,
    /// Samples no worker fetched within the deadline.
    pub missed: usize,
    /// The watchers present while it was measured (`--watchers`).
    pub watching: Option<Watching>,
}

/// What the watchers of one task saw during a latency run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Watching {
    /// Followers of the task's output, each on its own connection.
    pub followers: usize,
    /// Clients waiting for the task's end.
    pub waiters: usize,
    /// Output chunks the task's worker sent.
    pub chunks_printed: u64,
    /// Events the followers received in all.
    pub events_received: u64,
    /// Waits answered (each after its minute).
    pub waits_answered: u64,
    /// Failed requests or broken streams.
    pub errors: u64,
}

/// One restart: how long until the coordinator served fetches again, and
/// what the new process held in memory once it did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RestartFigures {
    /// Tasks this run had queued when the command ran.
    pub queued_tasks: u64,
    /// Command started → command exited (the old process stopped and the
    /// new one launched), in seconds.
    pub command_secs: f64,
    /// Command started → a fetch answered (with a task, when tasks were
    /// queued), in seconds: stop, start-up, the dispatcher's seed, serving.
    pub serving_secs: f64,
    /// Fetches sent after the command exited, until one counted.
    pub probes: u64,
    /// Of those, ones that failed (refused connections and the like).
    pub probe_errors: u64,
    /// Of those, ones answered with no task while tasks were queued.
    pub empty_probes: u64,
    /// The new coordinator's process, found by its listening port.
    pub pid: Option<u32>,
    /// Its resident memory once serving, in KiB (read before the
    /// dispatcher snapshot, whose answer would add to it).
    pub rss_kib: Option<u64>,
    /// Its peak resident memory by then (the seed's transient part
    /// included), in KiB.
    pub peak_rss_kib: Option<u64>,
    /// What its dispatcher held once serving (with `--admin-token`).
    pub dispatcher: Option<DispatcherCounts>,
}

/// Restart scenario figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Restart {
    /// The restart with nothing queued by this run (the baseline).
    pub empty: Option<RestartFigures>,
    /// Tasks accepted between the two restarts.
    pub submitted: u64,
    /// Failed submissions (each was retried).
    pub submit_errors: u64,
    /// Tasks accepted per second.
    pub submitted_per_sec: f64,
    /// The restart with `submitted` tasks queued.
    pub full: Option<RestartFigures>,
    /// Resident memory the queued tasks added: (full − empty RSS) ÷
    /// `submitted`, in bytes.
    pub bytes_per_task: Option<f64>,
    /// The same per queue entry the dispatcher snapshot counted (one per
    /// task in Balanced, one per candidate in Fanout), in bytes.
    pub bytes_per_queue_entry: Option<f64>,
}

/// Everything a run measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// What was measured.
    pub scenario: Scenario,
    /// `--label`.
    pub label: Option<String>,
    /// The coordinator's dispatch mode, when the admin token was given.
    pub dispatch: Option<DispatchInfo>,
    /// Which tokens the run acted with.
    pub auth: String,
    /// When the run started (RFC 3339, UTC).
    pub started_at: String,
    /// The settings.
    pub settings: Settings,
    /// Length of the measured window, in seconds.
    pub window_secs: f64,
    /// Whether `--timeout` ended the run before it finished.
    pub timed_out: bool,
    /// Tasks queued before the measured phase that stayed queued through
    /// it (`--backlog`).
    pub backlog: Option<Backlog>,
    /// The database settled before the measured phase (`--settle-db`).
    pub settled: Option<Settled>,
    /// Throughput scenario figures.
    pub throughput: Option<Throughput>,
    /// Latency scenario figures.
    pub pickup: Option<Pickup>,
    /// Restart scenario figures.
    pub restart: Option<Restart>,
    /// Bad-tokens scenario figures.
    pub bad_tokens: Option<BadTokens>,
    /// Request → answer of fetches that brought tasks (including any time
    /// the fetch waited for work to arrive).
    pub fetch: Option<Summary>,
    /// What the simulated workers did.
    pub fleet: FleetCounts,
    /// Heartbeats answered per second over the window.
    pub heartbeats_per_sec: f64,
    /// Where the CPU went.
    pub usage: Usage,
    /// What PostgreSQL did, when `--database-url` was given.
    pub postgres: Option<PgRates>,
    /// CPU per measured task (throughput and latency).
    pub cost_per_task: Option<CostPerTask>,
}

impl Report {
    /// Writes the report as pretty JSON to `path`.
    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self).context("failed to encode the report")?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("failed to write {}", path.display()))
    }
}

/// Bad-token scenario figures.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BadTokens {
    /// `--bad-clients`.
    pub clients: usize,
    /// `--bad-token-kind`.
    pub kind: BadTokenKind,
    /// The honest client's submit (request → answer) with no bad client
    /// running: half the samples before the attack, half after.
    pub quiet: Option<Summary>,
    /// The same while the bad clients run.
    pub attacked: Option<Summary>,
    /// `attacked.p50 ÷ quiet.p50`.
    pub p50_ratio: Option<f64>,
    /// The honest client's failed submissions.
    pub submit_errors: u64,
    /// Requests the bad clients sent while the honest client measured.
    pub bad_requests: u64,
    /// The same per second.
    pub bad_per_sec: f64,
    /// Of those, answered 401.
    pub unauthorized: u64,
    /// Answered 429 `auth_busy`.
    pub auth_busy: u64,
    /// Answered anything else.
    pub other: u64,
    /// Not answered (connection errors).
    pub failed: u64,
}

#[cfg(test)]
pub(crate) mod tests {
    use clap::Parser;

    use super::*;
    use crate::monitor::{MachineUsage, ProcessUsage};

    /// A throughput report with every common figure filled.
    pub(crate) fn report() -> Report {
        let args = BenchArgs::try_parse_from(["switchyard-bench", "--tasks", "1000"]).unwrap();
        let summary = Summary {
            count: 1000,
            mean_ms: 2.0,
            p50_ms: 1.5,
            p90_ms: 3.0,
            p99_ms: 9.0,
            max_ms: 12.0,
        };
        Report {
            scenario: Scenario::Throughput,
            label: None,
            dispatch: Some(DispatchInfo {
                mode: "balanced".into(),
                strategy: "least-queue".into(),
            }),
            auth: "submit: token given; register: token given".into(),
            started_at: "2026-11-23T12:00:00Z".into(),
            settings: Settings::from(&args),
            window_secs: 2.0,
            timed_out: false,
            backlog: None,
            settled: None,
            throughput: Some(Throughput {
                submitted: 1000,
                completed: 1000,
                submit_errors: 0,
                submitted_per_sec: 2000.0,
                completed_per_sec: 500.0,
                end_to_end: Some(summary),
            }),
            pickup: None,
            restart: None,
            bad_tokens: None,
            fetch: None,
            fleet: FleetCounts::default(),
            heartbeats_per_sec: 0.0,
            usage: Usage {
                coordinator: Some(ProcessUsage {
                    pid: 42,
                    cpu_percent: 55.5,
                    rss_mib: Some(60.0),
                    peak_rss_mib: Some(61.0),
                }),
                postgres: None,
                loadgen: None,
                machine: Some(MachineUsage {
                    cores: 2,
                    busy_percent: 150.0,
                    other_percent: 20.0,
                    loadavg_at_start: Some(1.5),
                }),
            },
            postgres: None,
            cost_per_task: None,
        }
    }

    #[test]
    fn the_table_names_every_figure() {
        let table = report().table();
        for expected in [
            "throughput scenario",
            "balanced (least-queue)",
            "500 tasks/s (1000 tasks)",
            "p50     1.50 ms",
            "p99     9.00 ms",
            "55.5 % of one core  RSS 60.0 MiB (peak 61.0 MiB)  [pid 42]",
            "PostgreSQL CPU (all backends)      not found",
            "150.0 % of one core busy of 200 (20.0 % by other work; load 1.50 at start)",
            "not measured (pass --database-url)",
        ] {
            assert!(table.contains(expected), "missing `{expected}` in\n{table}");
        }
        assert!(!table.contains("ERRORS"), "{table}");
    }

    #[test]
    fn the_restart_table_and_json_name_every_figure() {
        let figures = |queued: u64, serving_secs: f64, rss_kib: u64, entries: u64| RestartFigures {
            queued_tasks: queued,
            command_secs: 0.4,
            serving_secs,
            probes: 12,
            probe_errors: 11,
            empty_probes: 0,
            pid: Some(43),
            rss_kib: Some(rss_kib),
            peak_rss_kib: Some(rss_kib + 1024),
            dispatcher: Some(DispatcherCounts {
                workers: 1000,
                queued_tasks: entries.min(queued),
                queue_entries: entries,
                unplaced: 0,
            }),
        };
        let report = Report {
            scenario: Scenario::Restart,
            throughput: None,
            restart: Some(Restart {
                empty: Some(figures(0, 0.8, 51_200, 0)),
                submitted: 100_000,
                submit_errors: 0,
                submitted_per_sec: 8000.0,
                full: Some(figures(100_000, 2.5, 81_920, 5_000_000)),
                bytes_per_task: Some(314.6),
                bytes_per_queue_entry: Some(6.3),
            }),
            ..report()
        };
        let table = report.table();
        for expected in [
            "restart scenario",
            "restart, nothing queued",
            "serving after 0.80 s (command 0.40 s; 12 fetches, 11 failed, 0 empty)",
            "RSS 50.0 MiB (peak 51.0 MiB) [pid 43]",
            "then submitted",
            "restart, 100000 queued",
            "100000 queued tasks in 5000000 queue entries (50.0 per task)",
            "315 bytes (RSS +30.0 MiB for 100000 tasks); 6.3 bytes per queue entry",
            "serving within 5 s (target)",
            "met: 2.50 s with 100000 queued",
            "not measured in this scenario",
        ] {
            assert!(table.contains(expected), "missing `{expected}` in\n{table}");
        }
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["restart"]["full"]["serving_secs"], 2.5);
        assert_eq!(
            json["restart"]["full"]["dispatcher"]["queue_entries"],
            5_000_000
        );
        assert_eq!(json["restart"]["bytes_per_task"], 314.6);
        assert_eq!(json["scenario"], "restart");
    }

    #[test]
    fn the_bad_token_table_and_json_name_every_figure() {
        let summary = |p50_ms: f64| Summary {
            count: 500,
            mean_ms: p50_ms,
            p50_ms,
            p90_ms: p50_ms * 2.0,
            p99_ms: p50_ms * 4.0,
            max_ms: p50_ms * 8.0,
        };
        let report = Report {
            scenario: Scenario::BadTokens,
            throughput: None,
            bad_tokens: Some(BadTokens {
                clients: 64,
                kind: BadTokenKind::Random,
                quiet: Some(summary(10.0)),
                attacked: Some(summary(13.0)),
                p50_ratio: Some(1.3),
                submit_errors: 0,
                bad_requests: 90_000,
                bad_per_sec: 9000.0,
                unauthorized: 80_000,
                auth_busy: 10_000,
                other: 0,
                failed: 0,
            }),
            ..report()
        };
        let table = report.table();
        for expected in [
            "bad-tokens scenario",
            "honest submit, no bad clients",
            "honest submit, 64 bad clients",
            "p50    13.00 ms",
            "1.30× (within the bar of < 2×)",
            "90000 (9000/s; a new well-formed token each): 80000 answered 401, 10000 429 auth_busy",
        ] {
            assert!(table.contains(expected), "missing `{expected}` in\n{table}");
        }
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["scenario"], "bad_tokens");
        assert_eq!(json["bad_tokens"]["attacked"]["p50_ms"], 13.0);
        assert_eq!(json["bad_tokens"]["kind"], "random");
    }

    #[test]
    fn the_json_has_the_same_figures() {
        let json = serde_json::to_value(report()).unwrap();
        assert_eq!(json["scenario"], "throughput");
        assert_eq!(json["throughput"]["completed_per_sec"], 500.0);
        assert_eq!(json["throughput"]["end_to_end"]["p99_ms"], 9.0);
        assert_eq!(json["usage"]["coordinator"]["cpu_percent"], 55.5);
        assert_eq!(json["settings"]["tasks"], 1000);
        assert!(json["postgres"].is_null());
    }
}
