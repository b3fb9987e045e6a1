//! End to end: the real `coordinator` and `worker-agent` binaries on
//! loopback, running real processes.

use std::collections::HashMap;
use std::time::Duration;

use switchyard_protocol::limits::OUTPUT_TAIL_BYTES;
use switchyard_protocol::{Client, ListTasksQuery, SubmitTask, TaskState, WorkerState};
use switchyard_tests::{
    spawn_agent_process, spawn_coordinator_process, spawn_process, test_database, wait_until,
};

use crate::sim;

/// Waits until `count` agents have registered, and returns their workers.
pub(crate) async fn registered(
    client: &Client,
    count: usize,
) -> Vec<switchyard_protocol::WorkerView> {
    wait_until(
        &format!("{count} agent(s) to register"),
        Duration::from_secs(30),
        || async {
            let workers = client.list_workers().await.ok()?;
            (workers.len() == count).then_some(workers)
        },
    )
    .await
}

#[tokio::test]
async fn echo_hello_succeeds_with_its_output() {
    let db = test_database().await;
    let (_coordinator, url) = spawn_coordinator_process(&db.url, &[]).await;
    let _agent = spawn_agent_process(&url, &["linux"], 2, &[]);
    let client = switchyard_tests::admin_client(&url);
    let submitted = client
        .submit(&sim::task(&["echo", "hello"], &[]))
        .await
        .unwrap();
    assert_eq!(submitted.state, TaskState::Queued);
    let task = sim::finished(&client, submitted.id, Duration::from_secs(30)).await;
    assert_eq!(task.state, TaskState::Succeeded, "{task:?}");
    let output = task.output.expect("output recorded");
    assert_eq!(output.exit_code, Some(0));
    assert_eq!(output.stdout, "hello\n");
    assert!(!output.stdout_truncated);
    assert_eq!(task.attempts, 1);
    assert!(task.started_at.is_some() && task.finished_at >= task.started_at);
}

#[tokio::test]
async fn failures_timeouts_and_long_output_are_recorded() {
    let db = test_database().await;
    let (_coordinator, url) = spawn_coordinator_process(&db.url, &[]).await;
    let _agent = spawn_agent_process(&url, &[], 4, &[]);
    let client = switchyard_tests::admin_client(&url);

    let exits_3 = client
        .submit(&sim::task(&["sh", "-c", "echo oops >&2; exit 3"], &[]))
        .await
        .unwrap();
    let sleeper = client
        .submit(&SubmitTask {
            timeout_secs: Some(1),
            ..sim::task(&["sleep", "30"], &[])
        })
        .await
        .unwrap();
    let chatty = client
        .submit(&sim::task(
            &[
                "sh",
                "-c",
                "head -c 200000 /dev/zero | tr '\\0' a; printf END",
            ],
            &[],
        ))
        .await
        .unwrap();
    let missing = client
        .submit(&sim::task(&["/no/such/program"], &[]))
        .await
        .unwrap();

    let failed = sim::finished(&client, exits_3.id, Duration::from_secs(30)).await;
    assert_eq!(failed.state, TaskState::Failed);
    let output = failed.output.expect("output recorded");
    assert_eq!(output.exit_code, Some(3));
    assert_eq!(output.stderr, "oops\n");

    let timed_out = sim::finished(&client, sleeper.id, Duration::from_secs(30)).await;
    assert_eq!(timed_out.state, TaskState::TimedOut, "{timed_out:?}");
    let ran_for = timed_out.finished_at.unwrap() - timed_out.started_at.unwrap();
    assert!(
        ran_for < chrono::Duration::seconds(10),
        "killed promptly, ran {ran_for}"
    );

    let long = sim::finished(&client, chatty.id, Duration::from_secs(30)).await;
    assert_eq!(long.state, TaskState::Succeeded);
    let output = long.output.expect("output recorded");
    assert!(output.stdout_truncated, "cut output is flagged");
    assert_eq!(
        output.stdout.len(),
        OUTPUT_TAIL_BYTES,
        "the tail is kept whole"
    );
    assert!(output.stdout.ends_with("aaaEND"), "the end is what is kept");

    let not_started = sim::finished(&client, missing.id, Duration::from_secs(30)).await;
    assert_eq!(not_started.state, TaskState::Failed);
    assert!(not_started.error.is_some(), "{not_started:?}");
}

#[tokio::test]
async fn four_agents_racing_run_each_of_500_tasks_exactly_once() {
    const TASKS: usize = 500;
    let db = test_database().await;
    let (_coordinator, url) = spawn_coordinator_process(&db.url, &[]).await;
    let agents: Vec<_> = (0..4)
        .map(|_| spawn_agent_process(&url, &["linux"], 4, &[]))
        .collect();
    let client = switchyard_tests::admin_client(&url);
    registered(&client, agents.len()).await;

    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("ran.log");
    for i in 0..TASKS {
        // Each run appends one short line: O_APPEND writes this small are atomic.
        let script = format!("echo {i} >> {}", log.display());
        client
            .submit(&sim::task(&["sh", "-c", &script], &["linux"]))
            .await
            .unwrap();
    }
    wait_until(
        "all 500 tasks to succeed",
        Duration::from_secs(120),
        || async {
            let query = ListTasksQuery {
                state: Some(TaskState::Succeeded),
                limit: Some(500),
                ..Default::default()
            };
            let page = client.list_tasks(&query).await.ok()?;
            (page.tasks.len() == TASKS).then_some(())
        },
    )
    .await;

    let text = std::fs::read_to_string(&log).unwrap();
    let mut runs: HashMap<usize, usize> = HashMap::new();
    for line in text.lines() {
        *runs.entry(line.parse().unwrap()).or_default() += 1;
    }
    assert_eq!(runs.len(), TASKS, "every task ran");
    let twice: Vec<_> = runs.iter().filter(|(_, n)| **n != 1).collect();
    assert!(twice.is_empty(), "tasks ran more than once: {twice:?}");

    let page = client
        .list_tasks(&ListTasksQuery {
            limit: Some(500),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(page.tasks.iter().all(|t| t.attempts == 1));
    let by_worker = page.tasks.iter().fold(HashMap::new(), |mut m, t| {
        *m.entry(t.worker_id).or_insert(0) += 1;
        m
    });
    assert!(by_worker.len() >= 2, "work was shared: {by_worker:?}");
}

#[tokio::test]
async fn sigterm_lets_running_tasks_finish_then_unregisters() {
    let db = test_database().await;
    let (_coordinator, url) = spawn_coordinator_process(&db.url, &[]).await;
    let mut agent = spawn_agent_process(&url, &[], 2, &[]);
    let client = switchyard_tests::admin_client(&url);
    let worker = registered(&client, 1).await.remove(0);
    let task = client
        .submit(&sim::task(&["sh", "-c", "sleep 1; echo done"], &[]))
        .await
        .unwrap();
    wait_until("the task to start", Duration::from_secs(30), || async {
        let view = client.task(task.id).await.ok()?;
        (view.state == TaskState::Running).then_some(())
    })
    .await;

    agent.sigterm();
    let status = agent.wait_exit(Duration::from_secs(30)).await;
    assert!(
        status.success(),
        "agent exited cleanly: {status:?}\n{}",
        agent.output_tail()
    );
    let view = client.task(task.id).await.unwrap();
    assert_eq!(
        view.state,
        TaskState::Succeeded,
        "the running task finished"
    );
    assert_eq!(view.output.unwrap().stdout, "done\n");
    let gone = client.worker(worker.id).await.unwrap();
    assert_eq!(gone.state, WorkerState::Gone, "the agent unregistered");
}

#[tokio::test]
async fn dev_command_runs_database_coordinator_and_agent() {
    let data = tempfile::tempdir().unwrap();
    let data_dir = data.path().join("dev");
    let data_dir = data_dir.to_str().unwrap();
    let mut dev = spawn_process(
        "coordinator",
        &["dev", "--listen", "127.0.0.1:0", "--data-dir", data_dir],
    );
    let url = wait_until("the dev banner", Duration::from_secs(90), || async {
        let out = dev.stdout();
        let line = out.lines().find(|l| l.contains("running at http://"))?;
        line.split_whitespace()
            .find(|w| w.starts_with("http://"))
            .map(str::to_owned)
    })
    .await;
    // The dev command keeps its admin token beside the data folder.
    let token = std::fs::read_to_string(data.path().join("admin-token")).unwrap();
    let client = switchyard_protocol::Client::new(&url)
        .unwrap()
        .with_token(token.trim());
    let who = client.whoami().await.unwrap();
    assert_eq!(who.role, switchyard_protocol::Role::Admin);
    let submitted = client
        .submit(&sim::task(&["echo", "hello"], &[]))
        .await
        .unwrap();
    let task = sim::finished(&client, submitted.id, Duration::from_secs(30)).await;
    assert_eq!(task.state, TaskState::Succeeded);
    assert_eq!(task.output.unwrap().stdout, "hello\n");

    dev.sigterm();
    let status = dev.wait_exit(Duration::from_secs(60)).await;
    assert!(
        status.success(),
        "dev exited cleanly: {status:?}\n{}",
        dev.output_tail()
    );
}
