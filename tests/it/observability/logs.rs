//! `--log-format json`: one JSON object per line, with ids as fields.

use std::time::Duration;

use serde_json::Value;
use switchyard_tests::{spawn_coordinator_process, test_database, wait_until};

use crate::sim::SimWorker;

#[tokio::test]
async fn json_logs_are_one_object_per_line_with_worker_ids() {
    let db = test_database().await;
    let (mut coordinator, base_url) =
        spawn_coordinator_process(&db.url, &["--log-format", "json"]).await;
    let client = switchyard_tests::admin_client(&base_url);
    let worker = SimWorker::register(&client, "json-logger", &["linux"], 1).await;

    let registered = wait_until(
        "the registration to be logged",
        Duration::from_secs(10),
        || {
            let output = coordinator.stdout();
            async move {
                output
                    .lines()
                    .filter_map(|line| serde_json::from_str::<Value>(line).ok())
                    .find(|event| event["message"] == "worker registered")
            }
        },
    )
    .await;
    assert_eq!(registered["level"], "INFO");
    assert_eq!(
        registered["worker_id"].as_str().map(str::to_owned),
        Some(worker.id.to_string())
    );
    assert_eq!(registered["name"], "json-logger");

    coordinator.sigterm();
    coordinator.wait_exit(Duration::from_secs(30)).await;
    let output = coordinator.stdout();
    assert!(output.lines().count() >= 3, "{output}");
    for line in output.lines().filter(|line| !line.trim().is_empty()) {
        let event: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("not a JSON object ({e}): {line}"));
        assert!(
            event["timestamp"].is_string() && event["level"].is_string(),
            "{line}"
        );
    }
}
