//! `/stats` in headless Chromium shows what `/api/v1/stats` says.

use std::path::{Path, PathBuf};
use std::time::Duration;

use switchyard_protocol::stats::{Stats, StatsScope, WorkerSummary};
use switchyard_protocol::{ReportOutcome, WorkerState};
use switchyard_tests::{AppOptions, TestApp, spawn_app};

use super::{get_json, run_one, submit_and_take, target_dir};
use crate::admin::TOKEN;
use crate::sim::{self, SimWorker};

/// Longest Chromium may take to load and render the page.
const BROWSER_DEADLINE: Duration = Duration::from_secs(90);

/// The `chromium` binary; fails the test, saying how to get it, when absent.
fn chromium() -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .map(|dir| dir.join("chromium"))
        .find(|candidate| candidate.is_file())
        .unwrap_or_else(|| {
            panic!(
                "chromium not found on PATH: the dashboard test needs Debian's `chromium` \
                 package (`apt-get install -y chromium`; .ci/run installs it when missing)"
            )
        })
}

/// Runs headless Chromium on `url` with `args`; returns its stdout.
async fn browse(url: &str, args: &[&str]) -> String {
    let profile = tempfile::tempdir().unwrap();
    let mut command = tokio::process::Command::new(chromium());
    command
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--hide-scrollbars",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(url)
        .kill_on_drop(true);
    let output = tokio::time::timeout(BROWSER_DEADLINE, command.output())
        .await
        .unwrap_or_else(|_| panic!("chromium did not finish within {BROWSER_DEADLINE:?}"))
        .unwrap();
    assert!(
        output.status.success(),
        "chromium failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// The text of the element after `marker` (an attribute that ends its start tag).
fn text_after<'a>(html: &'a str, marker: &str) -> &'a str {
    let start = html
        .find(marker)
        .unwrap_or_else(|| panic!("`{marker}` not on the page"))
        + marker.len();
    let rest = &html[start..];
    let rest = &rest[rest.find('>').unwrap() + 1..];
    rest[..rest.find('<').unwrap()].trim()
}

/// The `<tr>` of worker `id`.
fn worker_row(html: &str, id: i64) -> &str {
    let marker = format!("data-worker-id=\"{id}\"");
    let start = html
        .find(&marker)
        .unwrap_or_else(|| panic!("no row for worker {id} on the page"));
    let row_start = html[..start].rfind("<tr").unwrap();
    let end = start + html[start..].find("</tr>").unwrap();
    &html[row_start..end]
}

fn assert_row(html: &str, worker: &WorkerSummary) {
    let row = worker_row(html, worker.id.0);
    let field = |name: &str| text_after(row, &format!("data-field=\"{name}\""));
    let tags = if worker.tags.is_empty() {
        "(any)".to_owned()
    } else {
        worker.tags.join(", ")
    };
    assert_eq!(field("name"), worker.name, "{row}");
    assert_eq!(field("tags"), tags, "{row}");
    assert_eq!(field("state"), worker.state.as_str(), "{row}");
    assert_eq!(field("slots"), worker.slots.to_string(), "{row}");
    assert_eq!(field("queued"), worker.queued.to_string(), "{row}");
    assert_eq!(field("running"), worker.running.to_string(), "{row}");
    let marked = match worker.state {
        WorkerState::Active => "class=\"worker active\"",
        WorkerState::Draining => "class=\"worker draining\"",
        WorkerState::Gone => "class=\"worker gone\"",
    };
    assert!(
        row.contains(marked) || (worker.late && row.contains("class=\"worker late\"")),
        "{row}"
    );
}

/// A fleet with workers active, draining and gone, and tasks in every state.
async fn busy_fleet(app: &TestApp) {
    let client = &app.client;
    let builder = SimWorker::register(client, "build-01", &["linux"], 2).await;
    run_one(&builder, &["linux"], ReportOutcome::Succeeded).await;
    run_one(&builder, &["linux"], ReportOutcome::Succeeded).await;
    run_one(&builder, &["linux"], ReportOutcome::Failed).await;
    run_one(&builder, &["linux"], ReportOutcome::TimedOut).await;

    let gpu = SimWorker::register(client, "gpu-01", &["gpu", "linux"], 1).await;
    submit_and_take(&gpu, &["gpu"], 1).await; // stays running
    let _second = SimWorker::register(client, "build-02", &["linux"], 2).await;
    let mac = SimWorker::register(client, "mac-01", &["macos"], 1).await;
    let drain = app
        .http
        .post(app.url(&format!("/api/v1/admin/workers/{}/drain", mac.id)))
        .bearer_auth(TOKEN)
        .send()
        .await
        .unwrap();
    assert!(
        drain.status().is_success(),
        "{}",
        drain.text().await.unwrap()
    );
    let old = SimWorker::register(client, "old-01", &["linux"], 1).await;
    client.unregister(old.id).await.unwrap();

    let cancelled = client
        .submit(&sim::task(&["true"], &["linux"]))
        .await
        .unwrap();
    client.cancel(cancelled.id).await.unwrap();
    for priority in [3, 7, 5] {
        let task = switchyard_protocol::SubmitTask {
            priority: Some(priority),
            labels: vec!["nightly".into()],
            ..sim::task(&["make", "test"], &["linux"])
        };
        client.submit(&task).await.unwrap();
    }
    client
        .submit(&sim::task(&["true"], &["arm64"]))
        .await
        .unwrap();
}

#[tokio::test]
async fn the_dashboard_shows_mode_counts_and_every_worker_as_the_json_does() {
    let app = spawn_app(
        AppOptions::new()
            .dispatch_mode("balanced")
            .balance_strategy("round-robin")
            .flag("--admin-token", TOKEN)
            // Chromium sends no token: the page is opened to it.
            .arg("--public-stats"),
    )
    .await;
    busy_fleet(&app).await;

    // The JSON as the admin reads it; the page as Chromium does, without a
    // token, which shows no task (see stats_scope.rs for each reader).
    let stats: Stats = get_json(&app, "/api/v1/stats").await;
    assert_eq!(stats.scope, StatsScope::All);
    let dom = browse(&app.url("/stats"), &["--dump-dom"]).await;
    assert_eq!(text_after(&dom, "id=\"scope\""), "no tasks");
    assert!(dom.contains("id=\"no-tasks\""), "{dom}");
    assert!(!dom.contains("data-task-id"), "{dom}");
    assert!(
        !dom.contains("nightly"),
        "an anonymous reader sees a task's labels: {dom}"
    );
    assert!(
        !dom.contains("arm64"),
        "an anonymous reader sees a task's tags: {dom}"
    );

    assert_eq!(text_after(&dom, "id=\"mode\""), "balanced");
    assert_eq!(text_after(&dom, "id=\"strategy\""), "round-robin");
    assert_eq!(
        (stats.mode.as_str(), stats.strategy.as_str()),
        ("balanced", "round-robin")
    );
    let t = stats.tasks;
    assert_eq!(
        (
            t.queued,
            t.running,
            t.succeeded,
            t.failed,
            t.cancelled,
            t.timed_out
        ),
        (4, 1, 2, 1, 1, 1),
        "{stats:#?}"
    );
    for (state, n) in [
        ("queued", t.queued),
        ("running", t.running),
        ("succeeded", t.succeeded),
        ("failed", t.failed),
        ("cancelled", t.cancelled),
        ("timed_out", t.timed_out),
    ] {
        assert_eq!(
            text_after(&dom, &format!("id=\"count-{state}\"")),
            n.to_string(),
            "{state}"
        );
    }
    assert_eq!(
        text_after(&dom, "id=\"queued-total\""),
        stats.queue.total.to_string()
    );
    assert_eq!(stats.queue.unplaced, 1, "the arm64 task has no worker");
    assert_eq!(text_after(&dom, "id=\"unplaced\""), "1");
    let submitted: u64 = stats.throughput.intervals.iter().map(|i| i.submitted).sum();
    assert_eq!(submitted, 10);
    assert_eq!(text_after(&dom, "id=\"flow-submitted\""), "10");

    let names: Vec<&str> = stats
        .workers
        .items
        .iter()
        .map(|w| w.name.as_str())
        .collect();
    assert_eq!(
        names,
        ["build-01", "gpu-01", "build-02", "mac-01", "old-01"]
    );
    for worker in &stats.workers.items {
        assert_row(&dom, worker);
    }
    let state_of = |name: &str| {
        stats
            .workers
            .items
            .iter()
            .find(|w| w.name == name)
            .unwrap()
            .state
    };
    assert_eq!(state_of("mac-01"), WorkerState::Draining);
    assert_eq!(state_of("old-01"), WorkerState::Gone);
    let gpu = stats
        .workers
        .items
        .iter()
        .find(|w| w.name == "gpu-01")
        .unwrap();
    assert_eq!(gpu.running, 1);
    let top: Vec<i32> = stats.top_queued.iter().map(|t| t.priority).collect();
    assert_eq!(top, [7, 5, 5, 3], "highest priority first, then oldest");

    // Large fleets page: two workers a page.
    let page: Stats = get_json(&app, "/api/v1/stats?page=2&per_page=2").await;
    let names: Vec<&str> = page.workers.items.iter().map(|w| w.name.as_str()).collect();
    assert_eq!(names, ["build-02", "mac-01"]);
    assert_eq!(
        (page.workers.page, page.workers.pages, page.workers.total),
        (2, 3, 5)
    );
    let html = app
        .http
        .get(app.url("/stats?page=3&per_page=2"))
        .send()
        .await
        .unwrap();
    let html = html.text().await.unwrap();
    assert!(
        html.contains("old-01") && !html.contains("build-01"),
        "{html}"
    );
    assert!(html.contains("href=\"/stats?page=1&amp;per_page=2\""));
    let invalid = app
        .http
        .get(app.url("/api/v1/stats?per_page=0"))
        .send()
        .await
        .unwrap();
    assert_eq!(invalid.status(), reqwest::StatusCode::UNPROCESSABLE_ENTITY);

    let screenshot = target_dir().join("stats.png");
    let _ = std::fs::remove_file(&screenshot);
    browse(
        &app.url("/stats"),
        &[
            &format!("--screenshot={}", screenshot.display()),
            "--window-size=1400,1000",
        ],
    )
    .await;
    assert_png(&screenshot);
}

/// A worker name and a task label that would be markup if the page did not
/// escape them.
const HOSTILE: &str = "<script>document.title='owned'</script><b>bold</b> & \"quoted\"";

/// `HOSTILE` as it stands in the page's source once escaped.
const HOSTILE_ESCAPED: &str = "&lt;script&gt;document.title='owned'&lt;/script&gt;&lt;b&gt;bold&lt;/b&gt; &amp; &quot;quoted&quot;";

#[tokio::test]
async fn hostile_names_and_labels_are_shown_as_text() {
    let app = spawn_app(
        AppOptions::new()
            .flag("--admin-token", TOKEN)
            .arg("--public-stats"),
    )
    .await;
    let worker = SimWorker::register(&app.client, HOSTILE, &["linux"], 1).await;
    app.client
        .submit(&switchyard_protocol::SubmitTask {
            labels: vec![HOSTILE.to_owned()],
            ..sim::task(&["true"], &["linux", "gpu"])
        })
        .await
        .unwrap();

    // The admin's page lists the task too: its label is escaped like the name.
    let html = app
        .http
        .get(app.url("/stats"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        !html.contains("<script") && !html.contains("<b>bold"),
        "{html}"
    );
    let row = worker_row(&html, worker.id.0);
    assert_eq!(
        text_after(row, "data-field=\"name\""),
        HOSTILE_ESCAPED,
        "{row}"
    );
    assert!(
        html.contains(&format!("<td>{HOSTILE_ESCAPED}</td>")),
        "{html}"
    );

    // Chromium reads the name as text: no script element, the cell's text
    // is the name (which its serialiser escapes again, quotes aside).
    let dom = browse(&app.url("/stats"), &["--dump-dom"]).await;
    assert!(
        !dom.contains("<script") && !dom.contains("<b>bold"),
        "{dom}"
    );
    assert!(dom.contains("<title>Switchyard · stats</title>"), "{dom}");
    let row = worker_row(&dom, worker.id.0);
    assert_eq!(
        text_after(row, "data-field=\"name\""),
        HOSTILE_ESCAPED.replace("&quot;", "\""),
        "{row}"
    );
}

fn assert_png(path: &Path) {
    let bytes =
        std::fs::read(path).unwrap_or_else(|e| panic!("no screenshot at {}: {e}", path.display()));
    assert!(
        bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "not a PNG: {}",
        path.display()
    );
    assert!(
        bytes.len() > 10_000,
        "suspiciously small screenshot: {} bytes",
        bytes.len()
    );
}
