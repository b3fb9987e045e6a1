//! The registry records per app and renders valid exposition text.

use std::time::Duration;

use switchyard_protocol::TaskState;

use super::exposition::GaugeWriter;
use super::{Metrics, names};

/// The value of the sample `series` (name with labels, as rendered).
fn value(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .and_then(|v| v.parse().ok())
}

#[test]
fn every_bucket_list_is_usable() {
    for (name, buckets) in names::BUCKETS {
        assert!(!buckets.is_empty(), "{name}");
        assert!(buckets.windows(2).all(|w| w[0] < w[1]), "{name}");
    }
}

#[test]
fn counts_render_per_instance() {
    let one = Metrics::new();
    let two = Metrics::new();
    one.tasks_submitted(3);
    one.task_started(Some(Duration::from_millis(300)));
    one.task_started(None);
    one.task_finished(TaskState::Succeeded);
    one.task_finished(TaskState::TimedOut);
    one.task_finished(TaskState::Queued);
    one.task_retried();
    one.tasks_redistributed(2);
    one.fetch_finished(Duration::from_millis(20), true);
    one.http_request("GET", "/api/v1/tasks/{id}", 404, Duration::from_millis(3));

    let text = one.render(GaugeWriter::default());
    assert_eq!(value(&text, "switchyard_tasks_submitted_total"), Some(3.0));
    assert_eq!(value(&text, "switchyard_tasks_started_total"), Some(2.0));
    for (outcome, n) in [
        ("succeeded", 1.0),
        ("failed", 0.0),
        ("timed_out", 1.0),
        ("cancelled", 0.0),
    ] {
        let series = format!("switchyard_tasks_finished_total{{outcome=\"{outcome}\"}}");
        assert_eq!(value(&text, &series), Some(n), "{series}\n{text}");
    }
    assert_eq!(value(&text, "switchyard_tasks_retries_total"), Some(1.0));
    assert_eq!(
        value(&text, "switchyard_tasks_redistributed_total"),
        Some(2.0)
    );
    assert_eq!(
        value(&text, "switchyard_task_queue_wait_seconds_count"),
        Some(1.0)
    );
    assert_eq!(
        value(
            &text,
            "switchyard_task_queue_wait_seconds_bucket{le=\"0.5\"}"
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            "switchyard_fetch_duration_seconds_count{result=\"tasks\"}"
        ),
        Some(1.0)
    );
    assert!(text.contains(
        "switchyard_http_requests_total{method=\"GET\",route=\"/api/v1/tasks/{id}\",status=\"404\"} 1"
    ));
    assert!(text.contains("# TYPE switchyard_http_request_duration_seconds histogram"));
    assert!(text.contains("# HELP switchyard_tasks_submitted_total Tasks submitted."));

    // The other instance saw nothing.
    let text = two.render(GaugeWriter::default());
    assert_eq!(value(&text, "switchyard_tasks_submitted_total"), Some(0.0));
    assert!(!text.contains("switchyard_http_requests_total{"));
}

#[test]
fn throughput_follows_the_counters() {
    let metrics = Metrics::new();
    metrics.tasks_submitted(2);
    metrics.task_started(None);
    metrics.task_finished(TaskState::Failed);
    let now = metrics
        .throughput()
        .intervals
        .last()
        .copied()
        .unwrap_or_default();
    assert_eq!((now.submitted, now.started, now.finished), (2, 1, 1));
}
