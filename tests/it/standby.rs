//! A standby coordinator has no dispatcher, yet answers users truthfully
//! from the database: its task views, worker views, `/api/v1/stats` and
//! queue limit agree with the leader's, which reads its dispatcher. Two
//! coordinators run in this process on one database; the first leads.

use std::time::Duration;

use switchyard_protocol::stats::{Stats, TagSetBacklog, TaskCounts, WorkerGroup};
use switchyard_protocol::{
    ClusterRole, ErrorCode, ListTasksQuery, ReportOutcome, SubmitTask, TaskId, WaitReason, WorkerId,
};
use switchyard_tests::{AppOptions, TestApp, spawn_app_on, test_database, wait_until};

use crate::observability::{get_json, sample, scrape, take};
use crate::sim::{self, SimWorker};

/// Longest the leader may take to hear of a change made on the standby.
const SETTLE: Duration = Duration::from_secs(20);

/// A leader and a standby on one fresh database, both run with `options`.
async fn cluster(options: AppOptions) -> (TestApp, TestApp) {
    let db = test_database().await;
    let shared = db.share();
    let leader = spawn_app_on(db, options.clone()).await;
    let standby = spawn_app_on(shared, options).await;
    assert_eq!(leader.state().role(), ClusterRole::Leader);
    assert_eq!(standby.state().role(), ClusterRole::Standby);
    (leader, standby)
}

/// Waits until `read` of the leader gives `expected` (it may not have
/// heard of the standby's changes yet), then checks that the standby gives
/// it too.
async fn both_say<T: PartialEq + std::fmt::Debug>(
    leader: &TestApp,
    standby: &TestApp,
    what: &str,
    expected: T,
    read: impl AsyncFn(&TestApp) -> T,
) {
    wait_until(&format!("the leader to say {what}"), SETTLE, || async {
        (read(leader).await == expected).then_some(())
    })
    .await;
    assert_eq!(read(standby).await, expected, "the standby on {what}");
}

/// Tasks in each state a queued task can wait in, and the workers around
/// them.
struct Scene {
    leader: TestApp,
    standby: TestApp,
    /// Four slots, tags `linux`; runs `running`.
    linux: WorkerId,
    /// Draining, tags `gpu`.
    gpu: WorkerId,
    /// Failed once; waits out a retry's back-off.
    retried: TaskId,
    /// Lost with a worker an admin removed; waits behind the fence.
    fenced: TaskId,
    /// Requires `gpu`, which only a draining worker has.
    unmatched: TaskId,
    /// Submitted to the standby; waits in `linux`'s queue.
    matched: TaskId,
    /// Running on `linux`.
    running: TaskId,
}

async fn scene() -> Scene {
    let (leader, standby) = cluster(
        AppOptions::new()
            .heartbeat("10s", "10m")
            .flag("--retry-backoff", "10m")
            .flag("--retry-backoff-max", "10m")
            .flag("--lost-attempt-fence", "10m"),
    )
    .await;
    let admin = &leader.client;
    let linux = SimWorker::register(admin, "linux-1", &["linux"], 4).await;
    let retried = admin
        .submit(&SubmitTask {
            max_attempts: Some(2),
            ..sim::task(&["false"], &["linux"])
        })
        .await
        .unwrap();
    let first = take(&linux, retried.id).await;
    linux.report(&first, ReportOutcome::Failed, Some(1)).await;
    let running = admin
        .submit(&sim::task(&["sleep", "600"], &["linux"]))
        .await
        .unwrap();
    take(&linux, running.id).await;

    let lost = SimWorker::register(admin, "lost-1", &["lost"], 1).await;
    let fenced = admin
        .submit(&sim::task(&["true"], &["lost"]))
        .await
        .unwrap();
    take(&lost, fenced.id).await;
    admin.unregister(lost.id).await.unwrap();

    let gpu = SimWorker::register(admin, "gpu-1", &["gpu"], 1).await;
    standby.client.admin_drain(gpu.id, true).await.unwrap();
    let unmatched = standby
        .client
        .submit(&sim::task(&["true"], &["gpu"]))
        .await
        .unwrap();
    let matched = standby
        .client
        .submit(&sim::task(&["true"], &["linux"]))
        .await
        .unwrap();
    assert_eq!(matched.waiting, Some(WaitReason::WaitingForSlot));
    assert_eq!(
        matched.queue_position, None,
        "a standby holds no queues, so it gives no position"
    );
    Scene {
        linux: linux.id,
        gpu: gpu.id,
        retried: retried.id,
        fenced: fenced.id,
        unmatched: unmatched.id,
        matched: matched.id,
        running: running.id,
        leader,
        standby,
    }
}

#[tokio::test]
async fn a_standby_tells_why_tasks_wait_and_what_workers_run_as_the_leader_does() {
    let scene = scene().await;
    let (leader, standby) = (&scene.leader, &scene.standby);
    let expected = [
        (scene.retried, Some(WaitReason::BackingOff)),
        (scene.fenced, Some(WaitReason::LostAttemptFence)),
        (scene.unmatched, Some(WaitReason::NoMatchingWorker)),
        (scene.matched, Some(WaitReason::WaitingForSlot)),
        (scene.running, None),
    ];
    for (id, reason) in expected {
        let why = format!("why task {id} waits");
        both_say(leader, standby, &why, reason, async |app: &TestApp| {
            app.client.task(id).await.unwrap().waiting
        })
        .await;
    }
    let listed = standby
        .client
        .list_tasks(&ListTasksQuery::default())
        .await
        .unwrap();
    for (id, reason) in expected {
        let task = listed.tasks.iter().find(|task| task.id == id).unwrap();
        assert_eq!(task.waiting, reason, "task {id} as the standby lists it");
    }
    assert_eq!(
        leader
            .client
            .task(scene.matched)
            .await
            .unwrap()
            .queue_position,
        Some(0)
    );
    assert_eq!(
        standby
            .client
            .task(scene.matched)
            .await
            .unwrap()
            .queue_position,
        None
    );

    let linux = standby.client.worker(scene.linux).await.unwrap();
    assert_eq!(linux.running, 1, "the standby counts what runs on linux-1");
    assert_eq!(linux.queued, 0, "queues are the leader's");
    assert_eq!(leader.client.worker(scene.linux).await.unwrap().running, 1);
    assert_eq!(leader.client.worker(scene.linux).await.unwrap().queued, 1);
    let listed = standby.client.list_workers().await.unwrap();
    let running: Vec<(WorkerId, u32)> = listed.iter().map(|w| (w.id, w.running)).collect();
    assert_eq!(running, vec![(scene.linux, 1), (scene.gpu, 0)]);
}

/// Of `Stats`: mode, strategy and task counts; the backlog's size and its
/// unplaced tasks; tag sets; worker groups; each worker's running tasks;
/// each listed task's wait reason.
type SharedFigures = (
    (String, String, TaskCounts),
    (u64, u64),
    Vec<TagSetBacklog>,
    Vec<WorkerGroup>,
    Vec<(WorkerId, u64)>,
    Vec<(TaskId, Option<WaitReason>)>,
);

/// What the leader's and a standby's stats must share: everything but the
/// queue lengths of workers, which only the leader holds (zeroed here).
fn shared_figures(stats: &Stats) -> SharedFigures {
    let groups: Vec<WorkerGroup> = stats
        .worker_groups
        .iter()
        .map(|group| WorkerGroup {
            queued: 0,
            ..group.clone()
        })
        .collect();
    let workers: Vec<(WorkerId, u64)> = stats
        .workers
        .items
        .iter()
        .map(|w| (w.id, w.running))
        .collect();
    let top: Vec<(TaskId, Option<WaitReason>)> = stats
        .top_queued
        .iter()
        .map(|task| (task.id, task.waiting))
        .collect();
    (
        (stats.mode.clone(), stats.strategy.clone(), stats.tasks),
        (stats.queue.total, stats.queue.unplaced),
        stats.tag_sets.clone(),
        groups,
        workers,
        top,
    )
}

#[tokio::test]
async fn a_standby_counts_the_backlog_and_the_fleet_as_the_leader_does() {
    let scene = scene().await;
    let (leader, standby) = (&scene.leader, &scene.standby);
    let backlog = vec![
        TagSetBacklog {
            tags: vec!["gpu".into()],
            queued: 1,
            candidates: 0,
        },
        TagSetBacklog {
            tags: vec!["linux".into()],
            queued: 1,
            candidates: 1,
        },
    ];
    both_say(
        leader,
        standby,
        "the backlog",
        backlog,
        async |app: &TestApp| get_json::<Stats>(app, "/api/v1/stats").await.tag_sets,
    )
    .await;

    let on_leader: Stats = get_json(leader, "/api/v1/stats").await;
    let on_standby: Stats = get_json(standby, "/api/v1/stats").await;
    assert_eq!(shared_figures(&on_standby), shared_figures(&on_leader));
    assert_eq!(on_standby.queue.unplaced, 1, "the gpu task has no worker");
    assert_eq!(on_standby.queue.total, 4);
    let groups: Vec<(Vec<String>, u64, u64, u64)> = on_standby
        .worker_groups
        .iter()
        .map(|g| (g.tags.clone(), g.workers, g.draining, g.running))
        .collect();
    assert_eq!(
        groups,
        vec![
            (vec!["gpu".into()], 1, 1, 0),
            (vec!["linux".into()], 1, 0, 1)
        ]
    );
    assert!(
        on_standby.workers.items.iter().all(|w| w.queued == 0),
        "{:?}",
        on_standby.workers.items
    );

    // Gauges of the dispatcher are the leader's alone.
    let leader_metrics = scrape(leader).await;
    let standby_metrics = scrape(standby).await;
    assert_eq!(
        sample(&leader_metrics, "switchyard_dispatcher_unplaced_tasks"),
        Some(1.0)
    );
    for gauge in [
        "switchyard_dispatcher_unplaced_tasks",
        "switchyard_dispatcher_queued_tasks",
        "switchyard_workers_live",
    ] {
        assert_eq!(sample(&standby_metrics, gauge), None, "{gauge}");
    }
    assert_eq!(sample(&standby_metrics, "switchyard_leader"), Some(0.0));
    assert_eq!(
        sample(&standby_metrics, "switchyard_tasks_queued"),
        Some(4.0)
    );
}

#[tokio::test]
async fn a_standby_holds_the_queue_limit() {
    let (leader, standby) = cluster(AppOptions::new().flag("--max-queued-tasks", "3")).await;
    let task = sim::task(&["true"], &["linux"]);
    leader
        .client
        .submit_batch(&[task.clone(), task.clone()])
        .await
        .unwrap();
    let third = standby.client.submit(&task).await.expect("3 of 3 fit");
    let refused = standby.client.submit(&task).await.expect_err("4 of 3");
    assert_eq!(refused.code(), Some(ErrorCode::QueueFull));
    let refused = standby
        .client
        .submit_batch(std::slice::from_ref(&task))
        .await
        .expect_err("a batch past the limit");
    assert_eq!(refused.code(), Some(ErrorCode::QueueFull));

    // The leader counts the standby's submission once it hears of it.
    wait_until("the leader to hold 3 queued tasks", SETTLE, || async {
        let text = scrape(&leader).await;
        (sample(&text, "switchyard_dispatcher_queued_tasks") == Some(3.0)).then_some(())
    })
    .await;
    let refused = leader.client.submit(&task).await.expect_err("4 of 3");
    assert_eq!(refused.code(), Some(ErrorCode::QueueFull));

    standby.client.cancel(third.id).await.unwrap();
    standby
        .client
        .submit(&task)
        .await
        .expect("a cancel makes room on the standby too");
}
