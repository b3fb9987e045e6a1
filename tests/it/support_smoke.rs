//! The test support itself: databases, the in-process app, real processes
//! and waiting.

use std::time::Duration;

use sea_orm::{ConnectionTrait, DbBackend, Statement};
use switchyard_tests::{AppOptions, spawn_app, test_database, wait_until};

/// `SELECT current_database()` over a fresh connection to `db`.
async fn current_database(db: &switchyard_tests::TestDatabase) -> String {
    let conn = db.connect().await;
    let row = conn
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT current_database() AS name, 1 AS one",
        ))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(row.try_get::<i32>("", "one").unwrap(), 1);
    let name = row.try_get("", "name").unwrap();
    conn.close().await.unwrap();
    name
}

#[tokio::test]
async fn each_test_database_is_fresh_and_distinct() {
    let first = test_database().await;
    let second = test_database().await;
    assert_ne!(first.name, second.name);
    assert_ne!(first.url, second.url);
    assert_eq!(current_database(&first).await, first.name);
    assert_eq!(current_database(&second).await, second.name);
}

#[tokio::test]
async fn without_test_database_url_a_private_cluster_serves() {
    if std::env::var("TEST_DATABASE_URL").is_ok_and(|url| !url.trim().is_empty()) {
        assert!(switchyard_tests::private_cluster().is_none());
        return;
    }
    let cluster = switchyard_tests::private_cluster().unwrap();
    let db = test_database().await;
    assert_eq!(db.url, cluster.url(&db.name));
    assert_ne!(cluster.port(), 5432, "must not use the system server");
    assert_eq!(current_database(&db).await, db.name);
}

#[tokio::test]
async fn wait_until_returns_what_the_check_found() {
    let mut calls = 0;
    let found = wait_until("the third call", Duration::from_secs(5), || {
        calls += 1;
        let n = calls;
        async move { (n >= 3).then_some(n) }
    })
    .await;
    assert_eq!(found, 3);
    wait_until("a plain true", Duration::from_secs(1), || async { true }).await;
}

#[tokio::test]
#[should_panic(expected = "timed out after 100ms waiting for something that never happens")]
async fn wait_until_panics_at_its_deadline() {
    wait_until(
        "something that never happens",
        Duration::from_millis(100),
        || async { false },
    )
    .await;
}

#[tokio::test]
async fn spawn_app_serves_restarts_and_shuts_down() {
    let mut app = spawn_app(AppOptions::new().heartbeat("200ms", "1s")).await;
    let health = app.http.get(app.url("/health")).send().await.unwrap();
    assert_eq!(health.status(), reqwest::StatusCode::OK);
    assert!(app.client.list_workers().await.unwrap().is_empty());

    let old_addr = app.addr;
    app.restart().await;
    assert!(app.is_running());
    assert_ne!(app.addr, old_addr);
    assert!(app.client.list_workers().await.unwrap().is_empty());

    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn real_coordinator_and_agent_processes_talk() {
    let db = test_database().await;
    let (mut coordinator, base_url) = switchyard_tests::spawn_coordinator_process(
        &db.url,
        &["--heartbeat-interval", "200ms", "--heartbeat-timeout", "2s"],
    )
    .await;
    let client = switchyard_tests::admin_client(&base_url);
    let mut agent = switchyard_tests::spawn_agent_process(&base_url, &["linux", "smoke"], 2, &[]);

    let workers = wait_until("the agent to register", Duration::from_secs(30), || async {
        let workers = client.list_workers().await.ok()?;
        (!workers.is_empty()).then_some(workers)
    })
    .await;
    assert_eq!(workers.len(), 1);

    agent.sigterm();
    agent.wait_exit(Duration::from_secs(30)).await;
    coordinator.sigterm();
    let status = coordinator.wait_exit(Duration::from_secs(30)).await;
    assert!(status.success(), "coordinator exited with {status}");
}
