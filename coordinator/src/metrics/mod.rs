//! Metrics: what happened (counters, histograms) recorded as it happens, and
//! what is (gauges) computed at scrape time; rendered in the Prometheus text
//! format by `GET /metrics`.
//!
//! Each app owns its registry. The `metrics` crate's macros record into one
//! process-global recorder, which would mix the numbers of several
//! coordinators in one process (the tests run many). So nothing here touches
//! the global recorder: [`Metrics`] builds its own `PrometheusRecorder`,
//! registers its handles on it directly through the `Recorder` trait, and
//! renders through that recorder's handle. The recorder does the text
//! format (escaping, histogram buckets, `# HELP`/`# TYPE`).
//!
//! # Layout
//! - [`names`]: every metric's name, help text and buckets.
//! - [`throughput`]: the per-interval task flow behind the dashboard chart.
//! - [`exposition`]: writing scrape-time gauges.
//! - [`http`]: the middleware counting requests by route template.

pub mod exposition;
pub mod http;
pub mod names;
mod record;
pub mod throughput;

use std::time::Duration;

use ::metrics::{Counter, Histogram, Key, KeyName, Label, Level, Metadata, Recorder, SharedString};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use switchyard_protocol::TaskState;
use switchyard_protocol::stats::Throughput;

use self::exposition::GaugeWriter;
use self::throughput::{Flow, ThroughputRing};

/// How often histogram samples are folded into their buckets between scrapes,
/// so memory stays bounded when nobody scrapes.
pub const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

const METADATA: Metadata<'static> = Metadata::new(module_path!(), Level::INFO, None);

/// What the reconciliation repaired (see [`names::REPAIRS`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Repair {
    /// A queued, due task the dispatcher did not know.
    TaskMissing = 0,
    /// A live worker the dispatcher did not serve.
    WorkerMissing = 1,
    /// A worker the dispatcher served that the database says is gone.
    WorkerStale = 2,
    /// A worker whose tags, slots or drain differed from the database's.
    WorkerChanged = 3,
}

/// One app's metrics. Cheap to record into from any task.
#[derive(Debug)]
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    submitted: Counter,
    started: Counter,
    /// By outcome, in the order of [`names::OUTCOMES`].
    finished: [Counter; 4],
    retries: Counter,
    redistributed: Counter,
    rebuilds: Counter,
    leader_changes: Counter,
    relay_failures: Counter,
    /// By kind, in the order of [`names::REPAIRS`].
    repairs: [Counter; 4],
    queue_wait: Histogram,
    fetch_with_tasks: Histogram,
    fetch_empty: Histogram,
    throughput: ThroughputRing,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// A fresh registry with every task metric at zero.
    pub fn new() -> Self {
        let recorder = build_recorder();
        for (name, help) in names::DESCRIPTIONS {
            let key = KeyName::from_const_str(name);
            let help = SharedString::const_str(help);
            if name.ends_with("_total") {
                recorder.describe_counter(key, None, help);
            } else {
                recorder.describe_histogram(key, None, help);
            }
        }
        let counter = |name: &'static str, labels: Vec<Label>| {
            recorder.register_counter(&Key::from_parts(name, labels), &METADATA)
        };
        let histogram = |name: &'static str, labels: Vec<Label>| {
            recorder.register_histogram(&Key::from_parts(name, labels), &METADATA)
        };
        let finished = names::OUTCOMES
            .map(|outcome| counter(names::TASKS_FINISHED, vec![Label::new("outcome", outcome)]));
        Self {
            handle: recorder.handle(),
            submitted: counter(names::TASKS_SUBMITTED, Vec::new()),
            started: counter(names::TASKS_STARTED, Vec::new()),
            finished,
            retries: counter(names::TASKS_RETRIES, Vec::new()),
            redistributed: counter(names::TASKS_REDISTRIBUTED, Vec::new()),
            rebuilds: counter(names::DISPATCHER_REBUILDS, Vec::new()),
            leader_changes: counter(names::LEADER_CHANGES, Vec::new()),
            relay_failures: counter(names::RELAY_FAILURES, Vec::new()),
            repairs: names::REPAIRS
                .map(|kind| counter(names::RECONCILE_REPAIRS, vec![Label::new("kind", kind)])),
            queue_wait: histogram(names::TASK_QUEUE_WAIT, Vec::new()),
            fetch_with_tasks: histogram(names::FETCH_DURATION, vec![Label::new("result", "tasks")]),
            fetch_empty: histogram(names::FETCH_DURATION, vec![Label::new("result", "empty")]),
            throughput: ThroughputRing::default(),
            recorder,
        }
    }

    /// `n` tasks were submitted.
    pub fn tasks_submitted(&self, n: u64) {
        self.submitted.increment(n);
        self.throughput.record(Flow::Submitted, n);
    }

    /// An attempt was handed to a worker; `queue_wait` (submit → start) is
    /// given for first attempts.
    pub fn task_started(&self, queue_wait: Option<Duration>) {
        self.started.increment(1);
        self.throughput.record(Flow::Started, 1);
        if let Some(wait) = queue_wait {
            self.queue_wait.record(wait.as_secs_f64());
        }
    }

    /// A task reached `outcome`; a non-final state records nothing.
    pub fn task_finished(&self, outcome: TaskState) {
        let index = match outcome {
            TaskState::Succeeded => 0,
            TaskState::Failed => 1,
            TaskState::TimedOut => 2,
            TaskState::Cancelled => 3,
            TaskState::Queued | TaskState::Running => return,
        };
        self.finished[index].increment(1);
        self.throughput.record(Flow::Finished, 1);
    }

    /// A failed or timed-out attempt was queued again for another try.
    pub fn task_retried(&self) {
        self.retries.increment(1);
    }

    /// `n` tasks were taken off a worker and offered to others.
    pub fn tasks_redistributed(&self, n: u64) {
        if n > 0 {
            self.redistributed.increment(n);
        }
    }

    /// The dispatcher was rebuilt from the database after a panic.
    pub fn dispatcher_rebuilt(&self) {
        self.rebuilds.increment(1);
    }

    /// This coordinator became leader, or stopped being it.
    pub fn leader_changed(&self) {
        self.leader_changes.increment(1);
    }

    /// A standby failed to tell the leader of a change.
    pub fn relay_failed(&self) {
        self.relay_failures.increment(1);
    }

    /// The reconciliation repaired `n` differences of `kind` (an index
    /// into [`names::REPAIRS`]).
    pub fn repaired(&self, kind: Repair, n: u64) {
        if n > 0 {
            self.repairs[kind as usize].increment(n);
        }
    }

    /// A worker fetch ended after `elapsed`, with tasks or empty.
    pub fn fetch_finished(&self, elapsed: Duration, got_tasks: bool) {
        let histogram = if got_tasks {
            &self.fetch_with_tasks
        } else {
            &self.fetch_empty
        };
        histogram.record(elapsed.as_secs_f64());
    }

    /// An HTTP request was answered. `route` must be a route template (or
    /// a fixed word for unmatched requests), never a raw path.
    pub fn http_request(&self, method: &'static str, route: &str, status: u16, elapsed: Duration) {
        let method = Label::new("method", method);
        let route = Label::new("route", route.to_owned());
        let counter = Key::from_parts(
            names::HTTP_REQUESTS,
            vec![
                method.clone(),
                route.clone(),
                Label::new("status", status.to_string()),
            ],
        );
        self.recorder
            .register_counter(&counter, &METADATA)
            .increment(1);
        let histogram = Key::from_parts(names::HTTP_DURATION, vec![method, route]);
        self.recorder
            .register_histogram(&histogram, &METADATA)
            .record(elapsed.as_secs_f64());
    }

    /// Task flow per interval over the last minutes.
    pub fn throughput(&self) -> Throughput {
        self.throughput.snapshot()
    }

    /// The exposition text: the recorded metrics, then the scrape-time gauges.
    pub fn render(&self, gauges: GaugeWriter) -> String {
        let mut text = self.handle.render();
        if !text.is_empty() && !text.ends_with("\n\n") {
            text.push('\n');
        }
        text.push_str(&gauges.finish());
        text
    }

    /// Folds histogram samples into buckets; run every [`UPKEEP_INTERVAL`].
    pub fn upkeep(&self) {
        self.handle.run_upkeep();
    }
}

/// A recorder rendering true histograms with our buckets. Only an empty
/// bucket list is rejected, and ours are constants tested non-empty; should
/// one be rejected all the same, histograms fall back to quantiles rather
/// than failing start-up.
fn build_recorder() -> PrometheusRecorder {
    let mut builder = PrometheusBuilder::new();
    for (name, buckets) in names::BUCKETS {
        builder = match builder.set_buckets_for_metric(Matcher::Full(name.to_owned()), buckets) {
            Ok(builder) => builder,
            Err(error) => {
                tracing::error!(%error, metric = name, "invalid histogram buckets");
                return PrometheusBuilder::new().build_recorder();
            }
        };
    }
    builder.build_recorder()
}

/// Runs [`Metrics::upkeep`] every [`UPKEEP_INTERVAL`] until shutdown.
pub async fn upkeep_loop(state: crate::service::AppState) {
    let mut tick = tokio::time::interval(UPKEEP_INTERVAL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => state.metrics().upkeep(),
            () = state.shutdown().cancelled() => return,
        }
    }
}

#[cfg(test)]
mod tests;
