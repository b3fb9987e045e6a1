//! The result of a run: one structure, printed as a table for people and
//! written as JSON for tools.

use std::fmt::Write as _;
use std::path::Path;

use anyhow::Context;
use serde::Serialize;

use crate::args::{BenchArgs, Scenario};
use crate::monitor::{ProcessUsage, Usage};
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
    /// `--fetch-max`.
    pub fetch_max: u32,
    /// `--fetch-wait`, in seconds.
    pub fetch_wait_secs: f64,
    /// Slots each worker registered with.
    pub slots: u32,
    /// `--report-concurrency`.
    pub report_concurrency: usize,
    /// `--shared-client`.
    pub shared_client: bool,
    /// `--samples` (latency).
    pub samples: usize,
    /// `--duration` (idle), in seconds.
    pub duration_secs: f64,
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
            fetch_max: args.fetch_max,
            fetch_wait_secs: args.fetch_wait.as_secs_f64(),
            slots: args.worker_slots(),
            report_concurrency: args.report_concurrency,
            shared_client: args.shared_client,
            samples: args.samples,
            duration_secs: args.duration.as_secs_f64(),
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
    /// Throughput scenario figures.
    pub throughput: Option<Throughput>,
    /// Latency scenario figures.
    pub pickup: Option<Pickup>,
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
}

fn summary_line(out: &mut String, name: &str, summary: Option<&Summary>) {
    let _ = match summary {
        Some(s) => writeln!(
            out,
            "  {name:<34} p50 {:>8.2} ms  p90 {:>8.2} ms  p99 {:>8.2} ms  max {:>8.2} ms  (n={})",
            s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms, s.count
        ),
        None => writeln!(out, "  {name:<34} no samples"),
    };
}

fn usage_line(out: &mut String, name: &str, usage: Option<&ProcessUsage>) {
    let _ = match usage {
        Some(u) => {
            let memory = match (u.rss_mib, u.peak_rss_mib) {
                (Some(rss), Some(peak)) => format!("  RSS {rss:.1} MiB (peak {peak:.1} MiB)"),
                _ => String::new(),
            };
            writeln!(
                out,
                "  {name:<34} {:>7.1} % of one core{memory}  [pid {}]",
                u.cpu_percent, u.pid
            )
        }
        None => writeln!(out, "  {name:<34} not found"),
    };
}

impl Report {
    /// The report as a table for a terminal.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let s = &self.settings;
        let dispatch = match (&self.dispatch, &self.label) {
            (Some(d), _) => format!("{} ({})", d.mode, d.strategy),
            (None, Some(label)) => label.clone(),
            (None, None) => "unknown (pass --admin-token or --label)".to_owned(),
        };
        let _ = writeln!(out, "switchyard-bench: {} scenario", self.scenario.as_str());
        let _ = writeln!(out, "  {:<34} {}", "started", self.started_at);
        let _ = writeln!(out, "  {:<34} {}", "coordinator", s.url);
        let _ = writeln!(out, "  {:<34} {dispatch}", "dispatch");
        let _ = writeln!(out, "  {:<34} {}", "tokens", self.auth);
        if let Some(label) = self.label.as_ref().filter(|_| self.dispatch.is_some()) {
            let _ = writeln!(out, "  {:<34} {label}", "label");
        }
        let _ = writeln!(
            out,
            "  {:<34} {} workers, tag sets `{}`, fetch up to {} (wait {}s), {} slots, {} reports at once{}",
            "fleet",
            s.workers,
            s.tag_sets,
            s.fetch_max,
            s.fetch_wait_secs,
            s.slots,
            s.report_concurrency,
            if s.shared_client {
                ", one shared HTTP client"
            } else {
                ""
            }
        );
        let _ = writeln!(out, "  {:<34} {:.2} s", "measured window", self.window_secs);
        if self.timed_out {
            let _ = writeln!(out, "  {:<34} YES: the figures are partial", "timed out");
        }
        if let Some(t) = &self.throughput {
            let _ = writeln!(
                out,
                "  {:<34} {} in batches of {} by {} submitters{}",
                "submitted",
                t.submitted,
                s.batch,
                s.submitters,
                s.rate
                    .map(|r| format!(", paced at {r} tasks/s"))
                    .unwrap_or_default()
            );
            let _ = writeln!(
                out,
                "  {:<34} {:.0} tasks/s",
                "submitted/s", t.submitted_per_sec
            );
            let _ = writeln!(
                out,
                "  {:<34} {:.0} tasks/s ({} tasks)",
                "completed/s", t.completed_per_sec, t.completed
            );
            summary_line(
                &mut out,
                "end-to-end (submit → report)",
                t.end_to_end.as_ref(),
            );
        }
        if let Some(p) = &self.pickup {
            summary_line(
                &mut out,
                "pickup (submit answered → fetched)",
                p.after_answer.as_ref(),
            );
            summary_line(
                &mut out,
                "pickup (submit sent → fetched)",
                p.after_send.as_ref(),
            );
            let _ = writeln!(
                out,
                "  {:<34} {} fetched before the submit answer, {} missed",
                "pickup notes", p.fetched_before_answer, p.missed
            );
        }
        summary_line(&mut out, "fetch (request → answer)", self.fetch.as_ref());
        let f = &self.fleet;
        let _ = writeln!(
            out,
            "  {:<34} {} fetches ({} empty), {} reports, {} heartbeats ({:.1}/s)",
            "worker calls",
            f.fetches,
            f.empty_fetches,
            f.reports,
            f.heartbeats,
            self.heartbeats_per_sec
        );
        let errors = f.fetch_errors + f.report_errors + f.heartbeat_errors + f.unregister_errors;
        if errors > 0
            || self
                .throughput
                .as_ref()
                .is_some_and(|t| t.submit_errors > 0)
        {
            let _ = writeln!(
                out,
                "  {:<34} submit {}, fetch {}, report {}, heartbeat {}, unregister {}",
                "ERRORS",
                self.throughput.as_ref().map_or(0, |t| t.submit_errors),
                f.fetch_errors,
                f.report_errors,
                f.heartbeat_errors,
                f.unregister_errors
            );
        }
        usage_line(&mut out, "coordinator CPU", self.usage.coordinator.as_ref());
        usage_line(
            &mut out,
            "PostgreSQL CPU (all backends)",
            self.usage.postgres.as_ref(),
        );
        usage_line(&mut out, "load generator CPU", self.usage.loadgen.as_ref());
        if let Some(m) = &self.usage.machine {
            let _ = writeln!(
                out,
                "  {:<34} {:.1} % of one core busy of {} ({:.1} % by other work; load {} at start)",
                "machine",
                m.busy_percent,
                m.cores * 100,
                m.other_percent,
                m.loadavg_at_start
                    .map_or("?".to_owned(), |l| format!("{l:.2}"))
            );
        }
        match &self.postgres {
            Some(pg) => {
                let _ = writeln!(
                    out,
                    "  {:<34} {:.0} commits/s ({} in all), {:.0} writing transactions/s",
                    "PostgreSQL", pg.commits_per_sec, pg.commits, pg.write_xacts_per_sec
                );
            }
            None => {
                let _ = writeln!(
                    out,
                    "  {:<34} not measured (pass --database-url)",
                    "PostgreSQL"
                );
            }
        }
        out
    }

    /// Writes the report as pretty JSON to `path`.
    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        let text = serde_json::to_string_pretty(self).context("failed to encode the report")?;
        std::fs::write(path, text + "\n")
            .with_context(|| format!("failed to write {}", path.display()))
    }
}
