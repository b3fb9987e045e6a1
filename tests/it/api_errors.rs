//! Bad input answers a JSON error with a stable code and the right status,
//! and writes nothing: one table of refused requests, run in order against
//! one coordinator.

use reqwest::StatusCode;
use serde_json::{Value, json};
use switchyard_protocol::{
    Assignment, ErrorBody, ErrorCode, ListTasksQuery, ReportOutcome, TaskId, TaskState, WorkerId,
};
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

/// One refused request and the error it must answer with.
struct Case {
    method: &'static str,
    path: String,
    /// Sent as is, so that it may be malformed.
    body: Option<String>,
    status: StatusCode,
    code: ErrorCode,
    field: Option<&'static str>,
}

/// `method path` with `body` must answer `status` and `code`.
fn case(
    method: &'static str,
    path: impl Into<String>,
    body: Option<String>,
    status: StatusCode,
    code: ErrorCode,
) -> Case {
    Case {
        method,
        path: path.into(),
        body,
        status,
        code,
        field: None,
    }
}

impl Case {
    /// The answer must also name `field`.
    fn field(mut self, field: &'static str) -> Self {
        self.field = Some(field);
        self
    }
}

/// A submission of `body`, refused with 400 `bad_request`.
fn unparsable_task(body: impl Into<String>) -> Case {
    let body = Some(body.into());
    case("POST", "/api/v1/tasks", body, BAD, ErrorCode::BadRequest)
}

/// A submission of `body`, refused with 422 `validation_failed` for `field`.
fn invalid_task(body: Value, field: &'static str) -> Case {
    let body = Some(body.to_string());
    case(
        "POST",
        "/api/v1/tasks",
        body,
        INVALID,
        ErrorCode::ValidationFailed,
    )
    .field(field)
}

const BAD: StatusCode = StatusCode::BAD_REQUEST;
const INVALID: StatusCode = StatusCode::UNPROCESSABLE_ENTITY;
const NOT_FOUND: StatusCode = StatusCode::NOT_FOUND;
const CONFLICT: StatusCode = StatusCode::CONFLICT;

/// What a refused request must leave as it was: every task with its state,
/// and every worker.
async fn stored(app: &TestApp) -> (Vec<(TaskId, TaskState)>, Vec<WorkerId>) {
    let tasks = app
        .client
        .list_tasks(&ListTasksQuery::default())
        .await
        .unwrap()
        .tasks;
    let workers = app.client.list_workers().await.unwrap();
    (
        tasks.iter().map(|t| (t.id, t.state)).collect(),
        workers.iter().map(|w| w.id).collect(),
    )
}

/// A report of an attempt of `task`, as JSON.
fn report_json(task: TaskId, attempt: i32, outcome: ReportOutcome) -> String {
    let assignment = Assignment {
        task_id: task,
        attempt,
        argv: vec!["x".into()],
        env: Default::default(),
        working_dir: None,
        timeout_secs: 1,
    };
    serde_json::to_string(&sim::report(&assignment, outcome, Some(0))).unwrap()
}

#[tokio::test]
async fn refused_requests_answer_their_status_and_code_and_write_nothing() {
    let app = spawn_app(AppOptions::new()).await;
    // Two workers; `holder` ran one task to the end and holds an attempt of
    // another, which `other` does not.
    let holder = SimWorker::register(&app.client, "holder", &[], 1).await;
    let other = SimWorker::register(&app.client, "other", &[], 1).await;
    let finished = app.client.submit(&sim::task(&["true"], &[])).await.unwrap();
    let mut fetched = holder.fetch(1, 5.0).await;
    assert_eq!(fetched.len(), 1, "the only worker asking gets the task");
    let done = fetched.remove(0);
    assert_eq!(done.task_id, finished.id);
    let view = holder
        .report(&done, ReportOutcome::Succeeded, Some(0))
        .await;
    assert_eq!(view.state, TaskState::Succeeded);
    let running = app.client.submit(&sim::task(&["true"], &[])).await.unwrap();
    let mut fetched = holder.fetch(1, 5.0).await;
    assert_eq!(fetched.len(), 1, "the only worker asking gets the task");
    let held = fetched.remove(0);
    assert_eq!(held.task_id, running.id);

    let json = |value: Value| Some(value.to_string());
    let tags: Vec<String> = (0..33).map(|i| format!("t{i}")).collect();
    let (h, o) = (holder.id, other.id);
    #[rustfmt::skip]
    let cases = [
        // Submissions that do not parse, or parse to values out of bounds.
        unparsable_task("{\"argv\": [\"echo\""),
        unparsable_task(json!({"tags": ["linux"]}).to_string()),
        unparsable_task(json!({"argv": ["echo"], "priorty": 3}).to_string()),
        invalid_task(json!({"argv": []}), "argv"),
        invalid_task(json!({"argv": ["echo"], "tags": ["linux", ""]}), "tags[1]"),
        invalid_task(json!({"argv": ["echo"], "tags": ["x".repeat(65)]}), "tags[0]"),
        invalid_task(json!({"argv": ["echo"], "tags": tags}), "tags"),
        invalid_task(json!({"argv": ["echo"], "timeout_secs": 0}), "timeout_secs"),
        invalid_task(json!({"argv": ["echo"], "timeout_secs": -1}), "timeout_secs"),
        invalid_task(json!({"argv": ["echo"], "priority": 10}), "priority"),
        // Unknown tasks, and an id that is not one.
        case("GET", "/api/v1/tasks/424242", None, NOT_FOUND, ErrorCode::TaskNotFound),
        case("POST", "/api/v1/tasks/424242/cancel", json(json!({})), NOT_FOUND, ErrorCode::TaskNotFound),
        case("GET", "/api/v1/tasks/not-a-number", None, BAD, ErrorCode::BadRequest),
        // Unknown workers; a report from one names an unknown task.
        case("POST", "/api/v1/workers/777/heartbeat", json(json!({})), NOT_FOUND, ErrorCode::WorkerNotFound),
        case("POST", "/api/v1/workers/777/fetch", json(json!({"max_tasks": 1})), NOT_FOUND, ErrorCode::WorkerNotFound),
        case("GET", "/api/v1/workers/777", None, NOT_FOUND, ErrorCode::WorkerNotFound),
        case("DELETE", "/api/v1/workers/777", None, NOT_FOUND, ErrorCode::WorkerNotFound),
        case("POST", "/api/v1/workers/777/report", Some(report_json(TaskId(424242), 1, ReportOutcome::Succeeded)), NOT_FOUND, ErrorCode::TaskNotFound),
        // Reports on attempts the worker does not hold: another worker's,
        // a wrong attempt number, and one already reported.
        case("POST", format!("/api/v1/workers/{o}/report"), Some(report_json(held.task_id, held.attempt, ReportOutcome::Succeeded)), CONFLICT, ErrorCode::TaskNotAssigned),
        case("POST", format!("/api/v1/workers/{h}/report"), Some(report_json(held.task_id, held.attempt + 1, ReportOutcome::Succeeded)), CONFLICT, ErrorCode::TaskNotAssigned),
        case("POST", format!("/api/v1/workers/{h}/report"), Some(report_json(done.task_id, done.attempt, ReportOutcome::Failed)), CONFLICT, ErrorCode::TaskNotAssigned),
        // Unknown routes and methods.
        case("GET", "/api/v1/nope", None, NOT_FOUND, ErrorCode::NotFound),
        case("PUT", "/api/v1/tasks", json(json!({})), StatusCode::METHOD_NOT_ALLOWED, ErrorCode::MethodNotAllowed),
        // A registration and a fetch out of bounds.
        case("POST", "/api/v1/workers", json(json!({"name": "w", "tags": ["gpu"], "slots": 0})), INVALID, ErrorCode::ValidationFailed).field("slots"),
        case("POST", format!("/api/v1/workers/{o}/fetch"), json(json!({"max_tasks": 1, "wait_secs": 3600})), INVALID, ErrorCode::ValidationFailed).field("wait_secs"),
        // NUL characters and spaces in filters and names are refused, not
        // crashed on.
        case("GET", "/api/v1/tasks?tag=a%00b", None, INVALID, ErrorCode::ValidationFailed).field("tag"),
        case("GET", "/api/v1/tasks?label=x%00", None, INVALID, ErrorCode::ValidationFailed).field("label"),
        case("GET", "/api/v1/tasks?tag=has%20space", None, INVALID, ErrorCode::ValidationFailed).field("tag"),
        case("POST", "/api/v1/admin/principals/a%00b/tokens", json(json!({})), NOT_FOUND, ErrorCode::PrincipalNotFound),
    ];

    let before = stored(&app).await;
    assert_eq!(before.0.len(), 2, "{before:?}");
    let mut wrong = Vec::new();
    for case in &cases {
        let what = format!("{} {}", case.method, case.path);
        let (status, error) = send(&app, case.method, &case.path, case.body.as_deref()).await;
        if (status, error.code, error.field.as_deref()) != (case.status, case.code, case.field) {
            wrong.push(format!(
                "{what}: {status} {error:?}, expected {} {} (field {:?})",
                case.status, case.code, case.field
            ));
        }
        let after = stored(&app).await;
        if after != before {
            wrong.push(format!("{what} wrote: {before:?} became {after:?}"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}
