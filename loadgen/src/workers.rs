//! Simulated workers: each registers, heartbeats (listing what it runs, as
//! the agent does), long-polls fetch, reports every task it gets as
//! succeeded at once (no process is spawned), and unregisters at the end —
//! the worker protocol without the work.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use anyhow::Context;
use switchyard_protocol::{
    Assignment, Client, ClientError, FetchRequest, HeartbeatRequest, RegisterWorker, StatusCode,
};
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio::time::Instant;

pub use crate::plan::FleetPlan;
use crate::reports::report_all;
pub use crate::shared::{Counters, Event, FleetCounts, Shared};
use crate::worker::SimWorker;
pub use crate::worker::{Handled, WorkerOutcome};

/// Registrations sent at once when the fleet starts.
const REGISTER_CONCURRENCY: usize = 32;
/// Pause after a failed fetch before the next one.
const FETCH_RETRY: Duration = Duration::from_millis(100);

/// A registered fleet and its running loops.
#[derive(Debug)]
pub struct Fleet {
    workers: Vec<Arc<SimWorker>>,
    shared: Arc<Shared>,
    fetching: JoinSet<WorkerOutcome>,
    heartbeating: JoinSet<()>,
}

impl Fleet {
    /// Registers `plan.workers` workers at `url`; on any failure, unregisters
    /// those that made it and fails.
    pub async fn register(
        url: &str,
        plan: &FleetPlan,
        shared: Arc<Shared>,
    ) -> anyhow::Result<Self> {
        let shared_client = Client::new(url).context("failed to build an HTTP client")?;
        let limit = Arc::new(Semaphore::new(REGISTER_CONCURRENCY));
        let mut registering = JoinSet::new();
        for index in 0..plan.workers {
            let mut client = if plan.shared_client {
                shared_client.clone()
            } else {
                Client::new(url).context("failed to build an HTTP client")?
            };
            if let Some(token) = &plan.registration_token {
                client = client.with_token(token.clone());
            }
            let request = RegisterWorker {
                name: format!("bench-{index}"),
                tags: plan.tag_sets.pick(index).to_vec(),
                slots: i32::try_from(plan.slots).unwrap_or(i32::MAX),
                instance_key: None,
            };
            let limit = limit.clone();
            registering.spawn(async move {
                let _permit = limit.acquire_owned().await;
                let view = client.register(&request).await?;
                // From now on it acts as itself, with the token it was given.
                let client = match view.token {
                    Some(token) => client.with_token(token),
                    None => client,
                };
                Ok::<_, ClientError>(SimWorker::new(
                    view.id,
                    index,
                    client,
                    Duration::from_secs_f64(view.heartbeat_interval_secs.clamp(0.1, 3600.0)),
                ))
            });
        }
        let mut workers = Vec::with_capacity(plan.workers);
        let mut failure = None;
        while let Some(joined) = registering.join_next().await {
            match joined {
                Ok(Ok(worker)) => workers.push(Arc::new(worker)),
                Ok(Err(error)) => failure = Some(anyhow::Error::new(error)),
                Err(error) => failure = Some(anyhow::Error::new(error)),
            }
        }
        workers.sort_by_key(|w| w.index);
        let fleet = Self {
            workers,
            shared,
            fetching: JoinSet::new(),
            heartbeating: JoinSet::new(),
        };
        if let Some(error) = failure {
            fleet.unregister().await;
            return Err(error.context("failed to register the simulated workers"));
        }
        Ok(fleet)
    }

    /// Starts every worker's heartbeat and fetch loops.
    pub fn start(&mut self, plan: &FleetPlan) {
        self.start_heartbeats();
        for worker in &self.workers {
            self.fetching.spawn(fetch_loop(
                worker.clone(),
                plan.clone(),
                self.shared.clone(),
            ));
        }
    }

    /// Starts every worker's heartbeat loop only: the workers stay
    /// registered and alive but take no work, so submitted tasks stay queued.
    pub fn start_heartbeats(&mut self) {
        let count = self.workers.len().max(1) as u32;
        for worker in &self.workers {
            // Spread heartbeats over the interval, as agents started at
            // different times would.
            let offset = worker.heartbeat_every / count * (worker.index as u32 % count);
            self.heartbeating
                .spawn(heartbeat_loop(worker.clone(), offset, self.shared.clone()));
        }
    }

    /// One fetch of up to `max_tasks` by worker number `index` (whose tag
    /// set is `index mod n`) that answers at once (no long-poll), counted
    /// with the fleet's fetches. Tasks it brings are marked running on the
    /// worker, so its heartbeats list them until they are reported.
    pub async fn fetch_now(
        &self,
        index: usize,
        max_tasks: u32,
    ) -> anyhow::Result<Result<Vec<Assignment>, ClientError>> {
        let worker = self
            .workers
            .get(index)
            .with_context(|| format!("the fleet has no worker {index}"))?;
        let request = FetchRequest {
            max_tasks,
            wait_secs: 0.0,
        };
        let counters = &self.shared.counters;
        let answer = worker.client.fetch(worker.id, &request).await;
        match &answer {
            Ok(response) => {
                counters.fetches.fetch_add(1, Ordering::Relaxed);
                if response.tasks.is_empty() {
                    counters.empty_fetches.fetch_add(1, Ordering::Relaxed);
                }
                worker.set_running(&response.tasks, true);
            }
            Err(_) => {
                counters.fetch_errors.fetch_add(1, Ordering::Relaxed);
            }
        }
        Ok(answer.map(|response| response.tasks))
    }

    /// Reports `tasks`, fetched by worker number `index`, as succeeded;
    /// returns how many the coordinator accepted.
    pub async fn report_now(
        &self,
        index: usize,
        tasks: Vec<Assignment>,
        plan: &FleetPlan,
    ) -> usize {
        let Some(worker) = self.workers.get(index) else {
            return 0;
        };
        report_all(worker, tasks, Instant::now(), plan, &self.shared)
            .await
            .len()
    }

    /// Ends the fetch loops (abandoning waiting long-polls) and collects
    /// what they recorded.
    pub async fn stop_fetching(&mut self) -> Vec<WorkerOutcome> {
        self.shared.stop_fetching.cancel();
        let mut outcomes = Vec::with_capacity(self.workers.len());
        while let Some(joined) = self.fetching.join_next().await {
            match joined {
                Ok(outcome) => outcomes.push(outcome),
                Err(error) => tracing::error!(%error, "a worker's fetch loop failed"),
            }
        }
        outcomes
    }

    /// Ends the heartbeat loops.
    pub async fn stop_heartbeats(&mut self) {
        self.shared.stop_heartbeats.cancel();
        while self.heartbeating.join_next().await.is_some() {}
    }

    /// Stops everything still running and unregisters every worker.
    pub async fn unregister(mut self) {
        self.stop_fetching().await;
        self.stop_heartbeats().await;
        let limit = Arc::new(Semaphore::new(REGISTER_CONCURRENCY));
        let mut leaving = JoinSet::new();
        for worker in self.workers.drain(..) {
            let limit = limit.clone();
            let shared = self.shared.clone();
            leaving.spawn(async move {
                let _permit = limit.acquire_owned().await;
                if let Err(error) = worker.client.unregister(worker.id).await {
                    tracing::warn!(worker_id = %worker.id, %error, "failed to unregister");
                    shared
                        .counters
                        .unregister_errors
                        .fetch_add(1, Ordering::Relaxed);
                }
            });
        }
        while leaving.join_next().await.is_some() {}
    }
}

async fn heartbeat_loop(worker: Arc<SimWorker>, offset: Duration, shared: Arc<Shared>) {
    let mut next = Instant::now() + offset;
    loop {
        tokio::select! {
            () = shared.stop_heartbeats.cancelled() => return,
            () = tokio::time::sleep_until(next) => {}
        }
        match worker
            .client
            .heartbeat(
                worker.id,
                &HeartbeatRequest {
                    running: Some(worker.running_now()),
                },
            )
            .await
        {
            Ok(_) => shared.counters.heartbeats.fetch_add(1, Ordering::Relaxed),
            Err(error) => {
                tracing::debug!(worker_id = %worker.id, %error, "heartbeat failed");
                shared
                    .counters
                    .heartbeat_errors
                    .fetch_add(1, Ordering::Relaxed)
            }
        };
        next += worker.heartbeat_every;
    }
}

async fn fetch_loop(worker: Arc<SimWorker>, plan: FleetPlan, shared: Arc<Shared>) -> WorkerOutcome {
    let mut outcome = WorkerOutcome::default();
    let request = FetchRequest {
        max_tasks: plan.fetch_max,
        wait_secs: plan.fetch_wait.as_secs_f64(),
    };
    loop {
        let sent = Instant::now();
        let answer = tokio::select! {
            biased;
            () = shared.stop_fetching.cancelled() => break,
            answer = worker.client.fetch(worker.id, &request) => answer,
        };
        let answered = Instant::now();
        let tasks = match answer {
            Ok(response) => response.tasks,
            Err(error) => {
                shared.counters.fetch_errors.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(worker_id = %worker.id, %error, "fetch failed");
                if matches!(
                    error.status(),
                    Some(StatusCode::GONE | StatusCode::NOT_FOUND)
                ) {
                    break;
                }
                tokio::select! {
                    () = shared.stop_fetching.cancelled() => break,
                    () = tokio::time::sleep(FETCH_RETRY) => continue,
                }
            }
        };
        shared.counters.fetches.fetch_add(1, Ordering::Relaxed);
        if tasks.is_empty() {
            shared
                .counters
                .empty_fetches
                .fetch_add(1, Ordering::Relaxed);
            continue;
        }
        outcome.fetch_latency.push(answered - sent);
        worker.set_running(&tasks, true);
        if let Some(events) = &shared.events {
            for task in &tasks {
                let _ = events.send(Event::Fetched {
                    task: task.task_id,
                    at: answered,
                });
            }
        }
        let count = tasks.len() as u64;
        outcome
            .handled
            .extend(report_all(&worker, tasks, answered, &plan, &shared).await);
        let handled = shared.handled.fetch_add(count, Ordering::Relaxed) + count;
        if shared.target.is_some_and(|target| handled >= target) {
            shared.all_handled.cancel();
        }
    }
    outcome
}
