//! High availability end to end: several real `coordinator serve` processes
//! on one database, real agents given every URL, and the faults a cluster
//! is for: a clean shutdown, `kill -9` under load, a paused leader, a
//! database restart.
//!
//! Tasks that must never run twice at once write `start` and `end` lines
//! (task, attempt, nanoseconds) to a log; the log, not the API, shows what
//! ran when. Each test prints what it measured as `FIGURE name=value unit`
//! lines (run with `--nocapture` to see them); the assertions' bounds are
//! generous, the figures are what to quote.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::signal::Signal;
use serde::de::DeserializeOwned;
use switchyard_coordinator::devdb::PgCluster;
use switchyard_protocol::{
    AttemptView, Client, ClientError, ClusterRole, ErrorCode, HealthReport, HealthStatus,
    ListTasksQuery, RegisterWorker, Stats, StatusCode, SubmitTask, TaskId, TaskState, TaskView,
};
use switchyard_tests::{
    ADMIN_TOKEN, ChildProcess, admin_client, empty_database, http_client, spawn_agent_process,
    spawn_coordinator_process, test_database, wait_until,
};

use crate::e2e::registered;
use crate::observability::sample;
use crate::sim;

/// The lease of most tests' coordinators: short, so takeovers are quick.
const LEASE: &str = "1s";
/// The lease under load, where a busy machine must not make a leader that
/// is alive miss its renewals.
const LOAD_LEASE: &str = "2s";
const LOAD_LEASE_TIME: Duration = Duration::from_secs(2);

#[tokio::test]
async fn two_coordinators_started_together_elect_exactly_one_leader() {
    // Empty: both also race to apply the migrations.
    let db = empty_database().await;
    let (first, second) = tokio::join!(
        start_coordinator(&db.url, &["--leader-lease", LEASE]),
        start_coordinator(&db.url, &["--leader-lease", LEASE]),
    );
    let both = [first, second];
    let leader = &both[the_leader(&both).await];
    let standby = both.iter().find(|c| c.url != leader.url).unwrap();

    let refused = admin_client(&standby.url)
        .register(&RegisterWorker {
            name: "w".to_owned(),
            tags: Vec::new(),
            slots: 1,
            instance_key: None,
        })
        .await
        .expect_err("a standby registers no worker");
    match refused {
        ClientError::Api { status, body } => {
            assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body:?}");
            assert_eq!(body.code, ErrorCode::NotLeader, "{body:?}");
            assert_eq!(body.leader_url.as_deref(), Some(leader.url.as_str()));
        }
        other => panic!("expected 503 not_leader from the standby, got {other}"),
    }

    for asked in &both {
        let cluster = wait_until(
            &format!("{} to list both coordinators", asked.url),
            Duration::from_secs(10),
            || async {
                let stats: Stats = get_json(&asked.url, "/api/v1/stats").await?;
                (stats.cluster.coordinators.len() == 2).then_some(stats.cluster)
            },
        )
        .await;
        let role_of = |url: &str| {
            let member = cluster.coordinators.iter().find(|c| c.url == url);
            member.map(|c| c.role)
        };
        assert_eq!(
            role_of(&leader.url),
            Some(ClusterRole::Leader),
            "{cluster:?}"
        );
        assert_eq!(
            role_of(&standby.url),
            Some(ClusterRole::Standby),
            "{cluster:?}"
        );
        let lease = cluster.lease.expect("the lease is shown");
        assert_eq!(lease.url.as_deref(), Some(leader.url.as_str()));
    }
}

#[tokio::test]
async fn a_task_submitted_to_a_standby_starts_at_once() {
    const TASKS: usize = 200;
    let db = test_database().await;
    let Pair {
        leader: _leader,
        standby,
        agent: _agent,
    } = pair_with_agent(&db.url, 4).await;
    let client = admin_client(&standby.url);

    let mut latencies = Vec::with_capacity(TASKS);
    for _ in 0..TASKS {
        let task = client.submit(&sim::task(&["true"], &[])).await.unwrap();
        let started = wait_until(
            &format!("task {} to start", task.id),
            Duration::from_secs(30),
            || async {
                let view = client.task(task.id).await.ok()?;
                view.started_at.map(|at| at - view.created_at)
            },
        )
        .await;
        latencies.push(started.to_std().unwrap_or_default());
    }
    latencies.sort_unstable();
    let p50 = percentile(&latencies, 50);
    let p99 = percentile(&latencies, 99);
    figure("standby_submit_to_start_p50", millis(p50), "ms");
    figure("standby_submit_to_start_p99", millis(p99), "ms");
    figure(
        "standby_submit_to_start_max",
        millis(latencies[TASKS - 1]),
        "ms",
    );
    assert!(
        p99 < Duration::from_secs(1),
        "a task submitted to a standby waited {p99:?} (p99) to start; the target is 50 ms"
    );
}

#[tokio::test]
async fn the_leader_shut_down_cleanly_hands_over_at_once() {
    let db = test_database().await;
    let Pair {
        leader: mut old,
        standby: new,
        agent: _agent,
    } = pair_with_agent(&db.url, 2).await;
    let client = admin_client(&new.url);
    succeeds(&client, &sim::task(&["true"], &[])).await;

    let signalled = Instant::now();
    old.process.sigterm();
    wait_for_role(&new.url, ClusterRole::Leader, Duration::from_secs(10)).await;
    let handover = signalled.elapsed();
    figure("clean_handover", millis(handover), "ms");
    assert!(
        handover < Duration::from_secs(5),
        "a clean shutdown took {handover:?} to hand over"
    );
    let status = old.process.wait_exit(Duration::from_secs(30)).await;
    assert!(
        status.success(),
        "the old leader exited cleanly: {status:?}"
    );

    let submitted = Instant::now();
    let task = succeeds(&client, &sim::task(&["echo", "after"], &[])).await;
    figure(
        "first_task_after_handover_submit_to_done",
        millis(submitted.elapsed()),
        "ms",
    );
    assert_eq!(task.output.unwrap().stdout, "after\n");
}

#[tokio::test]
async fn killing_the_leader_under_load_runs_every_task_once_at_a_time() {
    const TASKS: usize = 2_000;
    const BEFORE_KILL: u64 = 300;
    let db = test_database().await;
    let args = ["--leader-lease", LOAD_LEASE];
    let (old, second) = leader_and_standby(&db.url, &args).await;
    let third = start_coordinator(&db.url, &args).await;
    let urls = [old.url.as_str(), &second.url, &third.url];
    let _agents: Vec<_> = (0..4).map(|_| start_agent(&urls, 4)).collect();
    let client = admin_client(&second.url);
    registered(&client, 4).await;

    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("runs.log");
    for chunk in 0..TASKS / 1_000 {
        let tasks: Vec<_> = (0..1_000)
            .map(|i| logged_task(&log, &format!("load-{chunk}-{i}")))
            .collect();
        client.submit_batch(&tasks).await.unwrap();
    }
    wait_until(
        "a few hundred tasks to finish",
        Duration::from_secs(120),
        || async { (counts(&second.url).await?.succeeded >= BEFORE_KILL).then_some(()) },
    )
    .await;

    let killed_at = now_ns();
    let killed = Instant::now();
    old.process.sigkill();
    let survivors = [second, third];
    the_leader(&survivors).await;
    figure("kill9_election", millis(killed.elapsed()), "ms");
    let survivor_urls = [survivors[0].url.as_str(), &survivors[1].url];
    all_succeed(&survivor_urls, TASKS as u64, Duration::from_secs(240)).await;
    figure("kill9_all_done_after_kill", millis(killed.elapsed()), "ms");

    let tasks = all_tasks(&client).await;
    assert_eq!(tasks.len(), TASKS);
    let by_task = never_at_once(&runs(&log));
    assert_eq!(by_task.len(), TASKS, "every task ran");
    attempt_figures("kill9", &explain_attempts(&client, &tasks, &by_task).await);

    let handed_over = hand_over_times(&client, &tasks).await;
    let handed_over_at = |run: &Run| {
        let at = handed_over.get(&(run.task, run.attempt));
        *at.unwrap_or_else(|| panic!("{run:?} ran, but its attempt was never handed out"))
    };
    // The first run the new leader handed out: its hand-over came after the kill.
    let resumed = by_task
        .values()
        .flatten()
        .filter(|run| handed_over_at(run) > killed_at)
        .map(|run| run.start)
        .min()
        .expect("tasks were handed out after the kill");
    let takeover = since(killed_at, resumed);
    figure("kill9_takeover_to_first_start", millis(takeover), "ms");
    assert!(
        takeover < LOAD_LEASE_TIME + Duration::from_secs(10),
        "work resumed {takeover:?} after the leader was killed (lease {LOAD_LEASE})"
    );
}

/// Submissions keep arriving at the leader while it is killed: every one it
/// acknowledged is in the database afterwards and runs; the batch in flight
/// at the kill is either wholly there or wholly absent (one statement).
#[tokio::test]
async fn killing_the_leader_mid_submission_loses_no_acknowledged_task() {
    const BATCH: usize = 50;
    const BEFORE_KILL: usize = 20;
    let db = test_database().await;
    let args = ["--leader-lease", LOAD_LEASE];
    let (old, second) = leader_and_standby(&db.url, &args).await;
    let urls = [old.url.as_str(), &second.url];
    let _agents: Vec<_> = (0..2).map(|_| start_agent(&urls, 8)).collect();
    registered(&admin_client(&second.url), 2).await;

    // Submits batches to the leader alone, as fast as it answers, keeping
    // what each acknowledged batch answered, until the leader stops answering.
    let acknowledged = Arc::new(std::sync::Mutex::new(Vec::<(usize, Vec<TaskId>)>::new()));
    let submitter = {
        let client = admin_client(&old.url);
        let acknowledged = Arc::clone(&acknowledged);
        tokio::spawn(async move {
            for batch in 0.. {
                let tasks: Vec<_> = (0..BATCH)
                    .map(|i| SubmitTask {
                        idempotency_key: Some(format!("crash-{batch}-{i}")),
                        ..sim::task(&["true"], &[])
                    })
                    .collect();
                match client.submit_batch(&tasks).await {
                    Ok(answer) => acknowledged
                        .lock()
                        .unwrap()
                        .push((batch, answer.tasks.iter().map(|t| t.id).collect())),
                    Err(_) => return batch,
                }
            }
            unreachable!("the submitter stops at the first refused batch")
        })
    };
    wait_until(
        "the leader to acknowledge a few batches",
        Duration::from_secs(60),
        || async { (acknowledged.lock().unwrap().len() >= BEFORE_KILL).then_some(()) },
    )
    .await;
    old.process.sigkill();
    let in_flight = tokio::time::timeout(Duration::from_secs(30), submitter)
        .await
        .expect("the submitter notices the kill")
        .unwrap();

    let survivor = [second];
    the_leader(&survivor).await;
    let client = admin_client(&survivor[0].url);
    let acknowledged = acknowledged.lock().unwrap().clone();
    let ids: Vec<TaskId> = acknowledged
        .iter()
        .flat_map(|(_, ids)| ids.clone())
        .collect();
    assert!(ids.len() >= BATCH * BEFORE_KILL);
    for id in &ids {
        let task = sim::finished(&client, *id, Duration::from_secs(120)).await;
        assert_eq!(task.state, TaskState::Succeeded, "{task:?}");
    }
    // The batch the kill cut off: all of it or none, never a part.
    let all = all_tasks(&client).await;
    let cut_off = all
        .iter()
        .filter(|task| {
            task.idempotency_key
                .as_deref()
                .is_some_and(|key| key.starts_with(&format!("crash-{in_flight}-")))
        })
        .count();
    assert!(
        cut_off == 0 || cut_off == BATCH,
        "{cut_off} of the cut-off batch"
    );
    assert_eq!(all.len(), ids.len() + cut_off);
    figure("crash_acknowledged_tasks", ids.len() as u128, "tasks");
}

#[tokio::test]
async fn a_paused_leader_hands_out_nothing_when_it_wakes() {
    const TASKS: usize = 6;
    let db = test_database().await;
    // One slot: while the blocker runs, the tasks queue in the old
    // leader's dispatcher for this agent, ready to hand out when it wakes.
    let Pair {
        leader: old,
        standby: new,
        agent: _agent,
    } = pair_with_agent(&db.url, 1).await;
    let client = admin_client(&new.url);
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("runs.log");
    let release = dir.path().join("release");
    let blocker = run_blocker(&client, &release).await;
    let mut ids = vec![blocker];
    for i in 0..TASKS {
        let task = logged_task(&log, &format!("paused-{i}"));
        ids.push(client.submit(&task).await.unwrap().id);
    }
    let started_before = metric(&old.url, "switchyard_tasks_started_total").await;

    let paused = Instant::now();
    old.process.signal(Signal::SIGSTOP);
    wait_for_role(&new.url, ClusterRole::Leader, Duration::from_secs(10)).await;
    let elected_at = now_ns();
    figure("pause_election", millis(paused.elapsed()), "ms");
    std::fs::write(&release, "").unwrap();
    for &id in &ids {
        let task = sim::finished(&client, id, Duration::from_secs(90)).await;
        assert_eq!(task.state, TaskState::Succeeded, "{task:?}");
    }
    figure(
        "pause_all_done_through_new_leader",
        millis(paused.elapsed()),
        "ms",
    );

    old.process.signal(Signal::SIGCONT);
    wait_for_role(&old.url, ClusterRole::Standby, Duration::from_secs(10)).await;
    let started_after = metric(&old.url, "switchyard_tasks_started_total").await;
    assert_eq!(
        started_after, started_before,
        "the old leader handed tasks out after it woke"
    );
    assert_eq!(metric(&old.url, "switchyard_leader").await, 0.0);
    let by_task = never_at_once(&runs(&log));
    assert_eq!(by_task.len(), TASKS, "every task ran");
    let tasks = all_tasks(&client).await;
    attempt_figures("pause", &explain_attempts(&client, &tasks, &by_task).await);

    // Only the new leader handed these tasks out: the first start is when
    // the agent reached it.
    let first_start = by_task.values().flatten().map(|run| run.start).min();
    let reached = since(elected_at, first_start.unwrap());
    figure("pause_agent_reached_new_leader", millis(reached), "ms");
    assert!(
        reached < Duration::from_secs(10),
        "the agent reached the new leader {reached:?} after its election: a request in \
         flight to the paused leader is held until the client's 30 s request timeout \
         (REQUEST_TIMEOUT, protocol/src/client.rs) before the agent tries another URL, \
         where the guide promises one round trip once the new leader answers"
    );
}

/// What a woken leader may still do: the report in flight to it when it
/// was paused. It must not leave the new leader believing the worker's
/// slot is taken.
#[tokio::test]
async fn a_report_taken_by_a_woken_leader_does_not_strand_its_worker() {
    let db = test_database().await;
    let Pair {
        leader: old,
        standby: new,
        agent,
    } = pair_with_agent(&db.url, 1).await;
    let client = admin_client(&new.url);
    let dir = tempfile::tempdir().unwrap();
    let release = dir.path().join("release");
    let blocker = run_blocker(&client, &release).await;

    old.process.signal(Signal::SIGSTOP);
    wait_until(
        "the new leader to load the worker running the blocker",
        Duration::from_secs(30),
        || async {
            let view = client.admin_dispatcher(None).await.ok()?;
            (view.snapshot.workers.first()?.running == 1).then_some(())
        },
    )
    .await;
    // The blocker ends; its report goes to the paused leader and waits there.
    std::fs::write(&release, "").unwrap();
    wait_until(
        "the agent to see the blocker end",
        Duration::from_secs(30),
        || async { agent.stdout().contains("task finished") },
    )
    .await;
    old.process.signal(Signal::SIGCONT);
    wait_for_role(&old.url, ClusterRole::Standby, Duration::from_secs(10)).await;
    let blocker = sim::finished(&client, blocker, Duration::from_secs(60)).await;
    assert_eq!(blocker.state, TaskState::Succeeded, "{blocker:?}");

    let next = client.submit(&sim::task(&["true"], &[])).await.unwrap();
    let ran = tokio::time::timeout(
        Duration::from_secs(20),
        sim::finished(&client, next.id, Duration::from_secs(60)),
    )
    .await;
    if ran.is_err() {
        panic!(
            "the worker was given nothing more after the woken leader took its report: {}",
            stuck(&[&new.url, &old.url]).await
        );
    }
}

#[tokio::test]
async fn a_database_restart_under_load_loses_nothing() {
    const BEFORE: usize = 200;
    const DURING: usize = 20;
    const AFTER: usize = 100;
    const OUTAGE: Duration = Duration::from_secs(5);
    let server = own_server().await;
    let url = server.url("switchyard_restart");
    let args = ["--leader-lease", LOAD_LEASE];
    let (first, second) = leader_and_standby(&url, &args).await;
    let urls = [first.url.as_str(), &second.url];
    let _agents: Vec<_> = (0..2).map(|_| start_agent(&urls, 4)).collect();
    let client = Client::with_failover(&urls, &Default::default())
        .unwrap()
        .with_token(ADMIN_TOKEN);
    registered(&client, 2).await;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("runs.log");
    let batch = |phase: &str, n: usize| -> Vec<SubmitTask> {
        (0..n)
            .map(|i| logged_task(&log, &format!("{phase}-{i}")))
            .collect()
    };

    client.submit_batch(&batch("before", BEFORE)).await.unwrap();
    wait_until("tasks to flow", Duration::from_secs(60), || async {
        (counts(&first.url).await?.succeeded >= 30).then_some(())
    })
    .await;

    let server = halt(server).await;
    let halted = Instant::now();
    let refused = Arc::new(AtomicUsize::new(0));
    let during = tokio::spawn(submit_each(
        client.clone(),
        batch("during", DURING),
        refused.clone(),
    ));
    // Each answer of /health takes up to 3 s (its database probe) here.
    let stood_down = wait_until(
        "the leader to stand down while the database is away",
        Duration::from_secs(30),
        || async {
            let report = health(&first.url).await?;
            (report.role == ClusterRole::Standby).then(|| halted.elapsed())
        },
    )
    .await;
    figure("db_leader_stood_down_after_halt", millis(stood_down), "ms");
    assert!(
        stood_down < LOAD_LEASE_TIME + Duration::from_secs(6),
        "the leader led on {stood_down:?} into the outage (lease {LOAD_LEASE})"
    );
    wait_until(
        "the outage to last and be noticed",
        OUTAGE + Duration::from_secs(30),
        || async {
            let noticed = tokio::join!(unhealthy(&first.url), unhealthy(&second.url));
            halted.elapsed() >= OUTAGE && noticed == (true, true)
        },
    )
    .await;
    let server = resume(server).await;
    let resumed = Instant::now();
    let resumed_at = now_ns();
    figure("db_outage", millis(resumed - halted), "ms");

    submit_each(client.clone(), batch("after", AFTER), refused.clone()).await;
    during.await.unwrap();
    figure(
        "db_refused_submissions",
        refused.load(Ordering::Relaxed),
        "requests",
    );
    let total = BEFORE + DURING + AFTER;
    all_succeed(&urls, total as u64, Duration::from_secs(120)).await;
    figure("db_all_done_after_resume", millis(resumed.elapsed()), "ms");

    let tasks = all_tasks(&client).await;
    assert_eq!(tasks.len(), total, "each submission made one task");
    let by_task = never_at_once(&runs(&log));
    assert_eq!(by_task.len(), total, "every task ran");
    let first_start = by_task
        .values()
        .flatten()
        .map(|run| run.start)
        .filter(|&start| start > resumed_at)
        .min();
    figure(
        "db_first_start_after_resume",
        millis(since(resumed_at, first_start.unwrap())),
        "ms",
    );
    attempt_figures("db", &explain_attempts(&client, &tasks, &by_task).await);
    stop_server(server).await;
}

#[tokio::test]
async fn retry_timers_that_fire_while_the_database_is_down_still_run() {
    const TASKS: usize = 8;
    const OUTAGE: Duration = Duration::from_secs(25);
    let server = own_server().await;
    let url = server.url("switchyard_restart");
    let coordinator = start_coordinator(&url, &["--retry-backoff", "2s"]).await;
    let _agent = start_agent(&[&coordinator.url], 4);
    let client = admin_client(&coordinator.url);
    registered(&client, 1).await;

    let second_try_succeeds = SubmitTask {
        max_attempts: Some(2),
        ..sim::task(&["sh", "-c", "[ \"$SWITCHYARD_ATTEMPT\" -ge 2 ]"], &[])
    };
    let mut ids = Vec::new();
    for _ in 0..TASKS {
        ids.push(client.submit(&second_try_succeeds).await.unwrap().id);
    }
    wait_until(
        "every task to fail once and back off",
        Duration::from_secs(30),
        || {
            every_task(&client, &ids, |task| {
                assert!(
                    task.attempts < 2,
                    "retried before the outage began: {task:?}"
                );
                task.state == TaskState::Queued && task.attempts == 1
            })
        },
    )
    .await;

    // Longer than the back-off: every timer fires while the database is away.
    let server = halt(server).await;
    let halted = Instant::now();
    wait_until(
        "the outage to outlast the retry timers",
        OUTAGE + Duration::from_secs(30),
        || async { halted.elapsed() >= OUTAGE && unhealthy(&coordinator.url).await },
    )
    .await;
    let server = resume(server).await;
    let resumed = Instant::now();

    wait_until(
        "every retried task to succeed",
        Duration::from_secs(60),
        || {
            every_task(&client, &ids, |task| {
                assert!(
                    !task.state.is_final() || task.state == TaskState::Succeeded,
                    "{task:?}"
                );
                task.state == TaskState::Succeeded
            })
        },
    )
    .await;
    let recovered = resumed.elapsed();
    figure("retry_after_db_resume_all_done", millis(recovered), "ms");
    let text = scrape(&coordinator.url)
        .await
        .expect("the coordinator serves /metrics");
    for line in text
        .lines()
        .filter(|line| line.starts_with("switchyard_reconcile_repairs_total"))
    {
        let (series, value) = line.rsplit_once(' ').unwrap();
        figure(series, value, "repairs");
    }
    assert!(
        recovered < Duration::from_secs(15),
        "the retries ran {recovered:?} after the database came back (target: 5 s)"
    );
    stop_server(server).await;
}

// ---- coordinators and agents ----

/// A coordinator process and the URL it serves (and advertises).
#[derive(Debug)]
struct Coordinator {
    process: ChildProcess,
    url: String,
}

async fn start_coordinator(db_url: &str, args: &[&str]) -> Coordinator {
    let (process, url) = spawn_coordinator_process(db_url, args).await;
    Coordinator { process, url }
}

/// Starts one coordinator, waits until it leads, then starts a second
/// that stands by.
async fn leader_and_standby(db_url: &str, args: &[&str]) -> (Coordinator, Coordinator) {
    let leader = start_coordinator(db_url, args).await;
    wait_for_role(&leader.url, ClusterRole::Leader, Duration::from_secs(10)).await;
    let standby = start_coordinator(db_url, args).await;
    wait_for_role(&standby.url, ClusterRole::Standby, Duration::from_secs(10)).await;
    (leader, standby)
}

/// A leader, a standby, and one agent that has registered. Each process
/// is killed when its field is dropped: bind every field (`_name` to keep
/// one unused alive; `..` drops the rest at once).
struct Pair {
    leader: Coordinator,
    standby: Coordinator,
    agent: ChildProcess,
}

/// Starts a [`Pair`] on `db_url` (lease [`LEASE`]), its agent with `slots`
/// slots and both URLs, the standby's first: it must follow the leader.
async fn pair_with_agent(db_url: &str, slots: u32) -> Pair {
    let (leader, standby) = leader_and_standby(db_url, &["--leader-lease", LEASE]).await;
    let agent = start_agent(&[&standby.url, &leader.url], slots);
    registered(&admin_client(&standby.url), 1).await;
    Pair {
        leader,
        standby,
        agent,
    }
}

/// An agent given every URL of `urls`, with `slots` slots.
fn start_agent(urls: &[&str], slots: u32) -> ChildProcess {
    spawn_agent_process(&urls.join(","), &[], slots, &[])
}

/// `/health` of the coordinator at `url`; `None` when it does not answer
/// (its database probe gives up after 3 s).
async fn health(url: &str) -> Option<HealthReport> {
    let response = http_client()
        .get(format!("{url}/health"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()?;
    response.json().await.ok()
}

async fn unhealthy(url: &str) -> bool {
    health(url)
        .await
        .is_some_and(|report| report.status == HealthStatus::Unhealthy)
}

async fn wait_for_role(url: &str, role: ClusterRole, deadline: Duration) {
    wait_until(
        &format!("{url} to say it is {}", role.as_str()),
        deadline,
        || async { health(url).await.is_some_and(|report| report.role == role) },
    )
    .await;
}

/// Waits until exactly one of `coordinators` says it leads and every other
/// one that it stands by; answers the leader's index.
async fn the_leader(coordinators: &[Coordinator]) -> usize {
    wait_until("exactly one leader", Duration::from_secs(30), || async {
        let mut leaders = Vec::new();
        for (i, coordinator) in coordinators.iter().enumerate() {
            match health(&coordinator.url).await?.role {
                ClusterRole::Leader => leaders.push(i),
                ClusterRole::Standby => {}
            }
        }
        (leaders.len() == 1).then(|| leaders[0])
    })
    .await
}

// ---- reading the API ----

/// `GET path` on `url` as the admin, decoded; `None` on any failure.
async fn get_json<T: DeserializeOwned>(url: &str, path: &str) -> Option<T> {
    let response = http_client()
        .get(format!("{url}{path}"))
        .bearer_auth(ADMIN_TOKEN)
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .ok()?;
    if response.status() != StatusCode::OK {
        return None;
    }
    response.json().await.ok()
}

/// `/metrics` of the coordinator at `url`.
async fn scrape(url: &str) -> Option<String> {
    let response = http_client()
        .get(format!("{url}/metrics"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .ok()?;
    response.text().await.ok()
}

/// One series of `/metrics` at `url`; panics if it is missing.
async fn metric(url: &str, series: &str) -> f64 {
    let text = scrape(url).await.expect("the coordinator serves /metrics");
    sample(&text, series).unwrap_or_else(|| panic!("no `{series}` in\n{text}"))
}

/// The task counts `/api/v1/stats` at `url` shows.
async fn counts(url: &str) -> Option<switchyard_protocol::stats::TaskCounts> {
    let stats: Stats = get_json(url, "/api/v1/stats").await?;
    Some(stats.tasks)
}

/// Waits until `total` tasks have succeeded in the cluster at `urls`;
/// panics at once if one ended otherwise, and after `deadline` with what
/// the leader's dispatcher believes each worker runs.
async fn all_succeed(urls: &[&str], total: u64, deadline: Duration) {
    let what = format!("all {total} tasks to succeed");
    let succeeded = wait_until(&what, deadline * 2, || async {
        let counts = counts(urls[0]).await?;
        let others = counts.failed + counts.cancelled + counts.timed_out;
        assert_eq!(others, 0, "tasks ended without succeeding: {counts:?}");
        (counts.succeeded == total).then_some(())
    });
    if tokio::time::timeout(deadline, succeeded).await.is_err() {
        panic!(
            "timed out after {deadline:?} waiting for {what}: {}",
            stuck(urls).await
        );
    }
}

/// Why tasks may not be running: per worker, how many tasks the leader's
/// dispatcher counts as running against how many the database says run.
async fn stuck(urls: &[&str]) -> String {
    let client = Client::with_failover(urls, &Default::default())
        .unwrap()
        .with_token(ADMIN_TOKEN);
    let counts = counts(urls[0]).await;
    let running = ListTasksQuery {
        state: Some(TaskState::Running),
        limit: Some(500),
        ..Default::default()
    };
    let in_database = match client.list_tasks(&running).await {
        Ok(page) => page.tasks.iter().fold(BTreeMap::new(), |mut by, task| {
            *by.entry(task.worker_id).or_insert(0) += 1;
            by
        }),
        Err(e) => return format!("{counts:?}; the running tasks cannot be listed: {e}"),
    };
    let workers = match client.admin_dispatcher(None).await {
        Ok(view) => view.snapshot.workers,
        Err(e) => return format!("{counts:?}; the leader's dispatcher cannot be read: {e}"),
    };
    let each: Vec<String> = workers
        .iter()
        .map(|w| {
            format!(
                "worker {}: the dispatcher counts {} of {} slots busy ({} in flight) and {} \
                 queued; the database {} running",
                w.id,
                w.running,
                w.slots,
                w.in_flight,
                w.queued,
                in_database.get(&Some(w.id)).copied().unwrap_or(0)
            )
        })
        .collect();
    format!("{counts:?}; {}", each.join("; "))
}

/// Whether `holds` is true of each task of `ids` (false while one cannot
/// be read).
async fn every_task(client: &Client, ids: &[TaskId], holds: impl Fn(&TaskView) -> bool) -> bool {
    for &id in ids {
        match client.task(id).await {
            Ok(task) if holds(&task) => {}
            _ => return false,
        }
    }
    true
}

/// Every live task, page by page.
async fn all_tasks(client: &Client) -> Vec<TaskView> {
    let mut tasks = Vec::new();
    let mut cursor = None;
    loop {
        let query = ListTasksQuery {
            limit: Some(500),
            cursor,
            ..Default::default()
        };
        let page = client.list_tasks(&query).await.unwrap();
        tasks.extend(page.tasks);
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return tasks,
        }
    }
}

/// Submits `task` and waits until it succeeds.
async fn succeeds(client: &Client, task: &SubmitTask) -> TaskView {
    let id = client.submit(task).await.unwrap().id;
    let task = sim::finished(client, id, Duration::from_secs(30)).await;
    assert_eq!(task.state, TaskState::Succeeded, "{task:?}");
    task
}

/// Submits each of `tasks` in turn, each until it is acknowledged (they
/// carry idempotency keys, so a retry cannot make a second task), counting
/// the refusals in `refused`.
async fn submit_each(client: Client, tasks: Vec<SubmitTask>, refused: Arc<AtomicUsize>) {
    for task in tasks {
        let key = task.idempotency_key.clone().unwrap_or_default();
        wait_until(
            &format!("submission {key} to be acknowledged"),
            Duration::from_secs(60),
            || async {
                let submitted = client.submit(&task).await;
                if submitted.is_err() {
                    refused.fetch_add(1, Ordering::Relaxed);
                }
                submitted.ok()
            },
        )
        .await;
    }
}

// ---- the run log ----

/// A task that logs its start and end (with a few milliseconds between) to
/// `log`; `key` is its idempotency key. Up to three attempts, as a real
/// user would allow.
fn logged_task(log: &Path, key: &str) -> SubmitTask {
    let script = format!(
        "f={log}; echo \"start $SWITCHYARD_TASK_ID $SWITCHYARD_ATTEMPT $(date +%s%N)\" >> $f; \
         sleep 0.005; echo \"end $SWITCHYARD_TASK_ID $SWITCHYARD_ATTEMPT $(date +%s%N)\" >> $f",
        log = log.display()
    );
    SubmitTask {
        max_attempts: Some(3),
        idempotency_key: Some(key.to_owned()),
        ..sim::task(&["sh", "-c", &script], &[])
    }
}

/// Submits a task that runs until the file `release` exists, and waits
/// until it runs.
async fn run_blocker(client: &Client, release: &Path) -> TaskId {
    let script = format!("while [ ! -e {} ]; do sleep 0.05; done", release.display());
    let blocker = client
        .submit(&sim::task(&["sh", "-c", &script], &[]))
        .await
        .unwrap();
    wait_until("the blocker to run", Duration::from_secs(30), || async {
        (client.task(blocker.id).await.ok()?.state == TaskState::Running).then_some(())
    })
    .await;
    blocker.id
}

/// One run of a task's attempt, as its log lines tell: nanoseconds since
/// the Unix epoch; `end` is absent when the run was cut short.
#[derive(Debug, Clone, Copy)]
struct Run {
    task: i64,
    attempt: i32,
    start: u128,
    end: Option<u128>,
}

/// The runs the log holds; panics if one attempt started twice.
fn runs(log: &Path) -> Vec<Run> {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let mut runs: BTreeMap<(i64, i32), Run> = BTreeMap::new();
    for line in text.lines() {
        let [kind, task, attempt, at] = line.split_whitespace().collect::<Vec<_>>()[..] else {
            panic!("a malformed log line: {line:?}");
        };
        let (task, attempt, at) = (
            task.parse().unwrap(),
            attempt.parse().unwrap(),
            at.parse().unwrap(),
        );
        match kind {
            "start" => {
                let first = runs.insert(
                    (task, attempt),
                    Run {
                        task,
                        attempt,
                        start: at,
                        end: None,
                    },
                );
                assert!(
                    first.is_none(),
                    "attempt {attempt} of task {task} ran twice"
                );
            }
            "end" => {
                let run = runs.get_mut(&(task, attempt)).unwrap_or_else(|| {
                    panic!("attempt {attempt} of task {task} ended without starting")
                });
                run.end = Some(at);
            }
            _ => panic!("a malformed log line: {line:?}"),
        }
    }
    runs.into_values().collect()
}

/// Asserts that every run ended and that no task's runs overlap; answers
/// each task's runs in the order they started.
fn never_at_once(runs: &[Run]) -> BTreeMap<i64, Vec<Run>> {
    let mut by_task: BTreeMap<i64, Vec<Run>> = BTreeMap::new();
    for run in runs {
        by_task.entry(run.task).or_default().push(*run);
    }
    for (task, runs) in &mut by_task {
        runs.sort_by_key(|run| run.start);
        for run in runs.iter() {
            assert!(run.end.is_some(), "task {task} was cut short: {runs:?}");
        }
        for pair in runs.windows(2) {
            let end = pair[0].end.unwrap_or(u128::MAX);
            assert!(
                end < pair[1].start,
                "task {task} ran twice at once: {runs:?}"
            );
        }
    }
    by_task
}

/// How the runs in the log compare with the attempts handed out.
#[derive(Debug, Default)]
struct Attempts {
    /// Runs after a task's first: each must be a later attempt.
    reruns: usize,
    /// Attempts handed out that never ran (lost on the way to the agent).
    unrun: usize,
}

/// Checks each logged task with more than one attempt or run against its
/// attempts list: every run is an attempt the coordinator handed out, a
/// later run a later attempt. Prints each such task with what became of
/// its attempts (why an earlier one did not count), and counts them.
async fn explain_attempts(
    client: &Client,
    tasks: &[TaskView],
    by_task: &BTreeMap<i64, Vec<Run>>,
) -> Attempts {
    let mut seen = Attempts::default();
    for task in tasks {
        let Some(runs) = by_task.get(&task.id.0) else {
            continue;
        };
        if task.attempts == 1 && runs.len() == 1 {
            continue;
        }
        let attempts = client.attempts(task.id).await.unwrap();
        for pair in runs.windows(2) {
            assert!(
                pair[0].attempt < pair[1].attempt,
                "task {} re-ran an attempt: {runs:?}",
                task.id
            );
        }
        for run in runs {
            assert!(
                attempts.iter().any(|a| a.attempt == run.attempt),
                "task {} ran attempt {} that was never handed out: {attempts:?}",
                task.id,
                run.attempt
            );
        }
        seen.reruns += runs.len() - 1;
        seen.unrun += attempts.len().saturating_sub(runs.len());
        eprintln!(
            "task {} ran {} time(s), as attempts {:?}, of {}: {}",
            task.id,
            runs.len(),
            runs.iter().map(|run| run.attempt).collect::<Vec<_>>(),
            attempts.len(),
            describe(&attempts)
        );
    }
    seen
}

/// Prints the figures of [`explain_attempts`] for the test `prefix`.
fn attempt_figures(prefix: &str, seen: &Attempts) {
    figure(&format!("{prefix}_sequential_reruns"), seen.reruns, "runs");
    figure(
        &format!("{prefix}_attempts_never_run"),
        seen.unrun,
        "attempts",
    );
}

/// `attempt N: outcome (error)`, one after the other.
fn describe(attempts: &[AttemptView]) -> String {
    let each: Vec<String> = attempts
        .iter()
        .map(|a| {
            format!(
                "attempt {}: {:?} ({})",
                a.attempt,
                a.outcome,
                a.error.as_deref().unwrap_or("-")
            )
        })
        .collect();
    each.join("; ")
}

/// When the database says each attempt was handed over (ns since the
/// Unix epoch).
async fn hand_over_times(client: &Client, tasks: &[TaskView]) -> HashMap<(i64, i32), u128> {
    let mut times = HashMap::new();
    for task in tasks {
        if task.attempts == 1 {
            times.insert((task.id.0, 1), ns(task.started_at.unwrap()));
            continue;
        }
        for attempt in client.attempts(task.id).await.unwrap() {
            times.insert((task.id.0, attempt.attempt), ns(attempt.started_at));
        }
    }
    times
}

// ---- a PostgreSQL server of the test's own ----

/// A throw-away server with a database `switchyard_restart`, for tests
/// that stop it (the shared one serves the other tests).
async fn own_server() -> PgCluster {
    let server = tokio::task::spawn_blocking(PgCluster::start_ephemeral)
        .await
        .unwrap()
        .expect("failed to start a PostgreSQL server for the test");
    server.create_database("switchyard_restart").await.unwrap();
    server
}

async fn halt(mut server: PgCluster) -> PgCluster {
    tokio::task::spawn_blocking(move || {
        server.halt().expect("failed to halt the database server");
        server
    })
    .await
    .unwrap()
}

async fn resume(mut server: PgCluster) -> PgCluster {
    tokio::task::spawn_blocking(move || {
        server
            .resume()
            .expect("failed to resume the database server");
        server
    })
    .await
    .unwrap()
}

async fn stop_server(mut server: PgCluster) {
    tokio::task::spawn_blocking(move || server.stop())
        .await
        .unwrap()
        .expect("failed to stop the database server");
}

// ---- figures ----

/// Prints one measured figure in the form the report quotes.
fn figure(name: &str, value: impl std::fmt::Display, unit: &str) {
    eprintln!("FIGURE {name}={value} {unit}");
}

fn millis(duration: Duration) -> String {
    format!("{:.1}", duration.as_secs_f64() * 1000.0)
}

/// The `p`th percentile of `sorted` (nearest rank).
fn percentile(sorted: &[Duration], p: usize) -> Duration {
    let rank = (sorted.len() * p).div_ceil(100).max(1);
    sorted[rank - 1]
}

/// From `earlier` to `later`, both nanoseconds since the Unix epoch.
fn since(earlier: u128, later: u128) -> Duration {
    Duration::from_nanos(u64::try_from(later.saturating_sub(earlier)).unwrap())
}

fn now_ns() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos()
}

fn ns(at: chrono::DateTime<chrono::Utc>) -> u128 {
    u128::try_from(at.timestamp_nanos_opt().unwrap()).unwrap()
}
