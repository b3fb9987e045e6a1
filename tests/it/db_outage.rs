//! The database going away under a coordinator is an outage, not a bug: a
//! request whose statement the server ends ("terminating connection due to
//! administrator command", as a restart or failover does) answers 503
//! `unavailable`, never 500, and the coordinator serves again without a
//! restart.

use std::time::Duration;

use reqwest::StatusCode;
use sea_orm::{ConnectionTrait, TransactionTrait};
use switchyard_protocol::ErrorBody;
use switchyard_tests::{AppOptions, backends_waiting_on_a_lock, spawn_app, wait_until};

use crate::sim;

#[tokio::test]
async fn a_statement_the_server_ends_answers_503_and_the_next_request_is_served() {
    let app = spawn_app(AppOptions::new()).await;
    let task = app
        .client
        .submit(&sim::task(&["true"], &["linux"]))
        .await
        .unwrap();
    let db = app.db.connect().await;

    // Hold the task's row, so that a change to it waits inside the server.
    let txn = db.begin().await.unwrap();
    txn.execute_unprepared(&format!(
        "SELECT id FROM tasks WHERE id = {} FOR UPDATE",
        task.id.0
    ))
    .await
    .unwrap();
    let change = tokio::spawn({
        let request = app
            .http
            .patch(app.url(&format!("/api/v1/tasks/{}", task.id)))
            .json(&serde_json::json!({"priority": 5}));
        async move { request.send().await.unwrap() }
    });
    wait_until(
        "the change to wait for the row",
        Duration::from_secs(10),
        || async { (backends_waiting_on_a_lock(&db).await > 0).then_some(()) },
    )
    .await;

    // The server ends every other connection of this database, the waiting
    // one among them.
    db.execute_unprepared(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .await
    .unwrap();
    let response = change.await.unwrap();
    let status = response.status();
    let body: ErrorBody = response.json().await.unwrap();
    assert_eq!(
        (status, body.code.as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        "{body:?}"
    );
    drop(txn);

    let again = app.client.task(task.id).await.unwrap();
    assert_eq!(
        again.priority, task.priority,
        "the ended change changed nothing"
    );
}
