//! Admin calls for tests: the dispatcher snapshot, seed, rebalance, worker changes.

use serde_json::Value;
use switchyard_protocol::{DispatcherSnapshot, TaskId, UpdateWorker, WorkerId};
use switchyard_tests::{AppOptions, TestApp};

/// The admin token test coordinators run with.
pub const TOKEN: &str = switchyard_tests::ADMIN_TOKEN;

/// Options for a coordinator whose admin API is open to [`TOKEN`].
pub fn options(mode: &str) -> AppOptions {
    AppOptions::new().dispatch_mode(mode)
}

async fn call(app: &TestApp, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
    let mut request = app.http.request(method, app.url(path)).bearer_auth(TOKEN);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status();
    let body: Value = response.json().await.unwrap();
    assert!(status.is_success(), "{path}: {status} {body}");
    body
}

/// The dispatcher snapshot.
pub async fn snapshot(app: &TestApp) -> DispatcherSnapshot {
    app.client.admin_dispatcher(None).await.unwrap().snapshot
}

/// Queue length of each worker, from the snapshot.
pub async fn queue_lengths(app: &TestApp) -> Vec<(WorkerId, u64)> {
    let snapshot = snapshot(app).await;
    snapshot.workers.iter().map(|w| (w.id, w.queued)).collect()
}

/// Workers whose queue holds `task`.
pub async fn holders(app: &TestApp, task: TaskId) -> Vec<WorkerId> {
    let view = app.client.admin_dispatcher(Some(task)).await.unwrap();
    let held = view.task.expect("asked with ?task, answered without it");
    assert_eq!(held.id, task);
    held.holders
}

/// Rebuilds the dispatcher from the database; returns the queued tasks read.
pub async fn seed(app: &TestApp) -> u64 {
    app.client.admin_seed().await.unwrap().queued_tasks
}

/// Rebalances; returns how many tasks moved.
pub async fn rebalance(app: &TestApp) -> u64 {
    app.client.admin_rebalance().await.unwrap().moved
}

/// Changes a worker's tags.
pub async fn set_tags(app: &TestApp, worker: WorkerId, tags: &[&str]) {
    let change = UpdateWorker {
        tags: Some(tags.iter().map(|t| t.to_string()).collect()),
        slots: None,
    };
    call(
        app,
        reqwest::Method::PATCH,
        &format!("/api/v1/admin/workers/{worker}"),
        Some(serde_json::to_value(change).unwrap()),
    )
    .await;
}
