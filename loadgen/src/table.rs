//! The report as a table for a terminal.

use std::fmt::Write as _;

use crate::args::BadTokenKind;
use crate::args::Scenario;
use crate::backlog::{Backlog, Settled};
use crate::cost::CostPerTask;
use crate::monitor::ProcessUsage;
use crate::report::BadTokens;
use crate::report::{Report, Restart, RestartFigures};
use crate::restart::SERVING_GOAL;
use crate::stats::Summary;

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

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

fn restart_line(out: &mut String, name: &str, figures: Option<&RestartFigures>) {
    let Some(f) = figures else {
        let _ = writeln!(out, "  {name:<34} not measured");
        return;
    };
    let memory = match (f.rss_kib, f.peak_rss_kib, f.pid) {
        (Some(rss), Some(peak), Some(pid)) => format!(
            "RSS {:.1} MiB (peak {:.1} MiB) [pid {pid}]",
            mib(rss),
            mib(peak)
        ),
        _ => "RSS not found".to_owned(),
    };
    let _ = writeln!(
        out,
        "  {name:<34} serving after {:.2} s (command {:.2} s; {} fetches, {} failed, {} empty); {memory}",
        f.serving_secs, f.command_secs, f.probes, f.probe_errors, f.empty_probes
    );
    let _ = match &f.dispatcher {
        Some(d) => writeln!(
            out,
            "  {:<34} {} queued tasks in {} queue entries{}, {} unplaced, {} workers",
            "  dispatcher once serving",
            d.queued_tasks,
            d.queue_entries,
            d.entries_per_task()
                .map(|k| format!(" ({k:.1} per task)"))
                .unwrap_or_default(),
            d.unplaced,
            d.workers
        ),
        None => writeln!(
            out,
            "  {:<34} not read (pass --admin-token)",
            "  dispatcher once serving"
        ),
    };
}

fn restart_lines(out: &mut String, r: &Restart) {
    restart_line(out, "restart, nothing queued", r.empty.as_ref());
    let _ = writeln!(
        out,
        "  {:<34} {} tasks at {:.0} tasks/s ({} failed submissions, retried)",
        "then submitted", r.submitted, r.submitted_per_sec, r.submit_errors
    );
    let name = format!("restart, {} queued", r.submitted);
    restart_line(out, &name, r.full.as_ref());
    if let (Some(empty), Some(full)) = (&r.empty, &r.full)
        && let (Some(base), Some(grown)) = (empty.rss_kib, full.rss_kib)
    {
        let per_entry = r
            .bytes_per_queue_entry
            .map(|b| format!("; {b:.1} bytes per queue entry"))
            .unwrap_or_default();
        let _ = writeln!(
            out,
            "  {:<34} {:.0} bytes (RSS {:+.1} MiB for {} tasks){per_entry}",
            "memory per queued task",
            r.bytes_per_task.unwrap_or(0.0),
            mib(grown) - mib(base),
            r.submitted
        );
    }
    if let Some(full) = &r.full {
        let goal = SERVING_GOAL.as_secs_f64();
        let verdict = if full.serving_secs <= goal {
            "met"
        } else {
            "NOT met"
        };
        let _ = writeln!(
            out,
            "  {:<34} {verdict}: {:.2} s with {} queued",
            format!("serving within {goal} s (target)"),
            full.serving_secs,
            r.submitted
        );
    }
}

/// The honest client's latency without and with the bad clients, and what
/// the bad clients got.
fn bad_token_lines(out: &mut String, b: &BadTokens) {
    summary_line(out, "honest submit, no bad clients", b.quiet.as_ref());
    let name = format!("honest submit, {} bad clients", b.clients);
    summary_line(out, &name, b.attacked.as_ref());
    let _ = match b.p50_ratio {
        Some(ratio) => writeln!(
            out,
            "  {:<34} {ratio:.2}× ({} the bar of < 2×)",
            "p50 with ÷ without",
            if ratio < 2.0 { "within" } else { "NOT within" }
        ),
        None => writeln!(out, "  {:<34} not measured", "p50 with ÷ without"),
    };
    let _ = writeln!(
        out,
        "  {:<34} {} ({:.0}/s; {}): {} answered 401, {} 429 auth_busy, {} other, {} unanswered",
        "bad-token requests while measuring",
        b.bad_requests,
        b.bad_per_sec,
        match b.kind {
            BadTokenKind::Random => "a new well-formed token each",
            BadTokenKind::Replayed => "one well-formed token per client",
            BadTokenKind::Malformed => "malformed tokens",
        },
        b.unauthorized,
        b.auth_busy,
        b.other,
        b.failed
    );
    if b.submit_errors > 0 {
        let _ = writeln!(
            out,
            "  {:<34} {} honest submissions failed",
            "ERRORS", b.submit_errors
        );
    }
}

/// The backlog queued before measuring, and the settling after it.
fn prelude_lines(out: &mut String, backlog: Option<&Backlog>, settled: Option<&Settled>) {
    if let Some(b) = backlog {
        let _ = writeln!(
            out,
            "  {:<34} {} tasks requiring `{}`, acknowledged in {:.2} s ({:.0} tasks/s, {} failed submissions, retried)",
            "backlog (queued, never run)",
            b.tasks,
            b.tags,
            b.submit_secs,
            b.submitted_per_sec,
            b.submit_errors
        );
        let _ = match &b.dispatcher {
            Some(d) => writeln!(
                out,
                "  {:<34} {} queued tasks, {} unplaced",
                "  dispatcher after the backlog", d.queued_tasks, d.unplaced
            ),
            None => writeln!(
                out,
                "  {:<34} not read (pass --admin-token)",
                "  dispatcher after the backlog"
            ),
        };
    }
    if let Some(s) = settled {
        let _ = writeln!(
            out,
            "  {:<34} VACUUM (ANALYZE) {:.2} s, CHECKPOINT {:.2} s",
            "database settled before measuring", s.vacuum_secs, s.checkpoint_secs
        );
    }
}

/// CPU per measured task.
fn cost_line(out: &mut String, cost: &CostPerTask) {
    let ms = |v: Option<f64>| v.map_or("not found".to_owned(), |v| format!("{v:.3} ms"));
    let _ = writeln!(
        out,
        "  {:<34} coordinator {}, PostgreSQL {} (over {} measured tasks)",
        "CPU per task",
        ms(cost.coordinator_cpu_ms),
        ms(cost.postgres_cpu_ms),
        cost.tasks
    );
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
            "  {:<34} {} workers, tag sets `{}`, fetch up to {} (wait {}s), {} slots, {} report requests at once of up to {}{}",
            "fleet",
            s.workers,
            s.tag_sets,
            s.fetch_max,
            s.fetch_wait_secs,
            s.slots,
            s.report_concurrency,
            s.report_batch,
            if s.shared_client {
                ", one shared HTTP client"
            } else {
                ""
            }
        );
        let window = match self.scenario {
            Scenario::Restart => "measured window (submissions)",
            Scenario::BadTokens => "measured window (bad clients on)",
            _ => "measured window",
        };
        prelude_lines(&mut out, self.backlog.as_ref(), self.settled.as_ref());
        let _ = writeln!(out, "  {window:<34} {:.2} s", self.window_secs);
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
            if let Some(w) = &p.watching {
                let _ = writeln!(
                    out,
                    "  {:<34} {} followers, {} waiters: {} chunks printed, {} events received, {} waits answered, {} errors",
                    "watchers",
                    w.followers,
                    w.waiters,
                    w.chunks_printed,
                    w.events_received,
                    w.waits_answered,
                    w.errors
                );
            }
        }
        if let Some(r) = &self.restart {
            restart_lines(&mut out, r);
        }
        if let Some(b) = &self.bad_tokens {
            bad_token_lines(&mut out, b);
        }
        if self.scenario != Scenario::Restart {
            summary_line(&mut out, "fetch (request → answer)", self.fetch.as_ref());
        }
        let f = &self.fleet;
        let _ = writeln!(
            out,
            "  {:<34} {} fetches ({} empty), {} report requests, {} heartbeats ({:.1}/s)",
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
            let name = if self.scenario == Scenario::Restart {
                "failed calls (while restarting)"
            } else {
                "ERRORS"
            };
            let _ = writeln!(
                out,
                "  {:<34} submit {}, fetch {}, report {}, heartbeat {}, unregister {}",
                name,
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
        if let Some(cost) = &self.cost_per_task {
            cost_line(&mut out, cost);
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
                let why = if self.scenario == Scenario::Restart {
                    "not measured in this scenario"
                } else {
                    "not measured (pass --database-url)"
                };
                let _ = writeln!(out, "  {:<34} {why}", "PostgreSQL");
            }
        }
        out
    }
}
