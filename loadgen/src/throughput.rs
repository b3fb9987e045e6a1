//! The throughput scenario: submit every task while the fleet burns them
//! down; measure until the last report is answered. Any `--backlog` is
//! queued first and stays queued; only this run's measured tasks count.

use std::collections::HashMap;
use std::sync::Arc;

use switchyard_protocol::TaskId;
use tokio::time::Instant;

use crate::Bench;
use crate::backlog;
use crate::cost::CostPerTask;
use crate::report::{Report, Throughput};
use crate::stats::{Samples, per_second};
use crate::submitters;
use crate::window::Window;
use crate::workers::{Shared, WorkerOutcome};

/// Runs the scenario.
pub async fn run(bench: &Bench) -> anyhow::Result<Report> {
    let args = &bench.args;
    let prelude = backlog::prepare(bench).await?;
    let shared = Arc::new(Shared {
        target: Some(args.tasks),
        ..Shared::default()
    });
    let fleet = bench.start_fleet(shared.clone()).await?;

    let window = Window::open(&bench.target).await;
    let opened = window.opened;
    let submitting = tokio::spawn(submitters::run(
        bench.client.clone(),
        bench.submit_plan(),
        bench.stop.clone(),
    ));
    tokio::select! {
        () = shared.all_handled.cancelled() => {}
        () = bench.stop.cancelled() => {}
    }
    let closed = window.close(&bench.target).await;
    let timed_out = bench.stop.is_cancelled();
    bench.stop.cancel();
    let submitted = submitting.await.unwrap_or_else(|error| {
        tracing::error!(%error, "the submitters failed");
        submitters::SubmitOutcome::default()
    });
    let (outcomes, postgres) = bench.wind_down(fleet, &closed).await;

    let sent: HashMap<TaskId, Instant> = submitted
        .batches
        .iter()
        .flat_map(|batch| batch.ids.iter().map(|id| (*id, batch.sent)))
        .collect();
    let submitted_count = sent.len() as u64;
    let last_answer = submitted.batches.iter().map(|b| b.answered).max();
    let (end_to_end, fetch, completed, last_report) = digest(outcomes, &sent);
    let since_open =
        |end: Option<Instant>| end.map_or(closed.elapsed, |e| e.saturating_duration_since(opened));
    let throughput = Throughput {
        submitted: submitted_count,
        completed,
        submit_errors: submitted.errors,
        submitted_per_sec: per_second(submitted_count, since_open(last_answer)),
        completed_per_sec: per_second(completed, since_open(last_report)),
        end_to_end: end_to_end.summary(),
    };
    let fleet_counts = shared.counters.snapshot();
    Ok(Report {
        backlog: prelude.backlog,
        settled: prelude.settled,
        cost_per_task: CostPerTask::of(&closed.usage, closed.elapsed, completed),
        throughput: Some(throughput),
        fetch: fetch.summary(),
        heartbeats_per_sec: per_second(fleet_counts.heartbeats, closed.elapsed),
        fleet: fleet_counts,
        postgres,
        timed_out,
        ..bench.report(&closed)
    })
}

/// End-to-end latencies, fetch latencies, tasks completed and the last
/// report, from what the workers recorded.
fn digest(
    outcomes: Vec<WorkerOutcome>,
    sent: &HashMap<TaskId, Instant>,
) -> (Samples, Samples, u64, Option<Instant>) {
    let mut end_to_end = Samples::new();
    let mut fetch = Samples::new();
    let mut completed = 0;
    let mut last_report: Option<Instant> = None;
    for outcome in outcomes {
        fetch.extend(outcome.fetch_latency);
        for handled in outcome.handled {
            completed += 1;
            last_report = last_report.max(Some(handled.reported));
            if let Some(sent) = sent.get(&handled.task) {
                end_to_end.push(handled.reported.saturating_duration_since(*sent));
            }
        }
    }
    (end_to_end, fetch, completed, last_report)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::workers::Handled;

    #[test]
    fn end_to_end_joins_submissions_and_reports_by_task() {
        let start = Instant::now();
        let at = |ms: u64| start + Duration::from_millis(ms);
        let sent: HashMap<TaskId, Instant> = [(TaskId(1), at(0)), (TaskId(2), at(10))].into();
        let handled = |id, reported| Handled {
            task: TaskId(id),
            fetched: at(1),
            reported: at(reported),
        };
        let outcomes = vec![
            WorkerOutcome {
                handled: vec![handled(1, 30)],
                fetch_latency: [Duration::from_millis(4)].into_iter().collect(),
            },
            WorkerOutcome {
                // Task 3 was not submitted by this run: counted, not timed.
                handled: vec![handled(2, 50), handled(3, 70)],
                fetch_latency: Samples::new(),
            },
        ];
        let (end_to_end, fetch, completed, last) = digest(outcomes, &sent);
        assert_eq!(completed, 3);
        assert_eq!(last, Some(at(70)));
        assert_eq!(fetch.len(), 1);
        let summary = end_to_end.summary().unwrap();
        assert_eq!(summary.count, 2);
        assert!((summary.max_ms - 40.0).abs() < 1e-6);
        assert!((summary.p50_ms - 30.0).abs() < 1e-6);
    }
}
