//! `/metrics` after a known workload: every named metric has the value the
//! workload implies, per coordinator, with route templates as labels.

use std::collections::BTreeSet;

use switchyard_protocol::ReportOutcome;
use switchyard_tests::{AppOptions, spawn_app};

use super::{run_one, sample, scrape, submit_and_take, take};
use crate::sim::{self, SimWorker};

/// The `route` label values of the HTTP request counter.
fn routes(text: &str) -> BTreeSet<String> {
    text.lines()
        .filter(|line| line.starts_with("switchyard_http_requests_total{"))
        .filter_map(|line| {
            let start = line.find("route=\"")? + 7;
            let end = start + line[start..].find('"')?;
            Some(line[start..end].to_owned())
        })
        .collect()
}

#[tokio::test]
async fn metrics_count_a_known_workload() {
    let app = spawn_app(AppOptions::new().flag("--retry-backoff", "100ms")).await;
    let other = spawn_app(AppOptions::new()).await;
    let client = &app.client;
    let linux = SimWorker::register(client, "linux-1", &["linux"], 4).await;

    // Four single attempts, one per outcome the agent can report.
    run_one(&linux, &["linux"], ReportOutcome::Succeeded).await;
    run_one(&linux, &["linux"], ReportOutcome::Succeeded).await;
    run_one(&linux, &["linux"], ReportOutcome::Failed).await;
    run_one(&linux, &["linux"], ReportOutcome::TimedOut).await;
    // A failure retried once, then a success.
    let first = submit_and_take(&linux, &["linux"], 2).await;
    linux.report(&first, ReportOutcome::Failed, Some(1)).await;
    let second = take(&linux, first.task_id).await;
    assert_eq!(second.attempt, 2);
    linux
        .report(&second, ReportOutcome::Succeeded, Some(0))
        .await;
    // Cancelled while queued.
    let queued = client
        .submit(&sim::task(&["true"], &["linux"]))
        .await
        .unwrap();
    client.cancel(queued.id).await.unwrap();
    // Running on a worker that leaves: its task goes elsewhere.
    let leaving = SimWorker::register(client, "gpu-1", &["gpu"], 1).await;
    let gpu_task = submit_and_take(&leaving, &["gpu"], 1).await;
    leaving.client.unregister(leaving.id).await.unwrap();
    let gpu = SimWorker::register(client, "gpu-2", &["gpu"], 1).await;
    let again = take(&gpu, gpu_task.task_id).await;
    gpu.report(&again, ReportOutcome::Succeeded, Some(0)).await;
    // A request that matches no route.
    app.http
        .get(app.url("/no/such/route/42"))
        .send()
        .await
        .unwrap();

    let text = scrape(&app).await;
    let value = |series: &str| {
        sample(&text, series).unwrap_or_else(|| panic!("no sample `{series}` in\n{text}"))
    };
    assert_eq!(value("switchyard_tasks_submitted_total"), 7.0);
    assert_eq!(value("switchyard_tasks_started_total"), 8.0);
    for (outcome, n) in [
        ("succeeded", 4.0),
        ("failed", 1.0),
        ("timed_out", 1.0),
        ("cancelled", 1.0),
    ] {
        let series = format!("switchyard_tasks_finished_total{{outcome=\"{outcome}\"}}");
        assert_eq!(value(&series), n, "{series}");
    }
    assert_eq!(value("switchyard_tasks_retries_total"), 1.0);
    assert_eq!(value("switchyard_tasks_redistributed_total"), 1.0);
    assert_eq!(value("switchyard_tasks_queued"), 0.0);
    assert_eq!(value("switchyard_tasks_running"), 0.0);
    assert_eq!(value("switchyard_workers_live"), 2.0);
    assert_eq!(value("switchyard_workers_draining"), 0.0);
    assert_eq!(
        value("switchyard_dispatcher_queue_depth{mode=\"fanout\"}"),
        0.0
    );
    assert_eq!(value("switchyard_dispatcher_queued_tasks"), 0.0);
    assert_eq!(value("switchyard_dispatcher_unplaced_tasks"), 0.0);
    // First attempts only: six tasks started a first attempt.
    assert_eq!(value("switchyard_task_queue_wait_seconds_count"), 6.0);
    assert!(text.contains("switchyard_task_queue_wait_seconds_bucket{le=\"+Inf\"} 6"));
    assert_eq!(
        value("switchyard_fetch_duration_seconds_count{result=\"tasks\"}"),
        8.0
    );

    assert_eq!(
        value(
            "switchyard_http_requests_total{method=\"POST\",route=\"/api/v1/tasks\",status=\"201\"}"
        ),
        7.0
    );
    assert_eq!(
        value(
            "switchyard_http_requests_total{method=\"POST\",route=\"/api/v1/tasks/{id}/cancel\",status=\"200\"}"
        ),
        1.0
    );
    assert_eq!(
        value("switchyard_http_requests_total{method=\"GET\",route=\"unmatched\",status=\"404\"}"),
        1.0
    );
    assert_eq!(
        value(
            "switchyard_http_request_duration_seconds_count{method=\"POST\",route=\"/api/v1/workers/{id}/report\"}"
        ),
        7.0
    );
    // Labels are route templates (as documented), never raw paths with ids.
    let doc: serde_json::Value = super::get_json(&app, "/api/openapi.json").await;
    let templates = doc["paths"].as_object().unwrap();
    let seen = routes(&text);
    assert!(seen.contains("/api/v1/workers/{id}/fetch"), "{seen:?}");
    for route in seen {
        assert!(
            route == "unmatched" || templates.contains_key(&route),
            "route label `{route}` is not a route template"
        );
    }

    // The other coordinator in this process counted nothing of it.
    let text = scrape(&other).await;
    assert_eq!(sample(&text, "switchyard_tasks_submitted_total"), Some(0.0));
    assert_eq!(sample(&text, "switchyard_tasks_started_total"), Some(0.0));
}
