//! Tests that start real clusters from the machine's PostgreSQL binaries.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::os::unix::fs::PermissionsExt;

use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};

use super::*;

async fn select_one(url: &str) -> i32 {
    let db = Database::connect(url).await.unwrap();
    let row = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT 1 AS one",
        ))
        .await
        .unwrap()
        .unwrap();
    let one: i32 = row.try_get("", "one").unwrap();
    db.close().await.unwrap();
    one
}

#[tokio::test]
async fn ephemeral_cluster_serves_and_vanishes_on_stop() {
    let mut cluster = PgCluster::start_ephemeral().unwrap();
    let folder = cluster.data_dir().parent().unwrap().to_owned();
    assert!(folder.join("data/PG_VERSION").exists());

    cluster.create_database("devdb_smoke").await.unwrap();
    cluster.create_database("devdb_smoke").await.unwrap(); // already there: fine
    assert_eq!(select_one(&cluster.url("devdb_smoke")).await, 1);
    assert!(matches!(
        cluster.create_database("Bad-Name").await,
        Err(DevDbError::InvalidDatabaseName(_))
    ));

    cluster.stop().unwrap();
    assert!(!folder.exists(), "{} should be removed", folder.display());
    cluster.stop().unwrap(); // twice: fine
}

#[tokio::test]
async fn durable_cluster_keeps_data_and_is_adopted_while_running() {
    let root = tempfile::Builder::new()
        .prefix("switchyard-devdb-")
        .tempdir()
        .unwrap();
    let data_dir = root.path().join("dev");

    if nix::unistd::Uid::effective().is_root() {
        // A private parent folder: the postgres user cannot reach the data.
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let err = PgCluster::start(&data_dir).unwrap_err();
        assert!(matches!(err, DevDbError::NotReachable { .. }), "{err}");
        std::fs::set_permissions(root.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    let mut first = PgCluster::start(&data_dir).unwrap();
    first.create_database("kept").await.unwrap();
    assert!(root.path().join("dev.log").exists());

    // A second start while the first server runs adopts it.
    let mut second = PgCluster::start(&data_dir).unwrap();
    assert_eq!(second.port(), first.port());
    second.stop().unwrap();
    first.stop().unwrap(); // already stopped by `second`: fine

    // Started again, the database is still there.
    let third = PgCluster::start(&data_dir).unwrap();
    assert_eq!(select_one(&third.url("kept")).await, 1);
    drop(third);
    assert!(data_dir.join("PG_VERSION").exists(), "durable data is kept");
}

#[test]
fn a_folder_with_other_files_is_refused() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("notes.txt"), "mine").unwrap();
    match PgCluster::start(root.path()) {
        Err(DevDbError::NotADataDir { .. } | DevDbError::BinariesNotFound) => {}
        other => panic!("expected NotADataDir, got {other:?}"),
    }
}
