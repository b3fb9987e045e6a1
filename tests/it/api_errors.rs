//! Bad input answers a JSON error with a stable code and the right status,
//! and writes nothing.

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchyard_protocol::{ErrorBody, ErrorCode, ListTasksQuery, ReportOutcome, TaskId, WorkerId};
use switchyard_tests::{AppOptions, TestApp, spawn_app};

use crate::sim::{self, SimWorker};

/// Sends `body` (JSON) with `method` to `path` as the admin; expects an
/// error body and returns it with the status.
pub(crate) async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    body: Option<&str>,
) -> (StatusCode, ErrorBody) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).unwrap();
    let mut request = app.http.request(method, app.url(path));
    if let Some(body) = body {
        request = request
            .header("content-type", "application/json")
            .body(body.to_owned());
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    let body: ErrorBody = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("error body is not {{code, message}} JSON ({e}): {text}"));
    assert!(!body.message.is_empty());
    (status, body)
}

async fn task_count(app: &TestApp) -> usize {
    app.client
        .list_tasks(&ListTasksQuery::default())
        .await
        .unwrap()
        .tasks
        .len()
}

/// Submits `body`, expects `status`/`code` (and `field`), and that no task was stored.
async fn rejected_submit(body: Value, status: StatusCode, code: ErrorCode, field: Option<&str>) {
    let app = spawn_app(AppOptions::new()).await;
    let (got_status, error) = send(&app, "POST", "/api/v1/tasks", Some(&body.to_string())).await;
    assert_eq!(got_status, status, "{error:?}");
    assert_eq!(error.code, code, "{error:?}");
    assert_eq!(error.field.as_deref(), field, "{error:?}");
    assert_eq!(
        task_count(&app).await,
        0,
        "a rejected submission wrote a task"
    );
}

#[tokio::test]
async fn malformed_json_is_bad_request() {
    let app = spawn_app(AppOptions::new()).await;
    let (status, error) = send(&app, "POST", "/api/v1/tasks", Some("{\"argv\": [\"echo\"")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error.code, ErrorCode::BadRequest);
    assert_eq!(task_count(&app).await, 0);
}

#[tokio::test]
async fn missing_argv_is_bad_request() {
    rejected_submit(
        json!({"tags": ["linux"]}),
        StatusCode::BAD_REQUEST,
        ErrorCode::BadRequest,
        None,
    )
    .await;
}

#[tokio::test]
async fn empty_argv_fails_validation() {
    rejected_submit(
        json!({"argv": []}),
        StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::ValidationFailed,
        Some("argv"),
    )
    .await;
}

#[tokio::test]
async fn unknown_field_is_bad_request() {
    rejected_submit(
        json!({"argv": ["echo"], "priorty": 3}),
        StatusCode::BAD_REQUEST,
        ErrorCode::BadRequest,
        None,
    )
    .await;
}

#[tokio::test]
async fn empty_tag_fails_validation() {
    rejected_submit(
        json!({"argv": ["echo"], "tags": ["linux", ""]}),
        StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::ValidationFailed,
        Some("tags[1]"),
    )
    .await;
}

#[tokio::test]
async fn tag_over_64_bytes_fails_validation() {
    rejected_submit(
        json!({"argv": ["echo"], "tags": ["x".repeat(65)]}),
        StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::ValidationFailed,
        Some("tags[0]"),
    )
    .await;
}

#[tokio::test]
async fn more_than_32_tags_fails_validation() {
    let tags: Vec<String> = (0..33).map(|i| format!("t{i}")).collect();
    rejected_submit(
        json!({"argv": ["echo"], "tags": tags}),
        StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::ValidationFailed,
        Some("tags"),
    )
    .await;
}

#[tokio::test]
async fn zero_timeout_fails_validation() {
    rejected_submit(
        json!({"argv": ["echo"], "timeout_secs": 0}),
        StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::ValidationFailed,
        Some("timeout_secs"),
    )
    .await;
}

#[tokio::test]
async fn negative_timeout_fails_validation() {
    rejected_submit(
        json!({"argv": ["echo"], "timeout_secs": -1}),
        StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::ValidationFailed,
        Some("timeout_secs"),
    )
    .await;
}

#[tokio::test]
async fn priority_out_of_range_fails_validation() {
    rejected_submit(
        json!({"argv": ["echo"], "priority": 10}),
        StatusCode::UNPROCESSABLE_ENTITY,
        ErrorCode::ValidationFailed,
        Some("priority"),
    )
    .await;
}

#[tokio::test]
async fn unknown_task_is_not_found() {
    let app = spawn_app(AppOptions::new()).await;
    let (status, error) = send(&app, "GET", "/api/v1/tasks/424242", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error.code, ErrorCode::TaskNotFound);
    let (status, error) = send(&app, "POST", "/api/v1/tasks/424242/cancel", Some("{}")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error.code, ErrorCode::TaskNotFound);
    let (status, error) = send(&app, "GET", "/api/v1/tasks/not-a-number", None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(error.code, ErrorCode::BadRequest);
}

#[tokio::test]
async fn unknown_worker_is_not_found() {
    let app = spawn_app(AppOptions::new()).await;
    for (method, path, body) in [
        ("POST", "/api/v1/workers/777/heartbeat", Some("{}")),
        (
            "POST",
            "/api/v1/workers/777/fetch",
            Some("{\"max_tasks\": 1}"),
        ),
        ("GET", "/api/v1/workers/777", None),
        ("DELETE", "/api/v1/workers/777", None),
    ] {
        let (status, error) = send(&app, method, path, body).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{method} {path}");
        assert_eq!(error.code, ErrorCode::WorkerNotFound, "{method} {path}");
    }
    let report = sim::report(
        &switchyard_protocol::Assignment {
            task_id: TaskId(1),
            attempt: 1,
            argv: vec!["x".into()],
            env: Default::default(),
            working_dir: None,
            timeout_secs: 1,
        },
        ReportOutcome::Succeeded,
        Some(0),
    );
    let error = app.client.report(WorkerId(777), &report).await.unwrap_err();
    assert_eq!(error.code(), Some(ErrorCode::TaskNotFound));
}

#[tokio::test]
async fn report_for_a_task_the_worker_does_not_hold_is_a_conflict() {
    let app = spawn_app(AppOptions::new()).await;
    let holder = SimWorker::register(&app.client, "holder", &[], 1).await;
    let other = SimWorker::register(&app.client, "other", &[], 1).await;
    let submitted = app.client.submit(&sim::task(&["true"], &[])).await.unwrap();
    let mut fetched = holder.fetch(1, 5.0).await;
    assert_eq!(fetched.len(), 1, "the only worker asking gets the task");
    let assignment = fetched.remove(0);
    let (owner, stranger) = (&holder, &other);
    assert_eq!(assignment.task_id, submitted.id);

    let error = app
        .client
        .report(
            stranger.id,
            &sim::report(&assignment, ReportOutcome::Succeeded, Some(0)),
        )
        .await
        .unwrap_err();
    assert_eq!(error.status(), Some(StatusCode::CONFLICT));
    assert_eq!(error.code(), Some(ErrorCode::TaskNotAssigned));
    // A wrong attempt number is refused too, and nothing was written.
    let mut stale = sim::report(&assignment, ReportOutcome::Succeeded, Some(0));
    stale.attempt += 1;
    let error = app.client.report(owner.id, &stale).await.unwrap_err();
    assert_eq!(error.code(), Some(ErrorCode::TaskNotAssigned));
    let task = app.client.task(submitted.id).await.unwrap();
    assert_eq!(task.state, switchyard_protocol::TaskState::Running);

    let done = owner
        .report(&assignment, ReportOutcome::Succeeded, Some(0))
        .await;
    assert_eq!(done.state, switchyard_protocol::TaskState::Succeeded);
    // Reporting again is refused: the attempt is over.
    let error = app
        .client
        .report(
            owner.id,
            &sim::report(&assignment, ReportOutcome::Failed, Some(1)),
        )
        .await
        .unwrap_err();
    assert_eq!(error.code(), Some(ErrorCode::TaskNotAssigned));
}

#[tokio::test]
async fn unknown_route_and_method_answer_json() {
    let app = spawn_app(AppOptions::new()).await;
    let (status, error) = send(&app, "GET", "/api/v1/nope", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error.code, ErrorCode::NotFound);
    let (status, error) = send(&app, "PUT", "/api/v1/tasks", Some("{}")).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(error.code, ErrorCode::MethodNotAllowed);
}

#[tokio::test]
async fn invalid_registration_and_fetch_fail_validation() {
    let app = spawn_app(AppOptions::new()).await;
    let (status, error) = send(
        &app,
        "POST",
        "/api/v1/workers",
        Some(&json!({"name": "w", "tags": ["gpu"], "slots": 0}).to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error.field.as_deref(), Some("slots"));
    assert!(app.client.list_workers().await.unwrap().is_empty());

    let worker = SimWorker::register(&app.client, "w", &[], 1).await;
    let (status, error) = send(
        &app,
        "POST",
        &format!("/api/v1/workers/{}/fetch", worker.id),
        Some(&json!({"max_tasks": 1, "wait_secs": 3600}).to_string()),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(error.field.as_deref(), Some("wait_secs"));
}

#[tokio::test]
async fn filters_and_names_with_nul_characters_are_refused_not_crashed_on() {
    let app = spawn_app(AppOptions::new()).await;
    for query in ["tag=a%00b", "label=x%00", "tag=has%20space"] {
        let (status, error) = send(&app, "GET", &format!("/api/v1/tasks?{query}"), None).await;
        assert_eq!(
            status,
            StatusCode::UNPROCESSABLE_ENTITY,
            "{query}: {error:?}"
        );
        assert_eq!(error.code, ErrorCode::ValidationFailed, "{query}");
    }
    let (status, error) = send(
        &app,
        "POST",
        "/api/v1/admin/principals/a%00b/tokens",
        Some("{}"),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{error:?}");
    assert_eq!(error.code, ErrorCode::PrincipalNotFound);
}
