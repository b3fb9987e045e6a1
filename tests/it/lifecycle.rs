//! The life of a task: retries, timeouts on both sides, cancellation,
//! changes, batches, idempotency, the queue limit and drains.

use std::time::Duration;

use reqwest::StatusCode;
use switchyard_protocol::{
    AttemptOutcome, ErrorCode, FetchRequest, HeartbeatRequest, ListTasksQuery, ReportOutcome,
    SubmitTask, TaskState, TaskView, UpdateTask, WaitReason, WorkerState,
};
use switchyard_tests::{AppOptions, TestApp, spawn_agent_process, spawn_app, wait_until};

use crate::admin;
use crate::sim::{self, SimWorker};

/// Every task (up to 500), newest first.
async fn all_tasks(app: &TestApp) -> Vec<TaskView> {
    app.client
        .list_tasks(&ListTasksQuery {
            limit: Some(500),
            ..Default::default()
        })
        .await
        .unwrap()
        .tasks
}

async fn count(app: &TestApp) -> usize {
    all_tasks(app).await.len()
}

#[tokio::test]
async fn a_task_that_fails_twice_then_succeeds_has_three_attempts_with_back_off() {
    let app = spawn_app(AppOptions::new().flag("--retry-backoff", "300ms")).await;
    let _agent = spawn_agent_process(&app.base_url, &[], 1, &[]);
    let dir = tempfile::tempdir().unwrap();
    let counter = dir.path().join("runs");
    // Appends a line per run; exits 1 on the first two runs, 0 on the third.
    let script = format!(
        "echo run >> {c}; test $(wc -l < {c}) -ge 3",
        c = counter.display()
    );
    let task = app
        .client
        .submit(&SubmitTask {
            max_attempts: Some(3),
            ..sim::task(&["sh", "-c", &script], &[])
        })
        .await
        .unwrap();
    let done = sim::finished(&app.client, task.id, Duration::from_secs(60)).await;
    assert_eq!(done.state, TaskState::Succeeded, "{done:?}");
    assert_eq!(done.attempts, 3);

    let attempts = app.client.attempts(task.id).await.unwrap();
    let outcomes: Vec<_> = attempts.iter().map(|a| a.outcome).collect();
    assert_eq!(
        outcomes,
        [
            Some(AttemptOutcome::Failed),
            Some(AttemptOutcome::Failed),
            Some(AttemptOutcome::Succeeded)
        ]
    );
    assert_eq!(attempts[0].exit_code, Some(1));
    // The back-off doubles: at least 300 ms, then at least 600 ms.
    for (i, minimum) in [(1, 300), (2, 600)] {
        let gap = attempts[i].started_at - attempts[i - 1].finished_at.unwrap();
        assert!(
            gap >= chrono::Duration::milliseconds(minimum),
            "attempt {} started {gap} after the previous one ended",
            i + 1
        );
    }
    assert_eq!(
        std::fs::read_to_string(&counter).unwrap().lines().count(),
        3
    );
}

#[tokio::test]
async fn the_coordinator_times_out_a_task_whose_agent_never_reports() {
    let app = spawn_app(
        AppOptions::new()
            .heartbeat("200ms", "30s")
            .flag("--timeout-grace", "500ms"),
    )
    .await;
    let hung = SimWorker::register(&app.client, "hung", &[], 1).await;
    let task = app
        .client
        .submit(&SubmitTask {
            timeout_secs: Some(1),
            ..sim::task(&["sleep", "60"], &[])
        })
        .await
        .unwrap();
    let assignment = hung.fetch(1, 5.0).await.remove(0);
    let done = sim::finished(&app.client, task.id, Duration::from_secs(30)).await;
    assert_eq!(done.state, TaskState::TimedOut, "{done:?}");
    assert!(done.error.unwrap().contains("presumed hung"));
    let attempts = app.client.attempts(task.id).await.unwrap();
    assert_eq!(attempts[0].outcome, Some(AttemptOutcome::TimedOut));

    // The hung agent, if it wakes up, is told to stop, and its report is refused.
    let beat = app
        .client
        .heartbeat(
            hung.id,
            &HeartbeatRequest {
                running: Some(vec![task.id]),
            },
        )
        .await
        .unwrap();
    assert_eq!(beat.cancel, vec![task.id]);
    let late = app
        .client
        .report(
            hung.id,
            &sim::report(&assignment, ReportOutcome::Succeeded, Some(0)),
        )
        .await
        .unwrap_err();
    assert_eq!(late.code(), Some(ErrorCode::TaskNotAssigned));
}

#[tokio::test]
async fn the_agent_kills_a_task_at_its_timeout() {
    let app = spawn_app(AppOptions::new()).await;
    let _agent = spawn_agent_process(&app.base_url, &[], 1, &[]);
    let task = app
        .client
        .submit(&SubmitTask {
            timeout_secs: Some(1),
            ..sim::task(&["sleep", "60"], &[])
        })
        .await
        .unwrap();
    let done = sim::finished(&app.client, task.id, Duration::from_secs(30)).await;
    assert_eq!(done.state, TaskState::TimedOut);
    let ran = done.finished_at.unwrap() - done.started_at.unwrap();
    assert!(ran < chrono::Duration::seconds(10), "ran {ran}");
}

#[tokio::test]
async fn cancelling_a_queued_task_takes_it_out_of_every_queue_at_once() {
    let app = spawn_app(admin::options("fanout")).await;
    let a = SimWorker::register(&app.client, "a", &["linux"], 1).await;
    let _b = SimWorker::register(&app.client, "b", &["linux"], 1).await;
    let task = app
        .client
        .submit(&sim::task(&["true"], &["linux"]))
        .await
        .unwrap();
    assert_eq!(admin::holders(&app, task.id).await.len(), 2);
    let cancelled = app.client.cancel(task.id).await.unwrap();
    assert_eq!(cancelled.state, TaskState::Cancelled);
    assert!(admin::holders(&app, task.id).await.is_empty());
    assert!(a.fetch(1, 0.0).await.is_empty());
    // Cancelling again answers the same; a finished task cannot be cancelled.
    assert_eq!(
        app.client.cancel(task.id).await.unwrap().state,
        TaskState::Cancelled
    );
    let other = app
        .client
        .submit(&sim::task(&["true"], &["linux"]))
        .await
        .unwrap();
    let got = a.fetch(1, 1.0).await.remove(0);
    a.report(&got, ReportOutcome::Succeeded, Some(0)).await;
    let refused = app.client.cancel(other.id).await.unwrap_err();
    assert_eq!(refused.status(), Some(StatusCode::CONFLICT));
    assert_eq!(refused.code(), Some(ErrorCode::InvalidStateTransition));
}

#[tokio::test]
async fn cancelling_100_running_tasks_on_4_agents_kills_every_process() {
    const TASKS: usize = 100;
    let app = spawn_app(AppOptions::new().heartbeat("500ms", "10s")).await;
    let _agents: Vec<_> = (0..4)
        .map(|_| spawn_agent_process(&app.base_url, &[], 25, &[]))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let mut ids = Vec::new();
    for i in 0..TASKS {
        let script = format!("echo $$ > {}/{i}.pid; exec sleep 600", dir.path().display());
        ids.push(
            app.client
                .submit(&sim::task(&["sh", "-c", &script], &[]))
                .await
                .unwrap()
                .id,
        );
    }
    let pids: Vec<i32> = wait_until("all 100 tasks to run", Duration::from_secs(60), || async {
        let running = app
            .client
            .list_tasks(&ListTasksQuery {
                state: Some(TaskState::Running),
                limit: Some(500),
                ..Default::default()
            })
            .await
            .ok()?;
        if running.tasks.len() < TASKS {
            return None;
        }
        (0..TASKS)
            .map(|i| {
                let text = std::fs::read_to_string(dir.path().join(format!("{i}.pid"))).ok()?;
                text.trim().parse().ok()
            })
            .collect()
    })
    .await;
    let workers: std::collections::HashSet<_> =
        all_tasks(&app).await.iter().map(|t| t.worker_id).collect();
    assert_eq!(workers.len(), 4, "spread over the four agents");

    for id in &ids {
        let view = app.client.cancel(*id).await.unwrap();
        assert!(view.cancel_requested);
    }
    wait_until(
        "all 100 tasks to end cancelled",
        Duration::from_secs(30),
        || async {
            for id in &ids {
                let task = app.client.task(*id).await.ok()?;
                if task.state != TaskState::Cancelled {
                    assert!(
                        !task.state.is_final(),
                        "ended {:?}, not cancelled",
                        task.state
                    );
                    return None;
                }
            }
            Some(())
        },
    )
    .await;
    wait_until(
        "every task process to be gone",
        Duration::from_secs(10),
        || async {
            pids.iter()
                .all(|pid| switchyard_tests::process_is_gone(*pid))
        },
    )
    .await;
    let attempts = app.client.attempts(ids[0]).await.unwrap();
    assert_eq!(attempts[0].outcome, Some(AttemptOutcome::Cancelled));
}

#[tokio::test]
async fn changing_a_queued_task_redispatches_it() {
    let app = spawn_app(admin::options("balanced")).await;
    let linux = SimWorker::register(&app.client, "linux", &["linux"], 1).await;
    let task = app
        .client
        .submit(&sim::task(&["true"], &["gpu"]))
        .await
        .unwrap();
    assert_eq!(task.waiting, Some(WaitReason::NoMatchingWorker));
    let changed = app
        .client
        .update_task(
            task.id,
            &UpdateTask {
                tags: Some(vec!["linux".into()]),
                priority: Some(8),
            },
        )
        .await
        .unwrap();
    assert_eq!(changed.tags, ["linux"]);
    assert_eq!(changed.priority, 8);
    assert_eq!(changed.waiting, Some(WaitReason::WaitingForSlot));
    let got = linux.fetch(1, 2.0).await;
    assert_eq!(got[0].task_id, task.id);

    // A running task cannot be changed.
    let refused = app
        .client
        .update_task(
            task.id,
            &UpdateTask {
                priority: Some(1),
                tags: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some(ErrorCode::InvalidStateTransition));
    let queued = app
        .client
        .submit(&sim::task(&["true"], &["mac"]))
        .await
        .unwrap();
    let invalid = app
        .client
        .update_task(
            queued.id,
            &UpdateTask {
                priority: Some(42),
                tags: None,
            },
        )
        .await
        .unwrap_err();
    assert_eq!(invalid.code(), Some(ErrorCode::ValidationFailed));
}

#[tokio::test]
async fn raising_a_priority_moves_the_task_ahead() {
    let app = spawn_app(AppOptions::new()).await;
    let first = app.client.submit(&sim::task(&["true"], &[])).await.unwrap();
    let second = app.client.submit(&sim::task(&["true"], &[])).await.unwrap();
    app.client
        .update_task(
            second.id,
            &UpdateTask {
                priority: Some(9),
                tags: None,
            },
        )
        .await
        .unwrap();
    let worker = SimWorker::register(&app.client, "w", &[], 1).await;
    let got = worker.fetch(1, 2.0).await;
    assert_eq!(got[0].task_id, second.id);
    worker
        .report(&got[0], ReportOutcome::Succeeded, Some(0))
        .await;
    assert_eq!(worker.fetch(1, 2.0).await[0].task_id, first.id);
}

#[tokio::test]
async fn a_batch_of_1000_is_stored_whole_or_not_at_all() {
    let app = spawn_app(AppOptions::new()).await;
    let tasks: Vec<SubmitTask> = (0..1000)
        .map(|i| SubmitTask {
            labels: vec![format!("n{i}")],
            ..sim::task(&["echo", &i.to_string()], &[])
        })
        .collect();
    let stored = app.client.submit_batch(&tasks).await.unwrap();
    assert_eq!(stored.tasks.len(), 1000);
    for (i, task) in stored.tasks.iter().enumerate() {
        assert_eq!(
            task.argv[1],
            i.to_string(),
            "answers come in submission order"
        );
        assert_eq!(task.state, TaskState::Queued);
    }
    assert!(stored.tasks.windows(2).all(|w| w[0].id < w[1].id));

    let fresh = spawn_app(AppOptions::new()).await;
    let mut bad = tasks.clone();
    bad[500].tags = vec![String::new()];
    let refused = fresh.client.submit_batch(&bad).await.unwrap_err();
    assert_eq!(refused.code(), Some(ErrorCode::ValidationFailed));
    match refused {
        switchyard_protocol::ClientError::Api { body, .. } => {
            assert_eq!(body.field.as_deref(), Some("tasks[500].tags[0]"));
        }
        other => panic!("{other:?}"),
    }
    let too_many: Vec<SubmitTask> = (0..1001).map(|_| sim::task(&["true"], &[])).collect();
    let refused = fresh.client.submit_batch(&too_many).await.unwrap_err();
    assert_eq!(refused.code(), Some(ErrorCode::ValidationFailed));
    assert_eq!(count(&fresh).await, 0, "a refused batch writes nothing");
}

#[tokio::test]
async fn an_idempotency_key_returns_the_existing_task() {
    let app = spawn_app(AppOptions::new()).await;
    let task = SubmitTask {
        idempotency_key: Some("build-42".into()),
        ..sim::task(&["make", "all"], &["linux"])
    };
    let first = app
        .http
        .post(app.url("/api/v1/tasks"))
        .json(&task)
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), StatusCode::CREATED);
    let first: TaskView = first.json().await.unwrap();
    let again = app
        .http
        .post(app.url("/api/v1/tasks"))
        .json(&task)
        .send()
        .await
        .unwrap();
    assert_eq!(
        again.status(),
        StatusCode::OK,
        "a retry finds the first task"
    );
    let again: TaskView = again.json().await.unwrap();
    assert_eq!(again.id, first.id);

    let different = SubmitTask {
        argv: vec!["make".into(), "clean".into()],
        ..task.clone()
    };
    let conflict = app.client.submit(&different).await.unwrap_err();
    assert_eq!(conflict.status(), Some(StatusCode::CONFLICT));
    assert_eq!(conflict.code(), Some(ErrorCode::TaskExists));
    // In a batch too, and a key repeated inside one batch names one task.
    let batch = app
        .client
        .submit_batch(&[task.clone(), task.clone()])
        .await
        .unwrap();
    assert!(batch.tasks.iter().all(|t| t.id == first.id));
    assert_eq!(count(&app).await, 1);
    // A batch with a clashing key stores nothing at all.
    let clash = app
        .client
        .submit_batch(&[sim::task(&["echo", "new"], &[]), different])
        .await
        .unwrap_err();
    assert_eq!(clash.code(), Some(ErrorCode::TaskExists));
    assert_eq!(count(&app).await, 1);
}

/// What identifies a task's terms, as an answer shows them.
fn terms(task: &TaskView) -> impl PartialEq + std::fmt::Debug + use<> {
    (
        task.id,
        task.state,
        task.argv.clone(),
        task.env.clone(),
        task.working_dir.clone(),
        task.tags.clone(),
        task.labels.clone(),
        (task.priority, task.timeout_secs, task.max_attempts),
        task.idempotency_key.clone(),
        task.created_at,
    )
}

#[tokio::test]
async fn a_batch_stores_every_field_of_every_task_in_order() {
    let app = spawn_app(AppOptions::new()).await;
    let earlier = app
        .client
        .submit(&SubmitTask {
            idempotency_key: Some("kept".into()),
            ..sim::task(&["echo", "earlier"], &[])
        })
        .await
        .unwrap();
    // Argv, tags and labels of different lengths (none too), keyed and
    // unkeyed tasks mixed, one key used before: each field must land on
    // its own task.
    let batch: Vec<SubmitTask> = vec![
        SubmitTask {
            env: [
                ("A".to_owned(), "1".to_owned()),
                ("B".to_owned(), "two words".to_owned()),
            ]
            .into(),
            working_dir: Some("/tmp".into()),
            labels: vec!["nightly".into()],
            priority: Some(7),
            timeout_secs: Some(90),
            max_attempts: Some(3),
            ..sim::task(&["sh", "-c", "exit 0"], &["gpu", "linux"])
        },
        SubmitTask {
            idempotency_key: Some("new".into()),
            ..sim::task(&["true"], &[])
        },
        SubmitTask {
            idempotency_key: Some("kept".into()),
            ..sim::task(&["echo", "earlier"], &[])
        },
        SubmitTask {
            labels: vec!["a".into(), "b".into()],
            ..sim::task(&["ls", "-l", "/", "/tmp"], &["linux"])
        },
        // What an array's text form treats specially, as arguments.
        sim::task(
            &[
                "printf",
                "\"quoted\" and \\back\\slashed",
                "{braces,commas}",
                "",
                "NULL",
                " spaced ",
                "tab\there\nnewline",
                "\\",
                "\"",
                "ünïcødé",
            ],
            &[],
        ),
    ];
    let answer = app.client.submit_batch(&batch).await.unwrap();
    assert_eq!(answer.tasks.len(), batch.len());
    assert_eq!(
        answer.tasks[2].id, earlier.id,
        "a used key names the earlier task"
    );
    for (sent, got) in batch.iter().zip(&answer.tasks) {
        assert_eq!(got.argv, sent.argv);
        assert_eq!(got.env, sent.env);
        assert_eq!(got.working_dir, sent.working_dir);
        assert_eq!(got.tags, sent.tags);
        assert_eq!(got.labels, sent.labels);
        assert_eq!(got.priority, sent.priority.unwrap_or(5));
        assert_eq!(got.max_attempts, sent.max_attempts.unwrap_or(1));
        assert_eq!(got.idempotency_key, sent.idempotency_key);
        assert_eq!(got.state, TaskState::Queued);
    }
    assert_eq!(answer.tasks[0].timeout_secs, 90);
    let new_ids: Vec<_> = [0, 1, 3, 4].iter().map(|&i| answer.tasks[i].id).collect();
    assert!(
        new_ids.is_sorted(),
        "ids are taken in the batch's order: {new_ids:?}"
    );
    // The answer is what the database now holds, field for field.
    for got in &answer.tasks {
        let stored = app.client.task(got.id).await.unwrap();
        assert_eq!(terms(&stored), terms(got));
    }
    assert_eq!(count(&app).await, 5);
}

#[tokio::test]
async fn beyond_the_queue_limit_submissions_answer_queue_full() {
    let app = spawn_app(AppOptions::new().flag("--max-queued-tasks", "5")).await;
    for _ in 0..4 {
        app.client.submit(&sim::task(&["true"], &[])).await.unwrap();
    }
    let batch = vec![sim::task(&["true"], &[]); 2];
    let refused = app.client.submit_batch(&batch).await.unwrap_err();
    assert_eq!(refused.status(), Some(StatusCode::TOO_MANY_REQUESTS));
    assert_eq!(refused.code(), Some(ErrorCode::QueueFull));
    app.client.submit(&sim::task(&["true"], &[])).await.unwrap();
    let refused = app
        .client
        .submit(&sim::task(&["true"], &[]))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Some(ErrorCode::QueueFull));
    assert_eq!(count(&app).await, 5, "refused submissions wrote nothing");

    // Work leaving the queue makes room again.
    let worker = SimWorker::register(&app.client, "w", &[], 1).await;
    let got = worker.fetch(1, 1.0).await;
    assert_eq!(got.len(), 1);
    app.client.submit(&sim::task(&["true"], &[])).await.unwrap();
}

#[tokio::test]
async fn a_draining_worker_finishes_its_work_but_gets_no_more() {
    let app = spawn_app(admin::options("balanced")).await;
    let admin_client = app.client.clone().with_token(admin::TOKEN);
    let draining = SimWorker::register(&app.client, "draining", &["linux"], 1).await;
    let running = app
        .client
        .submit(&sim::task(&["true"], &["linux"]))
        .await
        .unwrap();
    let got = draining.fetch(1, 1.0).await.remove(0);
    assert_eq!(got.task_id, running.id);
    for _ in 0..10 {
        app.client
            .submit(&sim::task(&["true"], &["linux"]))
            .await
            .unwrap();
    }
    let other = SimWorker::register(&app.client, "other", &["linux"], 1).await;
    let view = admin_client.admin_drain(draining.id, true).await.unwrap();
    assert_eq!(view.state, WorkerState::Draining);
    assert_eq!(view.queued, 0, "its queue went elsewhere");

    let done = draining
        .report(&got, ReportOutcome::Succeeded, Some(0))
        .await;
    assert_eq!(done.state, TaskState::Succeeded, "it finishes what it runs");
    let none = app
        .client
        .fetch(
            draining.id,
            &FetchRequest {
                max_tasks: 1,
                wait_secs: 0.3,
            },
        )
        .await
        .unwrap();
    assert!(none.tasks.is_empty(), "no new work while draining");
    let ran = sim::run_all(std::slice::from_ref(&other), 10).await;
    assert!(ran.values().all(|w| *w == other.id));

    let active = admin_client.admin_drain(draining.id, false).await.unwrap();
    assert_eq!(active.state, WorkerState::Active);
}

#[tokio::test]
async fn with_aging_a_low_priority_task_is_not_starved_by_a_stream_of_high_priority_work() {
    const STEP_MS: i64 = 100;
    let app = spawn_app(AppOptions::new().flag("--priority-aging-step", "100ms")).await;
    let worker = SimWorker::register(&app.client, "solo", &[], 1).await;
    let high = |i: usize| SubmitTask {
        priority: Some(9),
        labels: vec![format!("high-{i}")],
        ..sim::task(&["true"], &[])
    };
    // A backlog of high-priority work, then the low-priority task, then a
    // stream of high-priority work twice as fast as the worker drains it.
    let mut submitted = std::collections::HashMap::new();
    for i in 0..20 {
        let view = app.client.submit(&high(i)).await.unwrap();
        submitted.insert(view.id, view.created_at);
    }
    let low = app
        .client
        .submit(&SubmitTask {
            priority: Some(0),
            ..sim::task(&["true"], &[])
        })
        .await
        .unwrap();
    let submitted = std::cell::RefCell::new(submitted);
    let ran_before_low = std::cell::RefCell::new(Vec::new());
    let next = std::cell::Cell::new(20);
    wait_until(
        "the low-priority task to run (it starved)",
        Duration::from_secs(30),
        || async {
            for _ in 0..2 {
                let view = app.client.submit(&high(next.get())).await.unwrap();
                submitted.borrow_mut().insert(view.id, view.created_at);
                next.set(next.get() + 1);
            }
            let got = worker.fetch(1, 1.0).await.remove(0);
            worker.report(&got, ReportOutcome::Succeeded, Some(0)).await;
            let low_ran = got.task_id == low.id;
            if !low_ran {
                ran_before_low.borrow_mut().push(got.task_id);
            }
            low_ran
        },
    )
    .await;
    let (submitted, ran_before_low, next) = (
        submitted.into_inner(),
        ran_before_low.into_inner(),
        next.get(),
    );
    // Nothing submitted more than 9 steps after it went first.
    let bound = low.created_at + chrono::Duration::milliseconds(9 * STEP_MS);
    for id in &ran_before_low {
        assert!(
            submitted[id] <= bound,
            "task {id} submitted after the bound ran first"
        );
    }
    assert!(
        next > ran_before_low.len() + 20,
        "the stream outpaced the worker, so without aging the task would wait forever"
    );
}

#[tokio::test]
async fn the_task_view_tells_its_place_in_the_queue() {
    let app = spawn_app(AppOptions::new()).await;
    let _worker = SimWorker::register(&app.client, "w", &["linux"], 1).await;
    let mut views = Vec::new();
    for _ in 0..3 {
        views.push(
            app.client
                .submit(&sim::task(&["true"], &["linux"]))
                .await
                .unwrap(),
        );
    }
    assert_eq!(views[0].queue_position, Some(0));
    assert_eq!(
        views[2].queue_position,
        Some(2),
        "two tasks ahead of the third"
    );
    let urgent = app
        .client
        .submit(&SubmitTask {
            priority: Some(9),
            ..sim::task(&["true"], &["linux"])
        })
        .await
        .unwrap();
    assert_eq!(
        urgent.queue_position,
        Some(0),
        "a higher priority goes first"
    );
    assert_eq!(
        app.client.task(views[2].id).await.unwrap().queue_position,
        Some(3)
    );
    let stranded = app
        .client
        .submit(&sim::task(&["true"], &["mac"]))
        .await
        .unwrap();
    assert_eq!(stranded.queue_position, None);
    assert_eq!(stranded.waiting, Some(WaitReason::NoMatchingWorker));
}

#[tokio::test]
async fn a_batch_of_reports_records_each_attempt_on_its_own_terms() {
    use switchyard_protocol::{ReportBatch, TaskId};
    let app = spawn_app(AppOptions::new().flag("--retry-backoff", "2s")).await;
    let worker = SimWorker::register(&app.client, "batcher", &["b"], 8).await;
    let submit = |max_attempts| SubmitTask {
        max_attempts: Some(max_attempts),
        ..sim::task(&["true"], &["b"])
    };
    let mut ids = Vec::new();
    for max_attempts in [1, 3, 1, 1, 1] {
        ids.push(app.client.submit(&submit(max_attempts)).await.unwrap().id);
    }
    let got = worker.fetch(8, 5.0).await;
    assert_eq!(got.len(), 5);
    let held = |id: TaskId| got.iter().find(|a| a.task_id == id).unwrap();
    // A user cancels the fourth while it runs.
    app.client.cancel(ids[3]).await.unwrap();
    // The fifth was reported already, alone.
    worker
        .report(held(ids[4]), ReportOutcome::Succeeded, Some(0))
        .await;

    let reports = vec![
        sim::report(held(ids[0]), ReportOutcome::Succeeded, Some(0)),
        sim::report(held(ids[1]), ReportOutcome::Failed, Some(2)),
        sim::report(held(ids[2]), ReportOutcome::TimedOut, None),
        sim::report(held(ids[3]), ReportOutcome::Failed, Some(137)),
        sim::report(held(ids[4]), ReportOutcome::Succeeded, Some(0)),
        sim::report(
            &switchyard_protocol::Assignment {
                task_id: TaskId(ids[4].0 + 1000),
                ..held(ids[4]).clone()
            },
            ReportOutcome::Succeeded,
            Some(0),
        ),
    ];
    let sent = chrono::Utc::now();
    let answer = worker
        .client
        .report_batch(worker.id, &ReportBatch { reports })
        .await
        .unwrap();
    let states: Vec<_> = answer.results.iter().map(|r| r.state).collect();
    assert_eq!(
        states,
        [
            Some(TaskState::Succeeded),
            Some(TaskState::Queued),
            Some(TaskState::TimedOut),
            Some(TaskState::Cancelled),
            None,
            None
        ]
    );
    let codes: Vec<_> = answer
        .results
        .iter()
        .map(|r| r.error.as_ref().map(|e| e.code))
        .collect();
    assert_eq!(codes[4], Some(ErrorCode::TaskNotAssigned));
    assert_eq!(codes[5], Some(ErrorCode::TaskNotFound));

    // The retry waits out its back-off; the attempts are closed as reported.
    let retried = app.client.task(ids[1]).await.unwrap();
    assert_eq!(retried.state, TaskState::Queued);
    let not_before = retried.not_before.expect("a retry has a not_before");
    assert!(
        not_before >= sent + chrono::Duration::seconds(2),
        "{not_before} vs {sent}"
    );
    let outcomes = [
        (0, AttemptOutcome::Succeeded, Some(0)),
        (1, AttemptOutcome::Failed, Some(2)),
        (2, AttemptOutcome::TimedOut, None),
        (3, AttemptOutcome::Cancelled, Some(137)),
    ];
    for (i, outcome, exit_code) in outcomes {
        let attempts = app.client.attempts(ids[i]).await.unwrap();
        assert_eq!(attempts.len(), 1, "task {i}");
        assert_eq!(attempts[0].outcome, Some(outcome), "task {i}");
        assert_eq!(attempts[0].exit_code, exit_code, "task {i}");
        assert!(attempts[0].finished_at.is_some(), "task {i}");
    }
    // The worker's slots are free again: the retry comes back to it.
    let again = worker.fetch(8, 10.0).await;
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].task_id, again[0].attempt), (ids[1], 2));
}

#[tokio::test]
async fn a_malformed_batch_of_reports_writes_nothing() {
    use switchyard_protocol::ReportBatch;
    let app = spawn_app(AppOptions::new()).await;
    let worker = SimWorker::register(&app.client, "batcher", &["m"], 2).await;
    let id = app
        .client
        .submit(&sim::task(&["true"], &["m"]))
        .await
        .unwrap()
        .id;
    let got = worker.fetch(1, 5.0).await;
    let report = sim::report(&got[0], ReportOutcome::Succeeded, Some(0));
    for (reports, field) in [
        (vec![report.clone(), report.clone()], "reports[1].task_id"),
        (
            vec![
                report.clone(),
                switchyard_protocol::TaskReport {
                    attempt: 0,
                    ..report.clone()
                },
            ],
            "reports[1].attempt",
        ),
        (vec![], "reports"),
    ] {
        let error = worker
            .client
            .report_batch(worker.id, &ReportBatch { reports })
            .await
            .unwrap_err();
        let switchyard_protocol::ClientError::Api { status, body } = error else {
            panic!("not an API error: {error:?}");
        };
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(body.code, ErrorCode::ValidationFailed);
        assert_eq!(body.field.as_deref(), Some(field));
    }
    assert_eq!(app.client.task(id).await.unwrap().state, TaskState::Running);
}
