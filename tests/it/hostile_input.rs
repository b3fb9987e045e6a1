//! Text made to deceive and output made to overflow: format characters in
//! what people read are refused with `422 validation_failed` naming the
//! field, and nothing is written; captured output full of NUL is stored
//! within its limits.

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchyard_protocol::limits::{MAX_ERROR_BYTES, OUTPUT_TAIL_BYTES};
use switchyard_protocol::{
    Assignment, ErrorCode, ListTasksQuery, ReportBatch, ReportOutcome, TaskReport, TaskState,
};
use switchyard_tests::{AppOptions, TestApp, spawn_app};

use crate::api_errors::send;
use crate::sim::{self, SimWorker};

/// Characters that disguise text: bidi overrides and isolates, zero-width
/// characters, the byte-order mark, a soft hyphen, a tag character and a
/// line separator.
const DISGUISES: [char; 12] = [
    '\u{202E}',
    '\u{202A}',
    '\u{2066}',
    '\u{2069}',
    '\u{200B}',
    '\u{200D}',
    '\u{200F}',
    '\u{2060}',
    '\u{FEFF}',
    '\u{00AD}',
    '\u{E0041}',
    '\u{2028}',
];

/// `body` sent with `method` to `path` is refused with 422 naming `field`.
async fn refused(app: &TestApp, method: &str, path: &str, body: Option<Value>, field: &str) {
    let text = body.map(|body| body.to_string());
    let (status, error) = send(app, method, path, text.as_deref()).await;
    assert_eq!(
        status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "{method} {path}: {error:?}"
    );
    assert_eq!(error.code, ErrorCode::ValidationFailed, "{method} {path}");
    assert_eq!(error.field.as_deref(), Some(field), "{method} {path}");
}

#[tokio::test]
async fn format_characters_in_labels_names_and_keys_are_refused_and_write_nothing() {
    let app = spawn_app(AppOptions::new()).await;
    let client = &app.client;
    client
        .admin_create_principal(&switchyard_protocol::CreatePrincipal {
            name: "alice".into(),
            role: switchyard_protocol::Role::User,
        })
        .await
        .unwrap();
    let tokens_before = client.admin_tokens().await.unwrap().len();

    for c in DISGUISES {
        let hidden = format!("invoice{c}fdp.exe");
        let what = format!("U+{:04X}", u32::from(c));
        refused(
            &app,
            "POST",
            "/api/v1/tasks",
            Some(json!({"argv": ["true"], "labels": ["ok", hidden]})),
            "labels[1]",
        )
        .await;
        refused(
            &app,
            "POST",
            "/api/v1/tasks",
            Some(json!({"argv": ["true"], "idempotency_key": hidden})),
            "idempotency_key",
        )
        .await;
        refused(
            &app,
            "POST",
            "/api/v1/tasks/batch",
            Some(json!({"tasks": [{"argv": ["true"]}, {"argv": ["true"], "labels": [hidden]}]})),
            "tasks[1].labels[0]",
        )
        .await;
        // Tags are ASCII letters, digits and a little punctuation: no
        // format character can get in.
        refused(
            &app,
            "POST",
            "/api/v1/tasks",
            Some(json!({"argv": ["true"], "tags": [format!("gpu{c}")]})),
            "tags[0]",
        )
        .await;
        refused(
            &app,
            "POST",
            "/api/v1/workers",
            Some(json!({"name": hidden, "slots": 1})),
            "name",
        )
        .await;
        refused(
            &app,
            "POST",
            "/api/v1/workers",
            Some(json!({"name": "w", "tags": [format!("{c}linux")], "slots": 1})),
            "tags[0]",
        )
        .await;
        refused(
            &app,
            "POST",
            "/api/v1/admin/principals",
            Some(json!({"name": format!("mal{c}lory"), "role": "user"})),
            "name",
        )
        .await;
        refused(
            &app,
            "POST",
            "/api/v1/admin/principals/alice/tokens",
            Some(json!({"label": hidden})),
            "label",
        )
        .await;
        let filter: String = hidden
            .bytes()
            .map(|b| format!("%{b:02X}"))
            .collect::<String>();
        refused(
            &app,
            "GET",
            &format!("/api/v1/tasks?label={filter}"),
            None,
            "label",
        )
        .await;
        // The message says which character it was.
        let (_, error) = send(
            &app,
            "POST",
            "/api/v1/tasks",
            Some(&json!({"argv": ["true"], "labels": [hidden]}).to_string()),
        )
        .await;
        assert!(error.message.contains(&what), "{error:?}");
    }

    // Nothing of it was written.
    let tasks = client.list_tasks(&ListTasksQuery::default()).await.unwrap();
    assert!(tasks.tasks.is_empty(), "{:?}", tasks.tasks);
    assert!(client.list_workers().await.unwrap().is_empty());
    let tokens = client.admin_tokens().await.unwrap();
    assert_eq!(tokens.len(), tokens_before, "{tokens:?}");
    assert!(tokens.iter().all(|t| t.principal == "alice"));

    // Text in any script, emoji with variation selectors, and a program's
    // own arguments (passed on as they are) are fine.
    let task = client
        .submit(&switchyard_protocol::SubmitTask {
            labels: vec![
                "Jörg".into(),
                "夜間ビルド".into(),
                "release ❤\u{FE0F}".into(),
            ],
            idempotency_key: Some("clé-1".into()),
            ..sim::task(&["echo", "\u{202E}txt.exe"], &["a-b_c.d:e/f=g+h@i"])
        })
        .await
        .unwrap();
    assert_eq!(task.argv[1], "\u{202E}txt.exe");
    SimWorker::register(client, "Büro-Rechner 7", &[], 1).await;
}

/// Registers a worker, submits `n` tasks and has the worker take them all.
async fn running(app: &TestApp, n: usize) -> (SimWorker, Vec<Assignment>) {
    let worker = SimWorker::register(&app.client, "w", &[], 4).await;
    for _ in 0..n {
        app.client.submit(&sim::task(&["cat"], &[])).await.unwrap();
    }
    let mut taken = Vec::new();
    while taken.len() < n {
        let got = worker.fetch(4, 5.0).await;
        assert!(!got.is_empty(), "the worker was not handed every task");
        taken.extend(got);
    }
    (worker, taken)
}

/// A report at every limit, its texts full of NUL (a NUL is one byte; what
/// replaces it is three).
fn full_of_nul(assignment: &Assignment) -> TaskReport {
    TaskReport {
        stdout: "\0".repeat(OUTPUT_TAIL_BYTES),
        stderr: format!("{}\0", "e".repeat(OUTPUT_TAIL_BYTES - 1)),
        error: Some("\0".repeat(MAX_ERROR_BYTES)),
        ..sim::report(assignment, ReportOutcome::Failed, Some(1))
    }
}

/// The stored output and error of the task of `assignment` are within
/// their limits, NUL replaced, cut where the replacement lengthened them.
async fn assert_stored_within_limits(app: &TestApp, assignment: &Assignment) {
    let task = app.client.task(assignment.task_id).await.unwrap();
    assert_eq!(task.state, TaskState::Failed);
    let output = task.output.expect("a finished task has output");
    assert!(
        output.stdout.len() <= OUTPUT_TAIL_BYTES,
        "{}",
        output.stdout.len()
    );
    assert!(output.stdout.len() > OUTPUT_TAIL_BYTES - 3);
    assert!(output.stdout.chars().all(|c| c == '\u{FFFD}'));
    assert!(output.stdout_truncated, "the cut is marked");
    assert!(
        output.stderr.len() <= OUTPUT_TAIL_BYTES,
        "{}",
        output.stderr.len()
    );
    assert!(output.stderr.ends_with("ee\u{FFFD}"), "the tail is kept");
    assert!(output.stderr_truncated);
    let error = task.error.expect("the error was stored");
    assert!(error.len() <= MAX_ERROR_BYTES, "{}", error.len());
    assert!(error.len() > MAX_ERROR_BYTES - 3);
    assert!(error.chars().all(|c| c == '\u{FFFD}'));
    let attempts = app.client.attempts(assignment.task_id).await.unwrap();
    let recorded = attempts[0].error.as_deref().unwrap_or_default();
    assert!(recorded.len() <= MAX_ERROR_BYTES, "{}", recorded.len());
}

#[tokio::test]
async fn a_report_at_the_limit_full_of_nul_is_stored_within_it() {
    let app = spawn_app(AppOptions::new()).await;
    let (worker, taken) = running(&app, 1).await;
    let assignment = &taken[0];

    // One byte over is refused, and nothing is written.
    let mut over = full_of_nul(assignment);
    over.stdout.push('\0');
    let path = format!("/api/v1/workers/{}/report", worker.id);
    let body = serde_json::to_string(&over).unwrap();
    let (status, error) = send(&app, "POST", &path, Some(&body)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error:?}");
    assert_eq!(error.field.as_deref(), Some("stdout"));
    let task = app.client.task(assignment.task_id).await.unwrap();
    assert_eq!(task.state, TaskState::Running);

    let done = app
        .client
        .report(worker.id, &full_of_nul(assignment))
        .await
        .unwrap();
    assert_eq!(done.state, TaskState::Failed);
    assert_stored_within_limits(&app, assignment).await;
}

#[tokio::test]
async fn a_batch_of_reports_at_the_limit_full_of_nul_is_stored_within_it() {
    let app = spawn_app(AppOptions::new()).await;
    let (worker, taken) = running(&app, 2).await;

    let mut over = ReportBatch {
        reports: taken.iter().map(full_of_nul).collect(),
    };
    over.reports[1].error.as_mut().unwrap().push('x');
    let path = format!("/api/v1/workers/{}/reports", worker.id);
    let body = serde_json::to_string(&over).unwrap();
    let (status, error) = send(&app, "POST", &path, Some(&body)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{error:?}");
    assert_eq!(error.field.as_deref(), Some("reports[1].error"));
    for assignment in &taken {
        let task = app.client.task(assignment.task_id).await.unwrap();
        assert_eq!(
            task.state,
            TaskState::Running,
            "a refused batch writes nothing"
        );
    }

    let batch = ReportBatch {
        reports: taken.iter().map(full_of_nul).collect(),
    };
    let answer = app.client.report_batch(worker.id, &batch).await.unwrap();
    assert!(
        answer
            .results
            .iter()
            .all(|r| r.state == Some(TaskState::Failed)),
        "{answer:?}"
    );
    for assignment in &taken {
        assert_stored_within_limits(&app, assignment).await;
    }
}
