//! The leader's reconciliation repairs what slips past the dispatcher: a
//! queued task written to the database behind its back (as a standby whose
//! notification was lost leaves it) reaches a worker once two passes have
//! seen it missing, and the repair is counted.

use switchyard_coordinator::service::reconcile;
use switchyard_tests::{AppOptions, insert_queued_task, spawn_app, wait_until};

use crate::observability::{sample, scrape};
use crate::sim::SimWorker;

const MISSING: &str = "switchyard_reconcile_repairs_total{kind=\"task_missing\"}";

#[tokio::test]
async fn a_queued_task_the_dispatcher_missed_is_handed_out_and_counted() {
    let app = spawn_app(AppOptions::new()).await;
    let worker = SimWorker::register(&app.client, "w", &["linux"], 1).await;
    assert_eq!(sample(&scrape(&app).await, MISSING), Some(0.0));

    // Nobody tells the dispatcher of this task.
    let db = app.db.connect().await;
    let id = insert_queued_task(&db, &["linux"]).await;

    let handed = wait_until(
        "the reconciliation to offer the missed task",
        reconcile::INTERVAL * 4,
        || async { worker.fetch(1, 1.0).await.pop() },
    )
    .await;
    assert_eq!(handed.task_id, id);
    assert_eq!(sample(&scrape(&app).await, MISSING), Some(1.0));
}
