//! `switchyard-bench`: a load generator that drives a running coordinator
//! over its real HTTP API — submitters, and simulated workers that speak the
//! worker protocol (register, heartbeat, long-poll fetch, report at once) —
//! and reports throughput, latency, and what they cost the coordinator and
//! PostgreSQL. Loopback only; every run is bounded by `--timeout`.
//!
//! # Layout
//! - [`args`]: the command line; [`tags`]: the tag mix; [`credentials`]:
//!   the tokens the run acts with.
//! - [`submitters`]: batch submission, as fast as possible or paced.
//! - [`workers`]: the simulated fleet and its loops, over [`reports`]: a
//!   worker's reports; [`worker`]: one simulated worker and what it
//!   recorded; [`plan`]: how the fleet behaves; [`shared`]: its signals
//!   and counters.
//! - [`throughput`], [`latency`], [`idle`], [`restart`], [`badtokens`]:
//!   the scenarios; [`backlog`]: the queued work the first two can measure
//!   beside.
//! - [`window`]: a measured window; [`monitor`] and [`procfs`]: CPU and
//!   memory from `/proc`; [`pgstat`]: PostgreSQL's commit counters;
//!   [`target`]: finding the coordinator's and PostgreSQL's processes;
//!   [`dispatcher`]: what the coordinator's dispatcher holds.
//! - [`stats`]: percentiles; [`cost`]: CPU per task; [`report`]: the
//!   figures and their JSON; [`table`]: the same as a table.

pub mod args;
pub mod backlog;
pub mod badtokens;
pub mod cost;
pub mod credentials;
pub mod dispatcher;
pub mod idle;
pub mod latency;
pub mod monitor;
pub mod pgstat;
pub mod plan;
pub mod procfs;
pub mod report;
pub mod reports;
pub mod restart;
pub mod shared;
pub mod stats;
pub mod submitters;
pub mod table;
pub mod tags;
pub mod target;
pub mod throughput;
pub mod watchers;
pub mod window;
pub mod worker;
pub mod workers;

use std::sync::Arc;
use std::time::SystemTime;

use anyhow::Context;
use switchyard_protocol::{Client, ClientError, TaskView};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::args::{BenchArgs, Scenario};
use crate::credentials::Credentials;
use crate::pgstat::PgRates;
use crate::report::{Report, Settings};
use crate::submitters::SubmitPlan;
use crate::target::Target;
use crate::window::Closed;
use crate::worker::WorkerOutcome;
use crate::workers::{Fleet, FleetCounts, FleetPlan, Shared};

/// One run: its settings, the system under test, and the stop signal.
#[derive(Debug)]
pub struct Bench {
    /// The settings.
    pub args: BenchArgs,
    /// For submissions (shared by the submitters; clones share connections).
    pub client: Client,
    /// Cancelled at `--timeout` or ctrl-c: everything winds down.
    pub stop: CancellationToken,
    /// The coordinator and PostgreSQL.
    pub target: Target,
    /// Who the run acts as.
    pub credentials: Credentials,
    started_at: String,
}

impl Bench {
    /// The fleet as the settings describe it.
    pub fn fleet_plan(&self) -> FleetPlan {
        FleetPlan {
            workers: self.args.workers,
            tag_sets: self.args.tag_sets.clone(),
            slots: self.args.worker_slots(),
            fetch_max: self.args.fetch_max,
            fetch_wait: self.args.fetch_wait,
            report_concurrency: self.args.report_concurrency,
            report_batch: self.args.report_batch,
            shared_client: self.args.shared_client,
            registration_token: self.credentials.register.clone(),
        }
    }

    /// Waits `--warmup` (or until stopped), so every worker is long-polling.
    pub async fn warm_up(&self) {
        tokio::select! {
            () = tokio::time::sleep(self.args.warmup) => {}
            () = self.stop.cancelled() => {}
        }
    }

    /// Registers the fleet as the settings describe it, starts its loops
    /// and waits out the warm-up.
    pub async fn start_fleet(&self, shared: Arc<Shared>) -> anyhow::Result<Fleet> {
        let plan = self.fleet_plan();
        let mut fleet = Fleet::register(&self.args.url, &plan, shared).await?;
        fleet.start(&plan);
        self.warm_up().await;
        Ok(fleet)
    }

    /// Stops the fleet after a measured window: its loops end, PostgreSQL's
    /// rates over the window are read, and its workers unregister. Answers
    /// what each worker did and those rates.
    pub async fn wind_down(
        &self,
        mut fleet: Fleet,
        closed: &Closed,
    ) -> (Vec<WorkerOutcome>, Option<PgRates>) {
        let outcomes = fleet.stop_fetching().await;
        fleet.stop_heartbeats().await;
        let postgres = closed.pg_rates(&self.target, self.args.pg_settle).await;
        fleet.unregister().await;
        (outcomes, postgres)
    }

    /// The batch submission the settings describe.
    pub fn submit_plan(&self) -> SubmitPlan {
        SubmitPlan {
            total: self.args.tasks,
            batch: self.args.batch,
            rate: self.args.rate,
            submitters: self.args.submitters,
            tag_sets: self.args.tag_sets.clone(),
            priorities: self.args.priorities.clone(),
        }
    }

    /// Submits task number `index` alone; answers when it was sent and the
    /// answer, or `None` when the run is stopped first.
    pub async fn submit_timed(
        &self,
        index: usize,
    ) -> Option<(Instant, Result<TaskView, ClientError>)> {
        if self.stop.is_cancelled() {
            return None;
        }
        let task = submitters::task(index as u64, &self.args.tag_sets, &self.args.priorities);
        let sent = Instant::now();
        tokio::select! {
            () = self.stop.cancelled() => None,
            answer = self.client.submit(&task) => Some((sent, answer)),
        }
    }

    /// A report with the common fields filled from a closed window; each
    /// scenario adds its own figures.
    pub fn report(&self, closed: &Closed) -> Report {
        Report {
            scenario: self.args.scenario,
            label: self.args.label.clone(),
            dispatch: self.target.dispatch.clone(),
            auth: self.credentials.source.clone(),
            started_at: self.started_at.clone(),
            settings: Settings::from(&self.args),
            window_secs: closed.elapsed.as_secs_f64(),
            timed_out: false,
            backlog: None,
            settled: None,
            throughput: None,
            pickup: None,
            restart: None,
            bad_tokens: None,
            fetch: None,
            fleet: FleetCounts::default(),
            heartbeats_per_sec: 0.0,
            usage: closed.usage,
            postgres: None,
            cost_per_task: None,
        }
    }
}

/// Checks `args` as a whole: each flag against the others, the backlog's
/// included (see [`backlog::check`]).
pub fn check_args(args: &BenchArgs) -> Result<(), String> {
    args.validate()?;
    backlog::check(args)
}

/// Runs the scenario `args` asks for and returns what it measured.
pub async fn run(args: BenchArgs) -> anyhow::Result<Report> {
    check_args(&args).map_err(anyhow::Error::msg)?;
    let started_at = humantime::format_rfc3339_seconds(SystemTime::now()).to_string();
    let target = Target::discover(&args).await?;
    let credentials = Credentials::resolve(&args).await;
    let mut client = Client::new(&args.url).context("failed to build an HTTP client")?;
    if let Some(token) = &credentials.submit {
        client = client.with_token(token.clone());
    }
    let stop = CancellationToken::new();
    let guard = {
        let stop = stop.clone();
        let timeout = args.timeout;
        tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(timeout) => {
                    tracing::warn!(?timeout, "time is up: stopping the run");
                }
                _ = tokio::signal::ctrl_c() => tracing::warn!("interrupted: stopping the run"),
                () = stop.cancelled() => {}
            }
            stop.cancel();
        })
    };
    let bench = Bench {
        args,
        client,
        stop,
        target,
        credentials,
        started_at,
    };
    let report = match bench.args.scenario {
        Scenario::Throughput => throughput::run(&bench).await,
        Scenario::Latency => latency::run(&bench).await,
        Scenario::Idle => idle::run(&bench).await,
        Scenario::Restart => restart::run(&bench).await,
        Scenario::BadTokens => badtokens::run(&bench).await,
    };
    bench.stop.cancel();
    let _ = guard.await;
    report
}
