//! End to end: the real `switchyard` command-line client against a real
//! coordinator and worker agent. Build the binaries first
//! (`cargo build --workspace --bins`, as `scripts/test` does).

use std::process::{ExitStatus, Output, Stdio};
use std::time::Duration;

use switchyard_protocol::{
    AttemptStarted, Client, FollowEvent, ListTasksQuery, OutputEnd, OutputStream, OutputText,
    QueueView, TaskId, TaskPage, TaskState, TaskView, WorkerView,
};
use switchyard_tests::{
    ADMIN_TOKEN, ChildProcess, TestDatabase, binary, spawn_agent_process,
    spawn_coordinator_process, test_database, wait_until,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

use crate::sim;

/// Longest any one `switchyard` run may take here.
const RUN_DEADLINE: Duration = Duration::from_secs(60);
/// Longest wait for a line of a followed task's output.
const LINE_DEADLINE: Duration = Duration::from_secs(30);

/// A coordinator and one agent, both real processes, and an admin client.
struct Fleet {
    _db: TestDatabase,
    _coordinator: ChildProcess,
    _agent: ChildProcess,
    url: String,
    client: Client,
}

/// Starts a fleet whose one agent has `tags` and 2 slots, and waits for the
/// agent to register.
async fn fleet(tags: &[&str]) -> Fleet {
    let db = test_database().await;
    let (coordinator, url) = spawn_coordinator_process(&db.url, &[]).await;
    let agent = spawn_agent_process(&url, tags, 2, &[]);
    let client = switchyard_tests::admin_client(&url);
    crate::e2e::registered(&client, 1).await;
    Fleet {
        _db: db,
        _coordinator: coordinator,
        _agent: agent,
        url,
        client,
    }
}

/// `switchyard` for the coordinator at `url` with `token`, its environment
/// free of the caller's Switchyard settings.
fn switchyard(url: &str, token: &str, args: &[&str]) -> Command {
    let mut command = Command::new(binary("switchyard"));
    command
        .args(args)
        .env("SWITCHYARD_URL", url)
        .env("SWITCHYARD_TOKEN", token)
        .env_remove("SWITCHYARD_TOKEN_FILE")
        .env_remove("SWITCHYARD_CA_FILE")
        .env_remove("XDG_CONFIG_HOME")
        .stdin(Stdio::null())
        .kill_on_drop(true);
    command
}

/// Runs `switchyard args` as the admin to its end.
async fn run(url: &str, args: &[&str]) -> Output {
    run_as(url, ADMIN_TOKEN, args).await
}

/// Runs `switchyard args` with `token` to its end.
async fn run_as(url: &str, token: &str, args: &[&str]) -> Output {
    let output = switchyard(url, token, args).output();
    tokio::time::timeout(RUN_DEADLINE, output)
        .await
        .unwrap_or_else(|_| panic!("switchyard {args:?} did not end within {RUN_DEADLINE:?}"))
        .expect("failed to run switchyard")
}

/// Starts `switchyard args` as the admin, its output piped.
fn start(url: &str, args: &[&str]) -> Child {
    switchyard(url, ADMIN_TOKEN, args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("failed to start switchyard")
}

/// Starts `switchyard args` as the admin, its stdout read line by line.
fn start_reading(url: &str, args: &[&str]) -> (Child, Lines<BufReader<ChildStdout>>) {
    let mut child = start(url, args);
    let stdout = child.stdout.take().expect("stdout is piped");
    (child, BufReader::new(stdout).lines())
}

/// Reads the next line of `child`'s stdout within `deadline` and checks it
/// is `expected`; otherwise stops the child and fails with its stderr.
async fn expect_line(
    child: &mut Child,
    lines: &mut Lines<BufReader<ChildStdout>>,
    expected: &str,
    deadline: Duration,
) {
    let line = tokio::time::timeout(deadline, lines.next_line()).await;
    let line = match line {
        Ok(Ok(Some(line))) if line == expected => return,
        Ok(Ok(line)) => format!("{line:?}"),
        Ok(Err(e)) => format!("an error ({e})"),
        Err(_) => format!("nothing within {deadline:?}"),
    };
    child.start_kill().expect("failed to stop switchyard");
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        pipe.read_to_string(&mut stderr)
            .await
            .expect("failed to read switchyard's stderr");
    }
    panic!("expected the line {expected:?} from switchyard, got {line}; its stderr:\n{stderr}");
}

/// The exit status of a child within the run deadline, and its stderr.
async fn finish(child: Child) -> Output {
    tokio::time::timeout(RUN_DEADLINE, child.wait_with_output())
        .await
        .expect("switchyard did not end in time")
        .expect("failed to wait for switchyard")
}

fn code(status: ExitStatus) -> i32 {
    status.code().expect("switchyard exited by itself")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Waits until task `id` runs.
async fn running(client: &Client, id: TaskId) {
    wait_until(
        &format!("task {id} to run"),
        Duration::from_secs(30),
        || async {
            let task = client.task(id).await.ok()?;
            (task.state == TaskState::Running).then_some(())
        },
    )
    .await;
}

/// The one task carrying `label`.
async fn labelled(client: &Client, label: &str) -> TaskView {
    let query = ListTasksQuery {
        label: Some(label.to_owned()),
        ..ListTasksQuery::default()
    };
    wait_until(
        &format!("the task labelled {label}"),
        Duration::from_secs(30),
        || async { client.list_tasks(&query).await.ok()?.tasks.pop() },
    )
    .await
}

#[tokio::test]
async fn submit_wait_exits_with_the_tasks_own_status() {
    let fleet = fleet(&["linux"]).await;
    let failed = run(
        &fleet.url,
        &[
            "submit",
            "--wait",
            "--tags",
            "linux",
            "--",
            "sh",
            "-c",
            "echo out; echo err >&2; exit 3",
        ],
    )
    .await;
    assert_eq!(code(failed.status), 3, "{failed:?}");
    assert_eq!(text(&failed.stdout), "out\n");
    assert!(text(&failed.stderr).contains("err\n"), "{failed:?}");

    let succeeded = run(&fleet.url, &["submit", "--wait", "--", "true"]).await;
    assert_eq!(code(succeeded.status), 0, "{succeeded:?}");

    let timed_out = run(
        &fleet.url,
        &["submit", "--wait", "--timeout", "1s", "--", "sleep", "30"],
    )
    .await;
    assert_eq!(code(timed_out.status), 124, "{timed_out:?}");

    let unstartable = run(&fleet.url, &["submit", "--wait", "--", "/no/such/program"]).await;
    assert_eq!(code(unstartable.status), 126, "{unstartable:?}");

    // --json prints the finished task alone.
    let json = run(
        &fleet.url,
        &["submit", "--json", "--wait", "--", "sh", "-c", "exit 4"],
    )
    .await;
    assert_eq!(code(json.status), 4, "{json:?}");
    let task: TaskView = serde_json::from_slice(&json.stdout).expect("a task as JSON");
    assert_eq!(task.state, TaskState::Failed);
}

#[tokio::test]
async fn get_and_list_print_the_apis_json() {
    let fleet = fleet(&[]).await;
    let submitted = run(
        &fleet.url,
        &[
            "--json",
            "submit",
            "--label",
            "cli-json",
            "--env",
            "GREETING=hi",
            "--",
            "echo",
            "hi",
        ],
    )
    .await;
    assert_eq!(code(submitted.status), 0, "{submitted:?}");
    let task: TaskView = serde_json::from_slice(&submitted.stdout).expect("a task as JSON");
    assert_eq!(task.argv, ["echo", "hi"]);
    assert_eq!(task.env.get("GREETING").map(String::as_str), Some("hi"));
    sim::finished(&fleet.client, task.id, Duration::from_secs(30)).await;

    let id = task.id.to_string();
    let got = run(&fleet.url, &["get", &id, "--json"]).await;
    assert_eq!(code(got.status), 0, "{got:?}");
    let got: TaskView = serde_json::from_slice(&got.stdout).expect("a task as JSON");
    assert_eq!((got.id, got.state), (task.id, TaskState::Succeeded));

    let listed = run(&fleet.url, &["list", "--json", "--label", "cli-json"]).await;
    assert_eq!(code(listed.status), 0, "{listed:?}");
    let page: TaskPage = serde_json::from_slice(&listed.stdout).expect("a page as JSON");
    assert_eq!(
        page.tasks.iter().map(|t| t.id).collect::<Vec<_>>(),
        [task.id]
    );

    // The people's versions.
    let human = run(&fleet.url, &["get", &id]).await;
    assert!(text(&human.stdout).contains("succeeded"), "{human:?}");
    let table = run(&fleet.url, &["list"]).await;
    let table = text(&table.stdout);
    assert!(table.starts_with("ID "), "{table}");
    assert!(
        table
            .lines()
            .any(|l| l.starts_with(&id) && l.contains("echo hi")),
        "{table}"
    );

    // Missing tasks say so, and exit 1; with --json the API's error goes to stderr.
    let missing = run(&fleet.url, &["get", "999999"]).await;
    assert_eq!(code(missing.status), 1);
    assert!(
        text(&missing.stderr).contains("no task 999999"),
        "{missing:?}"
    );
    let missing = run(&fleet.url, &["--json", "get", "999999"]).await;
    let body: switchyard_protocol::ErrorBody =
        serde_json::from_slice(&missing.stderr).expect("the API's error as JSON");
    assert_eq!(body.code, switchyard_protocol::ErrorCode::TaskNotFound);
}

#[tokio::test]
async fn cancel_stops_a_running_task_and_wait_reports_it() {
    let fleet = fleet(&[]).await;
    let task = fleet
        .client
        .submit(&sim::task(&["sleep", "60"], &[]))
        .await
        .unwrap();
    running(&fleet.client, task.id).await;
    let id = task.id.to_string();
    let waiter = start(&fleet.url, &["wait", &id]);

    let cancelled = run(&fleet.url, &["cancel", &id]).await;
    assert_eq!(code(cancelled.status), 0, "{cancelled:?}");
    assert!(
        text(&cancelled.stdout).contains(&format!("task {id}")),
        "{cancelled:?}"
    );

    let waited = finish(waiter).await;
    assert_eq!(code(waited.status), 125, "{waited:?}");
    assert_eq!(text(&waited.stdout), format!("task {id} cancelled\n"));
    let task = fleet.client.task(task.id).await.unwrap();
    assert_eq!(task.state, TaskState::Cancelled);

    // A wait that runs out exits 124.
    let queued = fleet
        .client
        .submit(&sim::task(&["true"], &["nobody-has-this"]))
        .await
        .unwrap();
    let gave_up = run(
        &fleet.url,
        &["wait", &queued.id.to_string(), "--timeout", "1s"],
    )
    .await;
    assert_eq!(code(gave_up.status), 124, "{gave_up:?}");
}

#[tokio::test]
async fn workers_shows_the_agent() {
    let fleet = fleet(&["linux", "gpu"]).await;
    let table = run(&fleet.url, &["workers"]).await;
    assert_eq!(code(table.status), 0, "{table:?}");
    let table = text(&table.stdout);
    let mut lines = table.lines();
    assert!(lines.next().unwrap().starts_with("ID  NAME"), "{table}");
    let row = lines.next().expect("one worker");
    assert!(
        row.contains("active") && row.contains("gpu") && row.contains("linux"),
        "{table}"
    );

    let json = run(&fleet.url, &["workers", "--json"]).await;
    let workers: Vec<WorkerView> = serde_json::from_slice(&json.stdout).expect("workers as JSON");
    assert_eq!(workers.len(), 1);
    let id = workers[0].id.to_string();
    let one = run(&fleet.url, &["worker", &id]).await;
    assert!(text(&one.stdout).contains("slots"), "{one:?}");

    let drained = run(&fleet.url, &["admin", "drain", &id]).await;
    assert_eq!(
        text(&drained.stdout),
        format!("worker {id} draining\n"),
        "{drained:?}"
    );
    let tagged = run(&fleet.url, &["admin", "tags", &id, "--set", "arm,eu"]).await;
    assert_eq!(code(tagged.status), 0, "{tagged:?}");
    let worker = fleet.client.worker(workers[0].id).await.unwrap();
    assert_eq!(worker.tags, ["arm", "eu"]);
}

#[tokio::test]
async fn issued_tokens_work_and_bad_ones_say_what_to_do() {
    let fleet = fleet(&[]).await;
    let issued = run(
        &fleet.url,
        &["admin", "principal", "create", "alice", "--role", "user"],
    )
    .await;
    assert_eq!(code(issued.status), 0, "{issued:?}");
    let token = text(&issued.stdout);
    let token = token.trim();
    assert!(
        !token.is_empty() && !token.contains(' '),
        "the token alone: {token}"
    );

    let me = run_as(&fleet.url, token, &["whoami"]).await;
    assert_eq!(text(&me.stdout), "alice (user)\n", "{me:?}");

    let refused = run_as(&fleet.url, "not-a-token-at-all-0123456789", &["workers"]).await;
    assert_eq!(code(refused.status), 1, "{refused:?}");
    assert!(
        text(&refused.stderr).contains("set SWITCHYARD_TOKEN"),
        "{refused:?}"
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let nobody = format!("http://127.0.0.1:{port}");
    let unreachable = run_as(&nobody, ADMIN_TOKEN, &["workers"]).await;
    assert_eq!(code(unreachable.status), 3, "{unreachable:?}");
    assert!(
        text(&unreachable.stderr).contains("cannot reach the coordinator"),
        "{unreachable:?}"
    );
}

// The tests below use routes the coordinator is gaining: following a
// task's output, and the queue view.

#[tokio::test]
async fn submit_follow_prints_output_while_the_task_runs() {
    let fleet = fleet(&[]).await;
    let (mut child, mut lines) = start_reading(
        &fleet.url,
        &[
            "submit",
            "--follow",
            "--label",
            "cli-follow",
            "--",
            "sh",
            "-c",
            "echo first; sleep 3; echo second",
        ],
    );
    expect_line(&mut child, &mut lines, "first", LINE_DEADLINE).await;
    let task = labelled(&fleet.client, "cli-follow").await;
    assert_eq!(
        task.state,
        TaskState::Running,
        "the output came before the end"
    );
    expect_line(&mut child, &mut lines, "second", LINE_DEADLINE).await;
    let output = finish(child).await;
    assert_eq!(code(output.status), 0, "{output:?}");
}

#[tokio::test]
async fn logs_follow_streams_a_running_task() {
    let fleet = fleet(&[]).await;
    let task = fleet
        .client
        .submit(&sim::task(
            &["sh", "-c", "echo first; sleep 3; echo second; exit 5"],
            &[],
        ))
        .await
        .unwrap();
    running(&fleet.client, task.id).await;
    let (mut child, mut lines) =
        start_reading(&fleet.url, &["logs", "--follow", &task.id.to_string()]);
    expect_line(&mut child, &mut lines, "first", LINE_DEADLINE).await;
    expect_line(&mut child, &mut lines, "second", LINE_DEADLINE).await;
    let output = finish(child).await;
    assert_eq!(code(output.status), 5, "{output:?}");
}

#[tokio::test]
async fn queue_says_when_no_worker_has_the_tags() {
    let fleet = fleet(&["linux"]).await;
    let task = fleet
        .client
        .submit(&sim::task(&["true"], &["no-such-tag"]))
        .await
        .unwrap();
    let id = task.id.to_string();
    let table = run(&fleet.url, &["queue"]).await;
    assert_eq!(code(table.status), 0, "{table:?}");
    let table = text(&table.stdout);
    let row = table
        .lines()
        .find(|line| line.split_whitespace().nth(1) == Some(id.as_str()))
        .unwrap_or_else(|| panic!("task {id} in the queue:\n{table}"));
    assert!(row.contains("no_matching_worker"), "{table}");
    assert!(table.ends_with("1 queued\n"), "{table}");

    let json = run(&fleet.url, &["queue", "--json"]).await;
    let queue: QueueView = serde_json::from_slice(&json.stdout).expect("the queue as JSON");
    assert_eq!(queue.total, 1);
}

/// Serves `GET .../output?follow=true` from a stand-in for the coordinator
/// on a free port: the n-th connection gets `streams[n]` as Server-Sent
/// Events, then the connection closes. Returns the base URL.
async fn stand_in_coordinator(streams: Vec<Vec<FollowEvent>>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        for events in streams {
            let (mut socket, _) = listener.accept().await.unwrap();
            let mut request = Vec::new();
            while !request.ends_with(b"\r\n\r\n") {
                let mut byte = [0_u8; 1];
                if socket.read_exact(&mut byte).await.is_err() {
                    break;
                }
                request.push(byte[0]);
            }
            let head = String::from_utf8_lossy(&request);
            assert!(
                head.starts_with("GET /api/v1/tasks/1/output?follow=true "),
                "{head}"
            );
            let mut body = String::from(
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n",
            );
            for event in events {
                body.push_str(&format!(
                    "event: {}\ndata: {}\n\n",
                    event.name(),
                    event.data()
                ));
            }
            socket.write_all(body.as_bytes()).await.unwrap();
            socket.shutdown().await.unwrap();
        }
    });
    url
}

#[tokio::test]
async fn a_broken_output_stream_is_followed_again_without_repeats() {
    let output = |stream, text: &str| {
        FollowEvent::Output(OutputText {
            attempt: 2,
            stream,
            text: text.to_owned(),
        })
    };
    // A retry's attempt: its start is noted once, however often followed.
    let attempt = FollowEvent::Attempt(AttemptStarted { attempt: 2 });
    let url = stand_in_coordinator(vec![
        // Breaks off in the middle of a line, without an end.
        vec![
            attempt.clone(),
            output(OutputStream::Stdout, "one\n"),
            output(OutputStream::Stderr, "warn\n"),
            output(OutputStream::Stdout, "tw"),
        ],
        // Following again replays the attempt's output from its start.
        vec![
            attempt,
            output(OutputStream::Stdout, "one\ntwo\n"),
            output(OutputStream::Stderr, "warn\n"),
            output(OutputStream::Stdout, "three\n"),
            FollowEvent::End(OutputEnd {
                state: TaskState::Failed,
                exit_code: Some(7),
                error: None,
            }),
        ],
    ])
    .await;
    let followed = run(&url, &["logs", "--follow", "1"]).await;
    assert_eq!(code(followed.status), 7, "{followed:?}");
    assert_eq!(text(&followed.stdout), "one\ntwo\nthree\n");
    let stderr = text(&followed.stderr);
    assert_eq!(stderr.matches("warn\n").count(), 1, "{stderr}");
    assert_eq!(stderr.matches("--- attempt 2 ---").count(), 1, "{stderr}");
    assert!(stderr.contains("broke off"), "{stderr}");
}
