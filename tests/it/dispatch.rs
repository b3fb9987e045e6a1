//! The complete TaskDispatcher against real PostgreSQL: seeding on restart,
//! redistribution, strategies, stealing, worker changes, seed and rebalance.

use std::collections::HashMap;
use std::time::Duration;

use switchyard_protocol::limits::MAX_BATCH;
use switchyard_protocol::{
    ListTasksQuery, ReportOutcome, SubmitTask, TaskId, TaskState, WaitReason, WorkerId,
};
use switchyard_tests::{TestApp, spawn_app, wait_until};

use crate::admin;
use crate::sim::{self, SimWorker};

async fn submit_many(app: &TestApp, n: usize, tags: &[&str]) -> Vec<TaskId> {
    let tasks = vec![sim::task(&["true"], tags); n];
    let mut ids = Vec::with_capacity(n);
    for batch in tasks.chunks(MAX_BATCH) {
        let stored = app.client.submit_batch(batch).await.unwrap();
        ids.extend(stored.tasks.iter().map(|task| task.id));
    }
    ids
}

/// Every task succeeded with exactly one attempt.
async fn all_succeeded_once(app: &TestApp, n: usize) {
    let mut seen = 0;
    let mut cursor = None;
    loop {
        let page = app
            .client
            .list_tasks(&ListTasksQuery {
                limit: Some(500),
                cursor: cursor.clone(),
                ..Default::default()
            })
            .await
            .unwrap();
        for task in &page.tasks {
            assert_eq!(task.state, TaskState::Succeeded, "{task:?}");
            assert_eq!(task.attempts, 1, "task {} ran more than once", task.id);
        }
        seen += page.tasks.len();
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(seen, n);
}

fn with_client(workers: &[SimWorker], app: &TestApp) -> Vec<SimWorker> {
    workers
        .iter()
        .map(|w| SimWorker {
            client: app.client.clone(),
            ..w.clone()
        })
        .collect()
}

#[tokio::test]
async fn restart_with_1000_queued_tasks_seeds_every_one_and_runs_each_once() {
    for mode in ["balanced", "fanout"] {
        // The simulated workers send no heartbeat while 1,000 tasks go in
        // and the coordinator restarts: a long timeout keeps a loaded
        // machine from declaring them dead before the snapshot is read.
        let mut app = spawn_app(admin::options(mode).heartbeat("5s", "10m")).await;
        let mut workers = Vec::new();
        for i in 0..3 {
            workers.push(SimWorker::register(&app.client, &format!("w{i}"), &["linux"], 8).await);
        }
        let ids = submit_many(&app, 1000, &["linux"]).await;
        app.restart().await;
        let workers = with_client(&workers, &app);

        let lengths = admin::queue_lengths(&app).await;
        assert_eq!(lengths.len(), 3);
        let snapshot = admin::snapshot(&app).await;
        assert_eq!(snapshot.queued_total, 1000, "{mode}");
        match mode {
            "balanced" => {
                let total: u64 = lengths.iter().map(|(_, n)| n).sum();
                assert_eq!(total, 1000, "each task in exactly one queue: {lengths:?}");
                for id in ids.iter().step_by(97) {
                    assert_eq!(admin::holders(&app, *id).await.len(), 1, "task {id}");
                }
            }
            _ => {
                assert!(
                    lengths.iter().all(|(_, n)| *n == 1000),
                    "fanout: in every queue: {lengths:?}"
                );
                for id in ids.iter().step_by(97) {
                    assert_eq!(admin::holders(&app, *id).await.len(), 3, "task {id}");
                }
            }
        }
        sim::run_all(&workers, 1000).await;
        all_succeeded_once(&app, 1000).await;
        app.shutdown().await.unwrap();
    }
}

#[tokio::test]
async fn a_balanced_worker_leaving_with_200_queued_tasks_loses_none() {
    let app = spawn_app(admin::options("balanced")).await;
    let mut workers = Vec::new();
    for i in 0..3 {
        workers.push(SimWorker::register(&app.client, &format!("w{i}"), &["linux"], 8).await);
    }
    submit_many(&app, 600, &["linux"]).await;
    let lengths: HashMap<WorkerId, u64> = admin::queue_lengths(&app).await.into_iter().collect();
    let leaving = workers.remove(0);
    assert_eq!(
        lengths[&leaving.id], 200,
        "LeastQueue spread 600 over 3: {lengths:?}"
    );

    app.client.unregister(leaving.id).await.unwrap();
    let lengths = admin::queue_lengths(&app).await;
    assert_eq!(lengths.len(), 2);
    let total: u64 = lengths.iter().map(|(_, n)| n).sum();
    assert_eq!(total, 600, "the 200 moved to the others: {lengths:?}");
    assert!(lengths.iter().all(|(_, n)| *n == 300), "{lengths:?}");

    let ran = sim::run_all(&workers, 600).await;
    assert!(ran.values().all(|w| *w != leaving.id));
    all_succeeded_once(&app, 600).await;
}

#[tokio::test]
async fn a_task_with_no_candidate_waits_and_says_why_then_runs() {
    for mode in ["fanout", "balanced"] {
        let app = spawn_app(admin::options(mode)).await;
        let _linux = SimWorker::register(&app.client, "linux", &["linux"], 1).await;
        let task = app
            .client
            .submit(&sim::task(&["true"], &["windows"]))
            .await
            .unwrap();
        assert_eq!(task.waiting, Some(WaitReason::NoMatchingWorker));
        let view = app.client.task(task.id).await.unwrap();
        assert_eq!(view.state, TaskState::Queued);
        assert_eq!(view.waiting, Some(WaitReason::NoMatchingWorker));

        let windows = SimWorker::register(&app.client, "windows", &["windows"], 1).await;
        assert_eq!(
            app.client.task(task.id).await.unwrap().waiting,
            Some(WaitReason::WaitingForSlot)
        );
        let got = windows.fetch(1, 5.0).await;
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].task_id, task.id);
        let done = windows
            .report(&got[0], ReportOutcome::Succeeded, Some(0))
            .await;
        assert_eq!(done.state, TaskState::Succeeded);
    }
}

#[tokio::test]
async fn round_robin_spreads_400_tasks_over_4_idle_workers() {
    let app = spawn_app(admin::options("balanced").balance_strategy("round-robin")).await;
    for i in 0..4 {
        SimWorker::register(&app.client, &format!("w{i}"), &["linux"], 4).await;
    }
    submit_many(&app, 400, &["linux"]).await;
    let lengths = admin::queue_lengths(&app).await;
    assert_eq!(lengths.len(), 4);
    for (worker, n) in &lengths {
        assert!(
            (99..=101).contains(n),
            "worker {worker} got {n}: {lengths:?}"
        );
    }
}

#[tokio::test]
async fn least_queue_counts_running_work() {
    let app = spawn_app(admin::options("balanced")).await;
    let busy = SimWorker::register(&app.client, "busy", &["linux"], 4).await;
    submit_many(&app, 4, &["linux"]).await;
    assert_eq!(busy.fetch(4, 1.0).await.len(), 4, "busy takes all four");
    let idle = SimWorker::register(&app.client, "idle", &["linux"], 4).await;
    submit_many(&app, 4, &["linux"]).await;
    let lengths: HashMap<WorkerId, u64> = admin::queue_lengths(&app).await.into_iter().collect();
    assert_eq!(
        lengths[&idle.id], 4,
        "new work goes to the idle worker: {lengths:?}"
    );
    assert_eq!(lengths[&busy.id], 0, "{lengths:?}");
}

#[tokio::test]
async fn an_idle_worker_steals_from_a_long_queue() {
    let app = spawn_app(admin::options("balanced")).await;
    let busy = SimWorker::register(&app.client, "busy", &["linux"], 1).await;
    submit_many(&app, 50, &["linux"]).await;
    let running = busy.fetch(1, 1.0).await;
    assert_eq!(running.len(), 1);
    let idle = SimWorker::register(&app.client, "idle", &["linux"], 1).await;
    let lengths: HashMap<WorkerId, u64> = admin::queue_lengths(&app).await.into_iter().collect();
    assert_eq!(
        lengths[&busy.id], 49,
        "the long queue stays where it was: {lengths:?}"
    );
    assert_eq!(lengths[&idle.id], 0);

    let stolen = idle.fetch(1, 0.0).await;
    assert_eq!(
        stolen.len(),
        1,
        "the idle worker takes work at its next fetch"
    );
    let lengths: HashMap<WorkerId, u64> = admin::queue_lengths(&app).await.into_iter().collect();
    assert_eq!(lengths[&busy.id], 48);
}

#[tokio::test]
async fn a_worker_that_loses_a_tag_never_gets_those_tasks_again() {
    for mode in ["fanout", "balanced"] {
        let app = spawn_app(admin::options(mode)).await;
        let changing = SimWorker::register(&app.client, "changing", &["linux", "gpu"], 8).await;
        submit_many(&app, 100, &["gpu"]).await;
        let held: HashMap<WorkerId, u64> = admin::queue_lengths(&app).await.into_iter().collect();
        assert_eq!(held[&changing.id], 100, "{mode}");
        let other = SimWorker::register(&app.client, "other", &["linux", "gpu"], 8).await;

        admin::set_tags(&app, changing.id, &["linux"]).await;
        let held: HashMap<WorkerId, u64> = admin::queue_lengths(&app).await.into_iter().collect();
        assert_eq!(held[&changing.id], 0, "{mode}: {held:?}");
        assert_eq!(held[&other.id], 100, "{mode}: {held:?}");
        assert!(changing.fetch(8, 0.0).await.is_empty(), "{mode}");

        let ran = sim::run_all(&[changing.clone(), other.clone()], 100).await;
        assert!(
            ran.values().all(|w| *w == other.id),
            "{mode}: a gpu task reached the changed worker"
        );
    }
}

#[tokio::test]
async fn seeding_twice_duplicates_nothing() {
    for mode in ["fanout", "balanced"] {
        let app = spawn_app(admin::options(mode)).await;
        let workers = [
            SimWorker::register(&app.client, "a", &["linux"], 8).await,
            SimWorker::register(&app.client, "b", &["linux"], 8).await,
        ];
        submit_many(&app, 100, &["linux"]).await;
        assert_eq!(admin::seed(&app).await, 100);
        assert_eq!(admin::seed(&app).await, 100);
        let lengths = admin::queue_lengths(&app).await;
        let total: u64 = lengths.iter().map(|(_, n)| n).sum();
        match mode {
            "balanced" => assert_eq!(total, 100, "{lengths:?}"),
            _ => assert_eq!(total, 200, "{lengths:?}"),
        }
        assert_eq!(admin::snapshot(&app).await.queued_total, 100);
        sim::run_all(&workers, 100).await;
        all_succeeded_once(&app, 100).await;
    }
}

#[tokio::test]
async fn rebalance_spreads_one_workers_600_tasks_over_four() {
    let app = spawn_app(admin::options("balanced")).await;
    let first = SimWorker::register(&app.client, "first", &["linux"], 8).await;
    submit_many(&app, 600, &["linux"]).await;
    for i in 0..3 {
        SimWorker::register(&app.client, &format!("new{i}"), &["linux"], 8).await;
    }
    let lengths: HashMap<WorkerId, u64> = admin::queue_lengths(&app).await.into_iter().collect();
    assert_eq!(lengths[&first.id], 600, "{lengths:?}");
    let moved = admin::rebalance(&app).await;
    assert!(moved >= 449, "moved {moved}");
    let lengths = admin::queue_lengths(&app).await;
    assert_eq!(lengths.len(), 4);
    for (worker, n) in &lengths {
        assert!(
            (149..=151).contains(n),
            "worker {worker} holds {n}: {lengths:?}"
        );
    }
}

#[tokio::test]
async fn admin_routes_need_the_admin_token() {
    let app = spawn_app(admin::options("balanced")).await;
    let anonymous = switchyard_tests::http_client();
    for token in [None, Some("wrong-token-wrong-token")] {
        let mut request = anonymous.post(app.url("/api/v1/admin/seed"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), reqwest::StatusCode::UNAUTHORIZED);
        let body: switchyard_protocol::ErrorBody = response.json().await.unwrap();
        assert_eq!(body.code, switchyard_protocol::ErrorCode::Unauthorized);
    }
    let other = spawn_app(
        switchyard_tests::AppOptions::new().flag("--admin-token", "another-admin-token-0123"),
    )
    .await;
    let response = switchyard_tests::http_client()
        .get(other.url("/api/v1/admin/dispatcher"))
        .bearer_auth(admin::TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        reqwest::StatusCode::UNAUTHORIZED,
        "another coordinator's admin token means nothing here"
    );
}

#[tokio::test]
async fn a_sigkilled_agent_is_declared_dead_and_its_work_runs_elsewhere() {
    use switchyard_tests::spawn_agent_process;
    // The lost tasks wait out a short fence before they run elsewhere.
    let app = spawn_app(
        admin::options("balanced")
            .heartbeat("200ms", "1s")
            .flag("--lost-attempt-fence", "1s"),
    )
    .await;
    let mut doomed = spawn_agent_process(&app.base_url, &["linux"], 2, &[]);
    let doomed_id = wait_until(
        "the first agent to register",
        Duration::from_secs(30),
        || async {
            let workers = app.client.list_workers().await.ok()?;
            workers.first().map(|w| w.id)
        },
    )
    .await;
    let mut ids = Vec::new();
    for i in 0..6 {
        let argv = if i < 2 { ["sleep", "2"] } else { ["true", "x"] };
        let task = SubmitTask {
            max_attempts: Some(1),
            ..sim::task(&argv, &["linux"])
        };
        ids.push(app.client.submit(&task).await.unwrap().id);
    }
    wait_until(
        "two tasks running on the first agent",
        Duration::from_secs(30),
        || async {
            let mut running = 0;
            for id in &ids[..2] {
                let task = app.client.task(*id).await.ok()?;
                running += usize::from(task.state == TaskState::Running);
            }
            (running == 2).then_some(())
        },
    )
    .await;
    let queued_on_doomed: HashMap<WorkerId, u64> =
        admin::queue_lengths(&app).await.into_iter().collect();
    assert_eq!(
        queued_on_doomed[&doomed_id], 4,
        "the rest wait in its queue"
    );

    doomed.sigkill();
    doomed.wait_exit(Duration::from_secs(10)).await;
    let _rescuer = spawn_agent_process(&app.base_url, &["linux"], 2, &[]);

    wait_until(
        "the killed agent to be declared dead",
        Duration::from_secs(30),
        || async {
            let worker = app.client.worker(doomed_id).await.ok()?;
            (worker.state == switchyard_protocol::WorkerState::Gone).then_some(())
        },
    )
    .await;
    let tasks = wait_until(
        "all six tasks to finish",
        Duration::from_secs(60),
        || async {
            let mut tasks = Vec::new();
            for id in &ids {
                let task = app.client.task(*id).await.ok()?;
                if !task.state.is_final() {
                    return None;
                }
                tasks.push(task);
            }
            Some(tasks)
        },
    )
    .await;
    for task in &tasks {
        assert_eq!(task.state, TaskState::Succeeded, "{task:?}");
        assert_ne!(
            task.worker_id,
            Some(doomed_id),
            "task {} ran elsewhere",
            task.id
        );
    }
    assert_eq!(tasks[0].attempts, 2, "the lost attempt counts");
    assert_eq!(tasks[1].attempts, 2);
    assert!(
        tasks[2..].iter().all(|t| t.attempts == 1),
        "queued ones were redistributed"
    );
}
