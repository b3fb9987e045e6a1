//! Seeing what is going on: the `/stats` dashboard and the pages people log
//! in to and act from (and their sessions) in a real browser,
//! `/metrics` after a known workload, the OpenAPI document against the
//! router, and `/health` in each of its states.

mod dashboard;
pub(crate) mod health;
mod logs;
mod metrics;
mod openapi;
mod sessions;
mod stats_scope;
mod web;

use std::path::PathBuf;
use std::time::Duration;

use serde::de::DeserializeOwned;
use switchyard_protocol::{Assignment, ReportOutcome, TaskId};
use switchyard_tests::TestApp;

use crate::sim::{self, SimWorker};

/// `GET path`, expecting `200` and a JSON body of type `T`.
pub async fn get_json<T: DeserializeOwned>(app: &TestApp, path: &str) -> T {
    let response = app.http.get(app.url(path)).send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, reqwest::StatusCode::OK, "GET {path}: {text}");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {path}: {e}: {text}"))
}

/// `GET /metrics` as text.
pub async fn scrape(app: &TestApp) -> String {
    let response = app.http.get(app.url("/metrics")).send().await.unwrap();
    assert_eq!(response.status(), reqwest::StatusCode::OK);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    response.text().await.unwrap()
}

/// The value of one series in exposition text: `series` is the metric name
/// with its labels exactly as rendered (`name{a="b"}`), or the bare name.
pub fn sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .map(|value| value.trim().parse().unwrap())
}

/// Submits a task requiring `tags` and has `worker` take it (waiting up to
/// 10 s); returns the assignment.
pub async fn submit_and_take(worker: &SimWorker, tags: &[&str], max_attempts: i32) -> Assignment {
    let task = worker
        .registrar
        .submit(&switchyard_protocol::SubmitTask {
            max_attempts: Some(max_attempts),
            ..sim::task(&["true"], tags)
        })
        .await
        .unwrap();
    take(worker, task.id).await
}

/// Has `worker` fetch until it is handed task `id`; panics if it is handed
/// anything else or nothing within 10 s.
pub async fn take(worker: &SimWorker, id: TaskId) -> Assignment {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut got = worker.fetch(1, 1.0).await;
        if let Some(assignment) = got.pop() {
            assert_eq!(assignment.task_id, id, "handed the wrong task");
            return assignment;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "worker {} was not handed task {id}",
            worker.id
        );
    }
}

/// Submits, runs and reports one task with `outcome` on `worker`.
pub async fn run_one(worker: &SimWorker, tags: &[&str], outcome: ReportOutcome) {
    let assignment = submit_and_take(worker, tags, 1).await;
    let code = match outcome {
        ReportOutcome::Succeeded => Some(0),
        ReportOutcome::Failed => Some(1),
        _ => None,
    };
    worker.report(&assignment, outcome, code).await;
}

/// `target/`, where artifacts for people to look at go (the screenshot).
pub fn target_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir);
    }
    // The test binary is target/<profile>/deps/it-<hash>.
    let exe = std::env::current_exe().unwrap();
    exe.ancestors()
        .find(|dir| dir.file_name().is_some_and(|name| name == "target"))
        .map(std::path::Path::to_path_buf)
        .unwrap_or_else(|| exe.parent().unwrap().join("..").join(".."))
}
