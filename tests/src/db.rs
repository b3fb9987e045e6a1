//! A fresh, empty PostgreSQL database for every test.
//!
//! With `TEST_DATABASE_URL` set (a server URL such as
//! `postgres://postgres@127.0.0.1:5432/postgres`; the user must be allowed to
//! create databases), databases are created there and dropped when the
//! [`TestDatabase`] is dropped, so a shared server does not fill up.
//! Otherwise the test process starts one private throw-away cluster on first
//! use and creates every database in it; the cluster and its databases
//! vanish when the process exits.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use switchyard_coordinator::devdb::{self, PgCluster};

/// The private cluster, started once per test process. Only the outcome is
/// kept here: no pool or other runtime-bound object, since every
/// `#[tokio::test]` has its own runtime. A failure is kept too, so every test
/// reports it at once instead of each trying again.
static PRIVATE_CLUSTER: OnceLock<Result<PgCluster, String>> = OnceLock::new();

/// One test's database. Dropping it drops the database when it lives on a
/// shared server (`TEST_DATABASE_URL`).
#[derive(Debug)]
pub struct TestDatabase {
    /// Connection URL of this database.
    pub url: String,
    /// Its name, unique across test processes.
    pub name: String,
    /// The shared server to drop it from, if any.
    shared_server: Option<String>,
}

impl TestDatabase {
    /// A sea-orm connection (small pool) to this database, for tests that
    /// look at or arrange rows directly.
    pub async fn connect(&self) -> sea_orm::DatabaseConnection {
        let mut options = sea_orm::ConnectOptions::new(self.url.clone());
        options.max_connections(4).sqlx_logging(false);
        sea_orm::Database::connect(options)
            .await
            .unwrap_or_else(|e| panic!("failed to connect to test database {}: {e}", self.name))
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let Some(server) = self.shared_server.take() else {
            return;
        };
        let name = std::mem::take(&mut self.name);
        // Drop may run inside a runtime that must not be blocked on, so the
        // statement runs on its own thread with its own small runtime.
        let dropper = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime
                .block_on(devdb::drop_database_at(&server, &name))
                .map_err(std::io::Error::other)
        });
        match dropper.join() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("warning: failed to drop a test database: {e}"),
            Err(_) => eprintln!("warning: the thread dropping a test database panicked"),
        }
    }
}

/// Creates a fresh, uniquely named, empty database for one test (no
/// migrations: `spawn_app` or the test applies what it needs).
pub async fn test_database() -> TestDatabase {
    let name = unique_name();
    match shared_server() {
        Some(server) => {
            devdb::create_database_at(&server, &name)
                .await
                .unwrap_or_else(|e| {
                    panic!("failed to create test database {name} on TEST_DATABASE_URL: {e}")
                });
            TestDatabase {
                url: devdb::database_url(&server, &name),
                name,
                shared_server: Some(server),
            }
        }
        None => {
            let cluster = private_cluster().expect("TEST_DATABASE_URL is unset");
            cluster.create_database(&name).await.unwrap_or_else(|e| {
                panic!("failed to create test database {name} in the private cluster: {e}")
            });
            TestDatabase {
                url: cluster.url(&name),
                name,
                shared_server: None,
            }
        }
    }
}

/// The private cluster this process uses, started on first call; `None` when
/// `TEST_DATABASE_URL` names a server instead. Blocks for a second or two the
/// first time.
pub fn private_cluster() -> Option<&'static PgCluster> {
    if shared_server().is_some() {
        return None;
    }
    let cluster = PRIVATE_CLUSTER.get_or_init(|| {
        PgCluster::start_ephemeral().map_err(|e| {
            format!(
                "failed to start a private PostgreSQL cluster for the tests \
                 (or set TEST_DATABASE_URL to a server): {e}"
            )
        })
    });
    match cluster {
        Ok(cluster) => Some(cluster),
        Err(message) => panic!("{message}"),
    }
}

/// `TEST_DATABASE_URL`, if set and not empty.
fn shared_server() -> Option<String> {
    std::env::var("TEST_DATABASE_URL")
        .ok()
        .filter(|url| !url.trim().is_empty())
}

/// `switchyard_test_<pid>_<millis>_<n>`: unique across concurrent and
/// successive test processes sharing a server.
fn unique_name() -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis());
    format!("switchyard_test_{}_{millis}_{n}", std::process::id())
}
