//! `/health` in each of its states: healthy, degraded (backlog over the
//! threshold; queued tasks no worker can run) and unhealthy (database gone).

use std::time::Duration;

use reqwest::StatusCode;
use switchyard_coordinator::devdb;
use switchyard_protocol::{HealthReport, HealthStatus};
use switchyard_tests::{AppOptions, TestApp, spawn_app, wait_until};

use crate::sim::{self, SimWorker};

/// `/health`'s status and report.
pub(crate) async fn health(app: &TestApp) -> (StatusCode, HealthReport) {
    let response = app.http.get(app.url("/health")).send().await.unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    let report = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    (status, report)
}

/// Waits for a healthy answer: on a busy test machine one database probe
/// may be slow (over 500 ms), which is `degraded`, and rightly so.
async fn healthy(app: &TestApp) -> HealthReport {
    wait_until(
        "/health to answer healthy",
        Duration::from_secs(10),
        || async {
            let (status, report) = health(app).await;
            (status == StatusCode::OK && report.status == HealthStatus::Healthy).then_some(report)
        },
    )
    .await
}

fn has_reason(report: &HealthReport, words: &str) -> bool {
    report.reasons.iter().any(|reason| reason.contains(words))
}

#[tokio::test]
async fn health_is_healthy_then_degraded_by_backlog_and_unrunnable_tasks() {
    let app = spawn_app(AppOptions::new().flag("--health-max-queued", "2")).await;
    let report = healthy(&app).await;
    assert!(report.reasons.is_empty());

    // Three queued tasks a live worker can run: over the threshold of 2.
    let _worker = SimWorker::register(&app.client, "w", &["linux"], 1).await;
    let mut queued = Vec::new();
    for _ in 0..3 {
        queued.push(
            app.client
                .submit(&sim::task(&["true"], &["linux"]))
                .await
                .unwrap(),
        );
    }
    let (status, report) = health(&app).await;
    assert_eq!(status, StatusCode::OK, "degraded still serves");
    assert_eq!(report.status, HealthStatus::Degraded, "{report:?}");
    assert!(has_reason(&report, "queue backing up"), "{report:?}");
    assert!(!has_reason(&report, "no live worker"), "{report:?}");

    for task in &queued {
        app.client.cancel(task.id).await.unwrap();
    }
    healthy(&app).await;

    // A task nobody can run.
    app.client
        .submit(&sim::task(&["true"], &["gpu"]))
        .await
        .unwrap();
    let (status, report) = health(&app).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report.status, HealthStatus::Degraded, "{report:?}");
    assert!(
        has_reason(&report, "1 queued task(s) have no live worker"),
        "{report:?}"
    );
}

#[tokio::test]
async fn health_is_unhealthy_with_503_when_the_database_is_gone() {
    let mut app = spawn_app(AppOptions::new()).await;
    healthy(&app).await;

    devdb::drop_database_at(&app.db.url, &app.db.name)
        .await
        .unwrap();
    let report = wait_until(
        "/health to turn unhealthy",
        Duration::from_secs(30),
        || async {
            let (status, report) = health(&app).await;
            (status == StatusCode::SERVICE_UNAVAILABLE).then_some(report)
        },
    )
    .await;
    assert_eq!(report.status, HealthStatus::Unhealthy);
    assert!(has_reason(&report, "database unreachable"), "{report:?}");
    // The coordinator still answers, and still stops cleanly.
    app.stop().await.unwrap();
}
