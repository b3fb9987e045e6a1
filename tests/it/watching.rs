//! Watching tasks: waiting for a task's end (`?wait=`), reading and
//! following its output while it runs, retrying it, and the queue view.

use std::time::Duration;

use switchyard_protocol::{
    Client, CreatePrincipal, FollowEvent, OutputBatch, OutputChunk, OutputFollower, OutputStream,
    QueueQuery, ReportOutcome, Role, StatusCode, SubmitTask, TaskState, WaitReason,
};
use switchyard_tests::{
    AppOptions, spawn_agent_process, spawn_app, spawn_coordinator_process, test_database,
    wait_until,
};

use crate::sim::{self, SimWorker};

/// The next event of `follower`, within a deadline.
async fn next(follower: &mut OutputFollower) -> FollowEvent {
    tokio::time::timeout(Duration::from_secs(20), follower.next())
        .await
        .expect("an event within 20 s")
        .expect("a readable stream")
        .expect("the stream goes on")
}

fn chunk(
    task: switchyard_protocol::TaskId,
    attempt: i32,
    stream: OutputStream,
    offset: u64,
    text: &str,
) -> OutputChunk {
    OutputChunk {
        task_id: task,
        attempt,
        stream,
        offset,
        text: text.to_owned(),
    }
}

#[tokio::test]
async fn a_wait_answers_the_moment_the_task_ends() {
    let app = spawn_app(AppOptions::new()).await;
    let worker = SimWorker::register(&app.client, "w", &[], 1).await;
    let task = app.client.submit(&sim::task(&["true"], &[])).await.unwrap();

    // A short wait on an unfinished task answers it unfinished.
    let early = app
        .client
        .wait_task(task.id, Duration::from_millis(200))
        .await
        .unwrap();
    assert_eq!(early.state, TaskState::Queued);

    // A long one answers as soon as the report is recorded: far sooner than
    // its minute.
    let waiting = tokio::spawn({
        let client = app.client.clone();
        async move { client.wait_task(task.id, Duration::from_secs(60)).await }
    });
    let assignment = worker.fetch(1, 5.0).await.remove(0);
    worker
        .report(&assignment, ReportOutcome::Succeeded, Some(0))
        .await;
    let ended = tokio::time::timeout(Duration::from_secs(20), waiting)
        .await
        .expect("woken by the end, not by the minute passing")
        .unwrap()
        .unwrap();
    assert_eq!(ended.state, TaskState::Succeeded);

    // A finished task answers at once; a wait that is not one is refused.
    let done = app
        .client
        .wait_task(task.id, Duration::from_secs(60))
        .await
        .unwrap();
    assert_eq!(done.state, TaskState::Succeeded);
    for bad in ["soon", "2m", "-1"] {
        let response = switchyard_tests::http_client()
            .get(app.url(&format!("/api/v1/tasks/{}?wait={bad}", task.id)))
            .bearer_auth(switchyard_tests::ADMIN_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::UNPROCESSABLE_ENTITY, "{bad}");
        let body: serde_json::Value = response.json().await.unwrap();
        assert_eq!(body["field"], "wait", "{body}");
    }
}

#[tokio::test]
async fn followers_get_the_output_as_it_is_sent_then_the_end() {
    let app = spawn_app(AppOptions::new()).await;
    let worker = SimWorker::register(&app.client, "w", &[], 1).await;
    let other = SimWorker::register(&app.client, "other", &[], 1).await;
    let task = app
        .client
        .submit(&sim::task(&["sh", "-c", "long job"], &[]))
        .await
        .unwrap();
    let mut follower = app.client.follow_output(task.id).await.unwrap();
    let assignment = worker.fetch(1, 5.0).await.remove(0);
    assert!(matches!(next(&mut follower).await, FollowEvent::Attempt(a) if a.attempt == 1));

    let sent = worker
        .client
        .send_output(
            worker.id,
            &OutputBatch {
                chunks: vec![
                    chunk(task.id, 1, OutputStream::Stdout, 0, "first\n"),
                    chunk(task.id, 1, OutputStream::Stderr, 0, "warning\n"),
                ],
            },
        )
        .await
        .unwrap();
    assert!(sent.refused.is_empty());
    let FollowEvent::Output(first) = next(&mut follower).await else {
        panic!("output first");
    };
    assert_eq!(
        (first.stream, first.text.as_str()),
        (OutputStream::Stdout, "first\n")
    );
    let FollowEvent::Output(warning) = next(&mut follower).await else {
        panic!("then stderr");
    };
    assert_eq!(
        (warning.stream, warning.text.as_str()),
        (OutputStream::Stderr, "warning\n")
    );

    // The output so far, read while it runs.
    let live = app.client.output(task.id).await.unwrap();
    assert!(live.live);
    assert_eq!(
        (live.stdout.as_str(), live.stderr.as_str()),
        ("first\n", "warning\n")
    );

    // A worker that does not run the attempt cannot write into it.
    let refused = other
        .client
        .send_output(
            other.id,
            &OutputBatch {
                chunks: vec![chunk(task.id, 1, OutputStream::Stdout, 6, "forged\n")],
            },
        )
        .await
        .unwrap();
    assert_eq!(refused.refused, vec![task.id]);

    // A second follower joining late gets what is held, then what comes.
    let mut late = app.client.follow_output(task.id).await.unwrap();
    assert!(matches!(next(&mut late).await, FollowEvent::Attempt(_)));
    worker
        .client
        .send_output(
            worker.id,
            &OutputBatch {
                chunks: vec![chunk(task.id, 1, OutputStream::Stdout, 6, "second\n")],
            },
        )
        .await
        .unwrap();
    let FollowEvent::Output(second) = next(&mut follower).await else {
        panic!("more output");
    };
    assert_eq!(second.text, "second\n");
    let mut late_text = String::new();
    while late_text.len() < "first\nwarning\nsecond\n".len() {
        match next(&mut late).await {
            FollowEvent::Output(o) => late_text.push_str(&o.text),
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(late_text, "first\nwarning\nsecond\n");

    let mut report = sim::report(&assignment, ReportOutcome::Failed, Some(2));
    report.stdout = "first\nsecond\n".to_owned();
    worker.client.report(worker.id, &report).await.unwrap();
    for follower in [&mut follower, &mut late] {
        let FollowEvent::End(end) = next(follower).await else {
            panic!("the end");
        };
        assert_eq!((end.state, end.exit_code), (TaskState::Failed, Some(2)));
        assert!(follower.next().await.unwrap().is_none(), "the stream ends");
    }

    // Finished: the kept tail, and a stream of it and the end.
    let kept = app.client.output(task.id).await.unwrap();
    assert!(!kept.live);
    assert_eq!(kept.stdout, "first\nsecond\n");
    let mut after = app.client.follow_output(task.id).await.unwrap();
    assert!(
        matches!(next(&mut after).await, FollowEvent::Output(o) if o.text == "first\nsecond\n")
    );
    assert!(matches!(next(&mut after).await, FollowEvent::End(_)));
}

#[tokio::test]
async fn only_the_tasks_owner_reads_or_follows_its_output() {
    let app = spawn_app(AppOptions::new()).await;
    let mut users = Vec::new();
    for name in ["ann", "bob"] {
        let issued = app
            .client
            .admin_create_principal(&CreatePrincipal {
                name: name.into(),
                role: Role::User,
            })
            .await
            .unwrap();
        users.push(Client::new(&app.base_url).unwrap().with_token(issued.token));
    }
    let task = users[0].submit(&sim::task(&["true"], &[])).await.unwrap();
    assert!(users[0].output(task.id).await.is_ok());
    for error in [
        users[1].output(task.id).await.unwrap_err(),
        users[1].follow_output(task.id).await.unwrap_err(),
        users[1]
            .wait_task(task.id, Duration::from_secs(1))
            .await
            .unwrap_err(),
        users[1].retry(task.id).await.unwrap_err(),
    ] {
        assert_eq!(error.status(), Some(StatusCode::NOT_FOUND), "{error}");
    }
    // Nor can a user pass for a worker.
    let refused = users[0]
        .send_output(
            switchyard_protocol::WorkerId(1),
            &OutputBatch {
                chunks: vec![chunk(task.id, 1, OutputStream::Stdout, 0, "x")],
            },
        )
        .await
        .unwrap_err();
    assert_eq!(refused.status(), Some(StatusCode::FORBIDDEN));
}

#[tokio::test]
async fn a_finished_task_retried_runs_once_more() {
    let app = spawn_app(AppOptions::new()).await;
    let worker = SimWorker::register(&app.client, "w", &[], 1).await;
    let task = app
        .client
        .submit(&sim::task(&["flaky"], &[]))
        .await
        .unwrap();

    let conflict = app.client.retry(task.id).await.unwrap_err();
    assert_eq!(
        conflict.status(),
        Some(StatusCode::CONFLICT),
        "a queued task"
    );

    let first = worker.fetch(1, 5.0).await.remove(0);
    let running = app.client.retry(task.id).await.unwrap_err();
    assert_eq!(
        running.code(),
        Some(switchyard_protocol::ErrorCode::InvalidStateTransition),
        "a running task: {running}"
    );
    let failed = worker.report(&first, ReportOutcome::Failed, Some(1)).await;
    assert_eq!(failed.state, TaskState::Failed);

    let retried = app.client.retry(task.id).await.unwrap();
    assert_eq!(retried.state, TaskState::Queued);
    assert_eq!((retried.attempts, retried.max_attempts), (1, 2));
    assert_eq!(
        retried.output.and_then(|o| o.exit_code),
        Some(1),
        "the last attempt's output stays until the next ends"
    );
    let second = worker.fetch(1, 5.0).await.remove(0);
    assert_eq!((second.task_id, second.attempt), (task.id, 2));
    let done = worker
        .report(&second, ReportOutcome::Succeeded, Some(0))
        .await;
    assert_eq!(done.state, TaskState::Succeeded);
    let attempts = app.client.attempts(task.id).await.unwrap();
    assert_eq!(attempts.len(), 2);
}

#[tokio::test]
async fn the_queue_shows_waiting_tasks_in_dispatch_order_and_why_they_wait() {
    let app = spawn_app(AppOptions::new()).await;
    let _worker = SimWorker::register(&app.client, "w", &["linux"], 1).await;
    let low = app
        .client
        .submit(&SubmitTask {
            priority: Some(2),
            ..sim::task(&["true"], &["linux"])
        })
        .await
        .unwrap();
    let high = app
        .client
        .submit(&SubmitTask {
            priority: Some(8),
            ..sim::task(&["true"], &["linux"])
        })
        .await
        .unwrap();
    let gpu = app
        .client
        .submit(&sim::task(&["true"], &["gpu"]))
        .await
        .unwrap();
    let queue = app.client.queue(&QueueQuery::default()).await.unwrap();
    let order: Vec<_> = queue.tasks.iter().map(|t| t.id).collect();
    assert_eq!(order, [high.id, gpu.id, low.id]);
    assert_eq!(queue.total, 3);
    let reasons: Vec<_> = queue.tasks.iter().map(|t| t.waiting).collect();
    assert_eq!(
        reasons,
        [
            Some(WaitReason::WaitingForSlot),
            Some(WaitReason::NoMatchingWorker),
            Some(WaitReason::WaitingForSlot)
        ]
    );
    assert_eq!(queue.tasks[0].queue_position, Some(0));
    assert_eq!(queue.tasks[2].queue_position, Some(1));
    let only_gpu = app
        .client
        .queue(&QueueQuery {
            tag: Some("gpu".into()),
            limit: Some(10),
        })
        .await
        .unwrap();
    assert_eq!(only_gpu.tasks.len(), 1);
    assert_eq!(only_gpu.total, 1);
}

#[tokio::test]
async fn a_real_agent_streams_output_while_its_task_runs() {
    let db = test_database().await;
    let (_coordinator, url) = spawn_coordinator_process(&db.url, &[]).await;
    let _agent = spawn_agent_process(&url, &[], 1, &[]);
    let client = switchyard_tests::admin_client(&url);
    let gate = tempfile::tempdir().unwrap();
    let release = gate.path().join("go");
    let script = format!(
        "echo first; while [ ! -e {} ]; do sleep 0.05; done; echo second >&2; exit 4",
        release.display()
    );
    let task = client
        .submit(&sim::task(&["sh", "-c", &script], &[]))
        .await
        .unwrap();
    let mut follower = client.follow_output(task.id).await.unwrap();
    let mut first = String::new();
    while first.is_empty() {
        match next(&mut follower).await {
            FollowEvent::Output(o) => first = o.text,
            FollowEvent::Attempt(_) => {}
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(first, "first\n");
    assert_eq!(
        client.task(task.id).await.unwrap().state,
        TaskState::Running,
        "the first line came while the task ran"
    );
    std::fs::write(&release, b"").unwrap();
    let FollowEvent::Output(second) = next(&mut follower).await else {
        panic!("the second line");
    };
    assert_eq!(
        (second.stream, second.text.as_str()),
        (OutputStream::Stderr, "second\n")
    );
    let FollowEvent::End(end) = next(&mut follower).await else {
        panic!("the end");
    };
    assert_eq!((end.state, end.exit_code), (TaskState::Failed, Some(4)));
    let done = wait_until(
        "the task to be recorded",
        Duration::from_secs(20),
        || async {
            let task = client
                .wait_task(task.id, Duration::from_secs(5))
                .await
                .ok()?;
            task.state.is_final().then_some(task)
        },
    )
    .await;
    assert_eq!(done.output.unwrap().stderr, "second\n");
}

#[tokio::test]
async fn a_reader_reconnecting_with_its_last_event_id_resumes_after_it() {
    let app = spawn_app(AppOptions::new()).await;
    let worker = SimWorker::register(&app.client, "w", &[], 1).await;
    let task = app.client.submit(&sim::task(&["x"], &[])).await.unwrap();
    let assignment = worker.fetch(1, 5.0).await.remove(0);
    worker
        .client
        .send_output(
            worker.id,
            &OutputBatch {
                chunks: vec![
                    chunk(
                        task.id,
                        assignment.attempt,
                        OutputStream::Stdout,
                        0,
                        "seen\n",
                    ),
                    chunk(
                        task.id,
                        assignment.attempt,
                        OutputStream::Stdout,
                        5,
                        "new\n",
                    ),
                ],
            },
        )
        .await
        .unwrap();
    // A browser that received "seen\n" (position 5 of attempt 1) reconnects.
    let mut response = switchyard_tests::http_client()
        .get(app.url(&format!("/api/v1/tasks/{}/output?follow=true", task.id)))
        .bearer_auth(switchyard_tests::ADMIN_TOKEN)
        .header("last-event-id", "1.5")
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.headers()["content-type"],
        "text/event-stream",
        "{response:?}"
    );
    let mut received = String::new();
    while !received.contains("new\\n") {
        let bytes = tokio::time::timeout(Duration::from_secs(20), response.chunk())
            .await
            .expect("the rest within 20 s")
            .unwrap()
            .expect("the stream goes on");
        received.push_str(&String::from_utf8_lossy(&bytes));
    }
    assert!(!received.contains("seen"), "{received}");
    assert!(!received.contains("event: attempt"), "{received}");
    assert!(received.contains("id: 1.9\n"), "{received}");
}
