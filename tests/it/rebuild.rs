//! The dispatcher's panic policy, on the real coordinator: a panic inside
//! the dispatcher's lock does not leave it serving a possibly half-changed
//! cache. `/health` says it is being rebuilt, nothing is handed out
//! meanwhile, tasks submitted meanwhile are kept, and once rebuilt from the
//! database every queued task (from before and during) reaches a worker,
//! what ran before is still counted against the worker's slots, and the
//! rebuild is counted in `/metrics`.

use std::collections::BTreeSet;
use std::time::Duration;

use reqwest::StatusCode;
use switchyard_coordinator::service::health::REBUILDING;
use switchyard_protocol::{HealthReport, HealthStatus, ReportOutcome, TaskId};
use switchyard_tests::{AppOptions, spawn_app, wait_until};

use crate::observability::health::health;
use crate::observability::{sample, scrape};
use crate::sim::{self, SimWorker};

const DEADLINE: Duration = Duration::from_secs(20);

fn says_rebuilding(report: &HealthReport) -> bool {
    report.reasons.iter().any(|reason| reason == REBUILDING)
}

#[tokio::test]
async fn a_panic_in_the_dispatcher_is_rebuilt_from_the_database_and_health_says_so_meanwhile() {
    let app = spawn_app(AppOptions::new()).await;
    let worker = SimWorker::register(&app.client, "w", &["linux"], 2).await;
    let submit = || async {
        app.client
            .submit(&sim::task(&["true"], &["linux"]))
            .await
            .unwrap()
            .id
    };
    // One task runs (one of the worker's two slots), one waits.
    let running = submit().await;
    let assignment = crate::observability::take(&worker, running).await;
    let before = submit().await;

    let state = app.state();
    // Holding the seed lock lets the rebuild load the workers but not seed
    // the queued tasks: the dispatcher stays in its rebuilding state until
    // the test has looked at it.
    let seeding = state.seed_lock().lock().await;
    state.dispatch().panic_inside_lock_for_tests();

    let (status, report) = health(&app).await;
    assert_eq!(status, StatusCode::OK, "a rebuild is degraded, not down");
    assert_eq!(report.status, HealthStatus::Degraded, "{report:?}");
    assert!(says_rebuilding(&report), "{report:?}");
    let text = scrape(&app).await;
    assert_eq!(sample(&text, "switchyard_dispatcher_rebuilding"), Some(1.0));
    assert_eq!(
        sample(&text, "switchyard_dispatcher_rebuilds_total"),
        Some(0.0)
    );

    // Submissions are still recorded, but nothing is handed out.
    let during = submit().await;
    assert!(
        worker.fetch(2, 0.3).await.is_empty(),
        "handed out from a dispatcher being rebuilt"
    );

    drop(seeding);
    wait_until("the rebuild to end", DEADLINE, || async {
        let text = scrape(&app).await;
        sample(&text, "switchyard_dispatcher_rebuilds_total") == Some(1.0)
            && sample(&text, "switchyard_dispatcher_rebuilding") == Some(0.0)
    })
    .await;
    let (_, report) = health(&app).await;
    assert!(!says_rebuilding(&report), "{report:?}");

    // The rebuilt dispatcher knows the running task holds a slot: one task
    // now, the other once it is reported.
    let first = worker.fetch(2, 5.0).await;
    assert_eq!(first.len(), 1, "one free slot: {first:?}");
    worker
        .report(&assignment, ReportOutcome::Succeeded, Some(0))
        .await;
    let second = worker.fetch(2, 5.0).await;
    assert_eq!(second.len(), 1, "{second:?}");
    let handed: BTreeSet<TaskId> = first.iter().chain(&second).map(|a| a.task_id).collect();
    assert_eq!(handed, BTreeSet::from([before, during]));
}
