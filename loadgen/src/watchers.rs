//! People watching a task while the latency is measured (`--watchers N`):
//! `N` followers of one running task's output, which a worker of its own
//! prints to every tenth of a second as an agent would send it, and `N`
//! clients waiting for that task's end (`GET /tasks/{id}?wait=60s`, asked
//! again whenever a wait is over). What they cost the coordinator shows in
//! the pickup latency beside a run without them.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use switchyard_protocol::{
    Client, FetchRequest, HeartbeatRequest, OutputBatch, OutputChunk, OutputStream, RegisterWorker,
    SubmitTask, TaskId, WorkerId,
};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::Bench;
use crate::report::Watching;

/// The tag only the printing worker has, so the fleet never takes the task.
const TAG: &str = "bench-watched";
/// How often the printing worker sends output, as an agent does.
const PRINT_EVERY: Duration = Duration::from_millis(100);
/// How long each wait asks for.
const WAIT: Duration = Duration::from_secs(60);

/// The watchers of one task, running.
#[derive(Debug)]
pub struct Watchers {
    stop: CancellationToken,
    tasks: JoinSet<()>,
    counts: Arc<Counts>,
    followers: usize,
    waiters: usize,
}

#[derive(Debug, Default)]
struct Counts {
    events: AtomicU64,
    waits: AtomicU64,
    chunks: AtomicU64,
    errors: AtomicU64,
}

/// Starts a worker that runs one task and prints to it, then `count`
/// followers of its output and `count` waiters for its end; returns once
/// every follower is connected.
pub async fn start(bench: &Bench, count: usize) -> anyhow::Result<Watchers> {
    let url = &bench.args.url;
    let mut registrar = Client::new(url.as_str()).context("failed to build an HTTP client")?;
    if let Some(token) = &bench.credentials.register {
        registrar = registrar.with_token(token.clone());
    }
    let view = registrar
        .register(&RegisterWorker {
            name: "bench-printer".into(),
            tags: vec![TAG.into()],
            slots: 1,
            instance_key: None,
        })
        .await
        .context("failed to register the printing worker")?;
    let printer = match view.token {
        Some(token) => registrar.with_token(token),
        None => registrar,
    };
    let task = bench
        .client
        .submit(&SubmitTask {
            argv: vec!["watched".into()],
            tags: vec![TAG.into()],
            ..SubmitTask::default()
        })
        .await
        .context("failed to submit the watched task")?;
    let fetched = printer
        .fetch(
            view.id,
            &FetchRequest {
                max_tasks: 1,
                wait_secs: 10.0,
            },
        )
        .await
        .context("the printing worker could not fetch the watched task")?;
    let attempt = fetched
        .tasks
        .first()
        .filter(|a| a.task_id == task.id)
        .map(|a| a.attempt)
        .context("the printing worker was not handed the watched task")?;

    let stop = CancellationToken::new();
    let counts = Arc::new(Counts::default());
    let mut tasks = JoinSet::new();
    tasks.spawn(print(
        printer.clone(),
        view.id,
        task.id,
        attempt,
        Duration::from_secs_f64(view.heartbeat_interval_secs.clamp(0.1, 60.0)),
        stop.clone(),
        counts.clone(),
    ));
    // Their own connection pools, acting as the submitter (who owns the
    // task): the submitter's pool is not theirs to crowd.
    let watcher = || -> anyhow::Result<Client> {
        let client = Client::new(url.as_str()).context("failed to build an HTTP client")?;
        Ok(match &bench.credentials.submit {
            Some(token) => client.with_token(token.clone()),
            None => client,
        })
    };
    let (followers, waiters) = (watcher()?, watcher()?);
    let (connected, mut connections) = mpsc::channel(count.max(1));
    for _ in 0..count {
        tasks.spawn(follow(
            followers.clone(),
            task.id,
            connected.clone(),
            stop.clone(),
            counts.clone(),
        ));
        tasks.spawn(wait(waiters.clone(), task.id, stop.clone(), counts.clone()));
    }
    drop(connected);
    let all_connected = tokio::time::timeout(Duration::from_secs(60), async {
        for _ in 0..count {
            if connections.recv().await.is_none() {
                return false;
            }
        }
        true
    })
    .await;
    if all_connected != Ok(true) {
        stop.cancel();
        anyhow::bail!(
            "not every one of the {count} followers connected within a minute ({} errors)",
            counts.errors.load(Ordering::Relaxed)
        );
    }
    Ok(Watchers {
        stop,
        tasks,
        counts,
        followers: count,
        waiters: count,
    })
}

impl Watchers {
    /// Stops them all and says what they saw.
    pub async fn stop(mut self) -> Watching {
        self.stop.cancel();
        while self.tasks.join_next().await.is_some() {}
        let get = |n: &AtomicU64| n.load(Ordering::Relaxed);
        Watching {
            followers: self.followers,
            waiters: self.waiters,
            chunks_printed: get(&self.counts.chunks),
            events_received: get(&self.counts.events),
            waits_answered: get(&self.counts.waits),
            errors: get(&self.counts.errors),
        }
    }
}

/// The printing worker: output every tenth of a second, heartbeats as
/// asked, and the task reported at the end.
async fn print(
    client: Client,
    worker: WorkerId,
    task: TaskId,
    attempt: i32,
    heartbeat_every: Duration,
    stop: CancellationToken,
    counts: Arc<Counts>,
) {
    let mut offset = 0u64;
    let mut line = 0u64;
    let mut printing = tokio::time::interval(PRINT_EVERY);
    let mut beating = tokio::time::interval(heartbeat_every);
    loop {
        tokio::select! {
            () = stop.cancelled() => break,
            _ = printing.tick() => {
                line += 1;
                let text = format!("line {line} of the watched task\n");
                let batch = OutputBatch {
                    chunks: vec![OutputChunk {
                        task_id: task,
                        attempt,
                        stream: OutputStream::Stdout,
                        offset,
                        text,
                    }],
                };
                offset += batch.chunks[0].text.len() as u64;
                match client.send_output(worker, &batch).await {
                    Ok(_) => counts.chunks.fetch_add(1, Ordering::Relaxed),
                    Err(_) => counts.errors.fetch_add(1, Ordering::Relaxed),
                };
            }
            _ = beating.tick() => {
                let request = HeartbeatRequest { running: Some(vec![task]) };
                if client.heartbeat(worker, &request).await.is_err() {
                    counts.errors.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
    }
    let report = switchyard_protocol::TaskReport {
        task_id: task,
        attempt,
        outcome: switchyard_protocol::ReportOutcome::Succeeded,
        exit_code: Some(0),
        stdout: String::new(),
        stderr: String::new(),
        stdout_truncated: false,
        stderr_truncated: false,
        error: None,
    };
    let _ = client.report(worker, &report).await;
    let _ = client.unregister(worker).await;
}

/// One follower: says when it is connected, then counts the events it
/// receives until stopped.
async fn follow(
    client: Client,
    task: TaskId,
    connected: mpsc::Sender<()>,
    stop: CancellationToken,
    counts: Arc<Counts>,
) {
    let mut follower = match client.follow_output(task).await {
        Ok(follower) => follower,
        Err(_) => {
            counts.errors.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    let _ = connected.send(()).await;
    drop(connected);
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            event = follower.next() => match event {
                Ok(Some(_)) => {
                    counts.events.fetch_add(1, Ordering::Relaxed);
                }
                Ok(None) => return,
                Err(_) => {
                    counts.errors.fetch_add(1, Ordering::Relaxed);
                    return;
                }
            },
        }
    }
}

/// One waiter: asks for the task's end again whenever a wait is over.
async fn wait(client: Client, task: TaskId, stop: CancellationToken, counts: Arc<Counts>) {
    loop {
        tokio::select! {
            () = stop.cancelled() => return,
            answer = client.wait_task(task, WAIT) => match answer {
                Ok(_) => {
                    counts.waits.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => {
                    counts.errors.fetch_add(1, Ordering::Relaxed);
                    tokio::time::sleep(Duration::from_secs(1)).await;
                }
            },
        }
    }
}
