//! The latency scenario: an idle fleet long-polls; one task at a time is
//! submitted, and the time from its submit answer to the fetch that returns
//! it is measured. Any `--backlog` is queued first and stays queued; any
//! `--watchers` follow and wait on a running task meanwhile.

use std::sync::Arc;
use std::time::Duration;

use switchyard_protocol::TaskId;
use tokio::sync::mpsc;
use tokio::time::Instant;

use crate::Bench;
use crate::backlog;
use crate::cost::CostPerTask;
use crate::report::{Pickup, Report};
use crate::stats::{Samples, per_second};

use crate::watchers;
use crate::window::Window;
use crate::workers::{Event, Shared};

/// Longest wait for one sample to be fetched and reported.
const SAMPLE_DEADLINE: Duration = Duration::from_secs(10);

/// How one sample went.
enum Sample {
    /// Fetched at this instant, and reported.
    Fetched(Instant),
    /// Not fetched and reported within the deadline.
    Missed,
    /// The run is stopping.
    Stopped,
}

/// Runs the scenario.
pub async fn run(bench: &Bench) -> anyhow::Result<Report> {
    let args = &bench.args;
    let prelude = backlog::prepare(bench).await?;
    let (events, mut received) = mpsc::unbounded_channel();
    let shared = Arc::new(Shared {
        events: Some(events),
        ..Shared::default()
    });
    let fleet = bench.start_fleet(shared.clone()).await?;
    let watchers = match args.watchers {
        0 => None,
        count => Some(watchers::start(bench, count).await?),
    };

    let window = Window::open(&bench.target).await;
    let mut after_answer = Samples::new();
    let mut after_send = Samples::new();
    let mut fetched_before_answer = 0;
    let mut missed = 0;
    let mut submit_errors = 0u64;
    for index in 0..args.samples {
        let Some((sent, answer)) = bench.submit_timed(index).await else {
            break;
        };
        let answered = Instant::now();
        let id = match answer {
            Ok(view) => view.id,
            Err(error) => {
                submit_errors += 1;
                tracing::warn!(%error, "submission failed");
                continue;
            }
        };
        match wait_for(id, &mut received, bench).await {
            Sample::Fetched(at) => {
                if at < answered {
                    fetched_before_answer += 1;
                }
                after_answer.push(at.saturating_duration_since(answered));
                after_send.push(at.saturating_duration_since(sent));
            }
            Sample::Missed => missed += 1,
            Sample::Stopped => break,
        }
        if !args.sample_gap.is_zero() {
            tokio::time::sleep(args.sample_gap).await;
        }
    }
    let closed = window.close(&bench.target).await;
    let watching = match watchers {
        Some(watchers) => Some(watchers.stop().await),
        None => None,
    };
    let timed_out = bench.stop.is_cancelled();
    let (outcomes, postgres) = bench.wind_down(fleet, &closed).await;

    if submit_errors > 0 {
        tracing::warn!(submit_errors, "some samples could not be submitted");
    }
    let mut fetch = Samples::new();
    for outcome in outcomes {
        fetch.extend(outcome.fetch_latency);
    }
    let fleet_counts = shared.counters.snapshot();
    let fetched = after_answer.len() as u64;
    Ok(Report {
        backlog: prelude.backlog,
        settled: prelude.settled,
        cost_per_task: CostPerTask::of(&closed.usage, closed.elapsed, fetched),
        pickup: Some(Pickup {
            samples: after_answer.len(),
            after_answer: after_answer.summary(),
            after_send: after_send.summary(),
            fetched_before_answer,
            missed,
            watching,
        }),
        fetch: fetch.summary(),
        heartbeats_per_sec: per_second(fleet_counts.heartbeats, closed.elapsed),
        fleet: fleet_counts,
        postgres,
        timed_out,
        ..bench.report(&closed)
    })
}

/// Waits until task `id` has been fetched and its report answered.
async fn wait_for(
    id: TaskId,
    received: &mut mpsc::UnboundedReceiver<Event>,
    bench: &Bench,
) -> Sample {
    let deadline = tokio::time::sleep(SAMPLE_DEADLINE);
    tokio::pin!(deadline);
    let mut fetched = None;
    loop {
        let event = tokio::select! {
            () = bench.stop.cancelled() => return Sample::Stopped,
            () = &mut deadline => return Sample::Missed,
            event = received.recv() => event,
        };
        match event {
            Some(Event::Fetched { task, at }) if task == id => fetched = Some(at),
            Some(Event::Reported { task }) if task == id => {
                return fetched.map_or(Sample::Missed, Sample::Fetched);
            }
            Some(_) => {}
            None => return Sample::Stopped,
        }
    }
}
