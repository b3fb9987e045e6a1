//! A lost attempt is never run twice at once: the lost-attempt fence on the
//! coordinator, the lease on the agent, and the agent's word when it comes
//! back — with the real binaries, and stamps written by the tasks themselves.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use nix::sys::signal::Signal;
use switchyard_protocol::{AttemptOutcome, Client, SubmitTask, TaskId, TaskState, WorkerId};
use switchyard_tests::{
    ChildProcess, admin_client, spawn_agent_process, spawn_coordinator_process, test_database,
    wait_until,
};

use crate::sim;

/// A task that stamps `stamps` when it starts, every 100 ms while it runs
/// (`rounds` times), and when it ends, each line naming its attempt.
fn stamping(stamps: &Path, rounds: u32, tags: &[&str]) -> SubmitTask {
    let script = format!(
        "f={f}; echo \"start $SWITCHYARD_ATTEMPT $(date +%s%N)\" >> $f; i=0; \
         while [ $i -lt {rounds} ]; do echo \"alive $SWITCHYARD_ATTEMPT $(date +%s%N)\" >> $f; \
         sleep 0.1; i=$((i+1)); done; echo \"end $SWITCHYARD_ATTEMPT $(date +%s%N)\" >> $f",
        f = stamps.display()
    );
    SubmitTask {
        max_attempts: Some(1),
        ..sim::task(&["sh", "-c", &script], tags)
    }
}

/// Each attempt's stamps: what it wrote, with when (ns since the epoch).
type Stamps = BTreeMap<i32, Vec<(String, u128)>>;

fn stamps(path: &Path) -> Stamps {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let mut by_attempt = Stamps::new();
    for line in text.lines() {
        let parts: Vec<&str> = line.split_whitespace().collect();
        if let [kind, attempt, at] = parts[..] {
            by_attempt
                .entry(attempt.parse().unwrap())
                .or_default()
                .push((kind.to_owned(), at.parse().unwrap()));
        }
    }
    by_attempt
}

/// Asserts that no two attempts' stamps interleave: each attempt stamped
/// its last before the next stamped its first.
fn never_at_once(path: &Path) -> Stamps {
    let by_attempt = stamps(path);
    let spans: Vec<(i32, u128, u128)> = by_attempt
        .iter()
        .map(|(attempt, stamps)| {
            let first = stamps.iter().map(|(_, at)| *at).min().unwrap();
            let last = stamps.iter().map(|(_, at)| *at).max().unwrap();
            (*attempt, first, last)
        })
        .collect();
    for pair in spans.windows(2) {
        let ((a, _, a_last), (b, b_first, _)) = (pair[0], pair[1]);
        assert!(
            a_last < b_first,
            "attempt {a} still ran {} ms after attempt {b} started:\n{by_attempt:?}",
            (a_last - b_first) / 1_000_000
        );
    }
    by_attempt
}

async fn started(path: &Path, attempt: i32) {
    wait_until(
        &format!("attempt {attempt} to start"),
        Duration::from_secs(30),
        || async { stamps(path).contains_key(&attempt) },
    )
    .await;
}

async fn worker_named(client: &Client, tags: &[&str]) -> WorkerId {
    let tags: Vec<String> = tags.iter().map(|t| t.to_string()).collect();
    wait_until("the agent to register", Duration::from_secs(30), || async {
        let workers = client.list_workers().await.ok()?;
        workers.into_iter().find(|w| w.tags == tags).map(|w| w.id)
    })
    .await
}

async fn attempts(client: &Client, id: TaskId) -> Vec<(AttemptOutcome, WorkerId)> {
    client
        .attempts(id)
        .await
        .unwrap()
        .into_iter()
        .map(|a| (a.outcome.expect("a finished attempt"), a.worker_id))
        .collect()
}

/// Waits for task `id` to succeed, checks from the stamps in `file` that no
/// two of its attempts ran at once, and answers the stamps and how each
/// attempt ended, where.
async fn succeeded_one_at_a_time(
    client: &Client,
    id: TaskId,
    file: &Path,
) -> (Stamps, Vec<(AttemptOutcome, WorkerId)>) {
    let task = sim::finished(client, id, Duration::from_secs(60)).await;
    assert_eq!(task.state, TaskState::Succeeded, "{task:?}");
    (never_at_once(file), attempts(client, id).await)
}

/// Asserts that `attempt` was stopped before its end.
fn stopped_midway(stamps: &Stamps, attempt: i32) {
    assert!(
        !stamps[&attempt].iter().any(|(kind, _)| kind == "end"),
        "attempt {attempt} ran to its end: {stamps:?}"
    );
}

async fn coordinator(db: &str, fence: &str) -> (ChildProcess, String) {
    spawn_coordinator_process(
        db,
        &[
            "--heartbeat-interval",
            "200ms",
            "--heartbeat-timeout",
            "1s",
            "--lost-attempt-fence",
            fence,
        ],
    )
    .await
}

#[tokio::test]
async fn an_agent_killed_mid_task_never_has_its_task_run_twice_at_once() {
    let db = test_database().await;
    let (_coordinator, url) = coordinator(&db.url, "2s").await;
    let admin = admin_client(&url);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("stamps");
    let mut first = spawn_agent_process(&url, &["a"], 1, &[]);
    let first_id = worker_named(&admin, &["a"]).await;
    let task = admin.submit(&stamping(&file, 30, &[])).await.unwrap();
    started(&file, 1).await;
    let _second = spawn_agent_process(&url, &["b"], 1, &[]);
    let second_id = worker_named(&admin, &["b"]).await;
    first.sigkill();
    first.wait_exit(Duration::from_secs(10)).await;

    let (stamps, attempts) = succeeded_one_at_a_time(&admin, task.id, &file).await;
    stopped_midway(&stamps, 1);
    assert_eq!(
        attempts,
        [
            (AttemptOutcome::Lost, first_id),
            (AttemptOutcome::Succeeded, second_id)
        ]
    );
}

#[tokio::test]
async fn a_frozen_agent_kills_its_task_before_the_fence_lets_another_worker_run_it() {
    let db = test_database().await;
    // Declared dead after 1 s of silence; the task waits 3 s more. The
    // frozen agent's supervisor kills the task 2.5 s after its last
    // answered heartbeat, before anyone else may start it.
    let (_coordinator, url) = coordinator(&db.url, "3s").await;
    let admin = admin_client(&url);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("stamps");
    let first = spawn_agent_process(&url, &["a"], 1, &[]);
    let first_id = worker_named(&admin, &["a"]).await;
    let task = admin.submit(&stamping(&file, 80, &[])).await.unwrap();
    started(&file, 1).await;
    let _second = spawn_agent_process(&url, &["b"], 1, &[]);
    let second_id = worker_named(&admin, &["b"]).await;
    first.signal(Signal::SIGSTOP);

    wait_until(
        "the task to wait behind the fence",
        Duration::from_secs(30),
        || async {
            let task = admin.task(task.id).await.ok()?;
            (task.waiting == Some(switchyard_protocol::WaitReason::LostAttemptFence)).then_some(())
        },
    )
    .await;
    started(&file, 2).await;
    // The agent comes back: told it is gone, it registers again.
    first.signal(Signal::SIGCONT);
    let (stamps, attempts) = succeeded_one_at_a_time(&admin, task.id, &file).await;
    stopped_midway(&stamps, 1);
    assert_eq!(
        attempts,
        [
            (AttemptOutcome::Lost, first_id),
            (AttemptOutcome::Succeeded, second_id)
        ]
    );
    wait_until(
        "the thawed agent to register again",
        Duration::from_secs(30),
        || async {
            let workers = admin.list_workers().await.ok()?;
            workers
                .iter()
                .any(|w| w.tags == ["a"] && w.id != first_id)
                .then_some(())
        },
    )
    .await;
}

#[tokio::test]
async fn an_agent_restarted_after_a_crash_vouches_for_its_dead_tasks() {
    let db = test_database().await;
    // A fence far longer than the test: only the agent's word ends it.
    let (_coordinator, url) = coordinator(&db.url, "10m").await;
    let admin = admin_client(&url);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("stamps");
    let state = tempfile::tempdir().unwrap();
    let state_arg = state.path().display().to_string();
    let extra = ["--state-dir", state_arg.as_str()];
    let mut agent = spawn_agent_process(&url, &["a"], 1, &extra);
    let first_id = worker_named(&admin, &["a"]).await;
    let task = admin.submit(&stamping(&file, 5, &[])).await.unwrap();
    started(&file, 1).await;
    agent.sigkill();
    agent.wait_exit(Duration::from_secs(10)).await;
    // Declared dead, and fenced for ten minutes.
    wait_until(
        "the worker to be declared dead",
        Duration::from_secs(30),
        || async { admin.list_workers().await.ok()?.is_empty().then_some(()) },
    )
    .await;

    let _agent = spawn_agent_process(&url, &["a"], 1, &extra);
    let (_, attempts) = succeeded_one_at_a_time(&admin, task.id, &file).await;
    assert_eq!(attempts[0], (AttemptOutcome::Lost, first_id));
    assert_eq!(attempts[1].0, AttemptOutcome::Succeeded);
    assert_ne!(attempts[1].1, first_id, "a new registration ran it");
}

#[tokio::test]
async fn an_agent_stopped_past_its_grace_interrupts_its_task_which_runs_again() {
    let db = test_database().await;
    let (_coordinator, url) = coordinator(&db.url, "10m").await;
    let admin = admin_client(&url);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("stamps");
    let mut first = spawn_agent_process(&url, &["a"], 1, &["--shutdown-grace", "500ms"]);
    let first_id = worker_named(&admin, &["a"]).await;
    let task = admin.submit(&stamping(&file, 50, &[])).await.unwrap();
    started(&file, 1).await;
    first.sigterm();
    assert!(first.wait_exit(Duration::from_secs(30)).await.success());
    let interrupted = admin.task(task.id).await.unwrap();
    assert_eq!(interrupted.state, TaskState::Queued, "{interrupted:?}");

    let _second = spawn_agent_process(&url, &["b"], 1, &[]);
    let second_id = worker_named(&admin, &["b"]).await;
    let (_, attempts) = succeeded_one_at_a_time(&admin, task.id, &file).await;
    assert_eq!(
        attempts,
        [
            (AttemptOutcome::Interrupted, first_id),
            (AttemptOutcome::Succeeded, second_id)
        ]
    );
}

#[tokio::test]
async fn an_agent_restarted_before_it_is_missed_vouches_for_its_running_tasks() {
    let db = test_database().await;
    // Neither the heartbeat timeout nor the fence can pass during the test:
    // only the restarted agent's word frees the task.
    let (_coordinator, url) = spawn_coordinator_process(
        &db.url,
        &[
            "--heartbeat-interval",
            "1s",
            "--heartbeat-timeout",
            "5m",
            "--lost-attempt-fence",
            "10m",
        ],
    )
    .await;
    let admin = admin_client(&url);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("stamps");
    let state = tempfile::tempdir().unwrap();
    let state_arg = state.path().display().to_string();
    let extra = ["--state-dir", state_arg.as_str()];
    let mut agent = spawn_agent_process(&url, &["a"], 1, &extra);
    let first_id = worker_named(&admin, &["a"]).await;
    let task = admin.submit(&stamping(&file, 5, &[])).await.unwrap();
    started(&file, 1).await;
    agent.sigkill();
    agent.wait_exit(Duration::from_secs(10)).await;

    let _agent = spawn_agent_process(&url, &["a"], 1, &extra);
    let (_, attempts) = succeeded_one_at_a_time(&admin, task.id, &file).await;
    assert_eq!(attempts[0], (AttemptOutcome::Lost, first_id));
    assert_eq!(attempts[1].0, AttemptOutcome::Succeeded);
    let old = admin.worker(first_id).await.unwrap();
    assert_eq!(
        old.state,
        switchyard_protocol::WorkerState::Gone,
        "the earlier registration was retired"
    );
}
