//! The idle scenario: a fleet long-polls with nothing to do; measure what
//! that costs the coordinator (and PostgreSQL) over `--duration`.

use std::sync::Arc;

use crate::Bench;
use crate::report::Report;
use crate::stats::{Samples, per_second};
use crate::window::Window;
use crate::workers::Shared;

/// Runs the scenario.
pub async fn run(bench: &Bench) -> anyhow::Result<Report> {
    let args = &bench.args;
    let shared = Arc::new(Shared::default());
    let fleet = bench.start_fleet(shared.clone()).await?;

    let window = Window::open(&bench.target).await;
    let before = shared.counters.snapshot();
    tokio::select! {
        () = tokio::time::sleep(args.duration) => {}
        () = bench.stop.cancelled() => {}
    }
    let after = shared.counters.snapshot();
    let closed = window.close(&bench.target).await;
    let timed_out = bench.stop.is_cancelled();
    let (outcomes, postgres) = bench.wind_down(fleet, &closed).await;

    let mut fetch = Samples::new();
    for outcome in outcomes {
        fetch.extend(outcome.fetch_latency);
    }
    Ok(Report {
        fetch: fetch.summary(),
        heartbeats_per_sec: per_second(after.heartbeats - before.heartbeats, closed.elapsed),
        fleet: shared.counters.snapshot(),
        postgres,
        timed_out,
        ..bench.report(&closed)
    })
}
