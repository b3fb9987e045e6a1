//! A fresh PostgreSQL database for every test: migrated ([`test_database`])
//! or empty ([`empty_database`]).
//!
//! With `TEST_DATABASE_URL` set (a server URL such as
//! `postgres://postgres@127.0.0.1:5432/postgres`; the user must be allowed to
//! create databases), databases are created there and dropped when the
//! [`TestDatabase`] is dropped, so a shared server does not fill up.
//! Otherwise the test process starts one private throw-away cluster on first
//! use and creates every database in it; the cluster and its databases
//! vanish when the process exits.
//!
//! A migrated database is a copy (`CREATE DATABASE … TEMPLATE …`) of one
//! template database per server, migrated once: copying takes a fraction of
//! the time migrating does. The template is named after the migrations it
//! holds, so a new migration gets a new template, and it is built under an
//! advisory lock, so test processes sharing a server build it once. (A
//! migration edited in place keeps its name: on a shared server, drop the
//! `switchyard_template_…` databases after such an edit.)

use std::hash::{Hash, Hasher};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use switchyard_config::DatabaseUrl;
use switchyard_config::coordinator::DEFAULT_DB_SCHEMA;
use switchyard_coordinator::devdb::{self, PgCluster};
use switchyard_migration::{Migrator, MigratorTrait};

/// The private cluster, started once per test process. Only the outcome is
/// kept here: no pool or other runtime-bound object, since every
/// `#[tokio::test]` has its own runtime. A failure is kept too, so every test
/// reports it at once instead of each trying again.
static PRIVATE_CLUSTER: OnceLock<Result<PgCluster, String>> = OnceLock::new();

/// The migrated template's name, once this process made sure it exists (on
/// the one server this process uses), or why it could not.
static TEMPLATE: OnceLock<Result<String, String>> = OnceLock::new();

/// The schema test coordinators use: the default one.
pub const SCHEMA: &str = DEFAULT_DB_SCHEMA;

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
    /// Another handle on this same database, for a second coordinator on it
    /// (a cluster); only the original drops the database.
    pub fn share(&self) -> TestDatabase {
        TestDatabase {
            url: self.url.clone(),
            name: self.name.clone(),
            shared_server: None,
        }
    }

    /// A sea-orm connection (small pool) to this database, for tests that
    /// look at or arrange rows directly: it searches Switchyard's schema
    /// ([`SCHEMA`]), as the coordinator's connections do.
    pub async fn connect(&self) -> sea_orm::DatabaseConnection {
        self.connect_in(SCHEMA).await
    }

    /// A connection like [`connect`](Self::connect) whose `search_path` is
    /// `search_path` (`"public"`: as releases before the schema option had
    /// it).
    pub async fn connect_in(&self, search_path: &str) -> sea_orm::DatabaseConnection {
        let mut options = sea_orm::ConnectOptions::new(self.url.clone());
        options
            .set_schema_search_path(search_path)
            .max_connections(4)
            .sqlx_logging(false);
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

/// Creates a fresh, uniquely named database for one test, with every
/// migration applied in [`SCHEMA`] (a copy of the template).
pub async fn test_database() -> TestDatabase {
    let template = match TEMPLATE.get_or_init(build_template) {
        Ok(name) => name.clone(),
        Err(message) => panic!("{message}"),
    };
    new_database(Some(&template)).await
}

/// Creates a fresh, uniquely named, empty database for one test (no
/// schema, no migrations: the test applies what it needs).
pub async fn empty_database() -> TestDatabase {
    new_database(None).await
}

/// A new database on this process's server, empty or a copy of `template`.
async fn new_database(template: Option<&str>) -> TestDatabase {
    let name = unique_name();
    let server = server_url();
    let created = match template {
        Some(template) => devdb::clone_database_at(&server, &name, template).await,
        None => devdb::create_database_at(&server, &name).await,
    };
    created.unwrap_or_else(|e| panic!("failed to create test database {name}: {e}"));
    TestDatabase {
        url: devdb::database_url(&server, &name),
        name,
        shared_server: shared_server(),
    }
}

/// The URL of the server this process's databases live on (its `postgres`
/// database): `TEST_DATABASE_URL`, or the private cluster, started on first
/// call.
pub fn server_url() -> String {
    match shared_server() {
        Some(server) => server,
        None => private_cluster()
            .expect("TEST_DATABASE_URL is unset")
            .url("postgres"),
    }
}

/// Makes sure the migrated template exists on this process's server and
/// answers its name. Runs on a thread of its own with its own runtime: it
/// is called once, from whichever test's runtime comes first.
fn build_template() -> Result<String, String> {
    let server = server_url();
    let name = template_name();
    let builder = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime
            .block_on(devdb::ensure_database_at(&server, &name, migrate))
            .map_err(|e| format!("failed to build the template test database {name}: {e}"))?;
        Ok(name)
    });
    builder
        .join()
        .unwrap_or_else(|_| Err("the thread building the template database panicked".to_owned()))
}

/// Applies every migration to the database at `url`, as `coordinator serve`
/// does at start-up.
async fn migrate(url: String) -> Result<(), String> {
    let url = DatabaseUrl::new(url);
    let db = switchyard_coordinator::startup::connect(&url, 1, SCHEMA)
        .await
        .map_err(|e| format!("{e:#}"))?;
    let migrated = switchyard_coordinator::startup::migrate(&db, SCHEMA)
        .await
        .map_err(|e| format!("{e:#}"));
    // No connection may stay on a template.
    db.close().await.map_err(|e| e.to_string())?;
    migrated
}

/// `switchyard_template_<hash>`, the hash of the schema and the migrations'
/// names.
fn template_name() -> String {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    SCHEMA.hash(&mut hasher);
    for migration in Migrator::migrations() {
        migration.name().hash(&mut hasher);
    }
    format!("switchyard_template_{:016x}", hasher.finish())
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

/// How many backends of `db`'s database wait for a lock now: how a test
/// sees that a statement is blocked inside the server.
pub async fn backends_waiting_on_a_lock(db: &sea_orm::DatabaseConnection) -> i64 {
    use sea_orm::ConnectionTrait;
    let row = db
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT count(*) AS n FROM pg_stat_activity \
             WHERE datname = current_database() AND wait_event_type = 'Lock'",
        ))
        .await
        .expect("pg_stat_activity answers")
        .expect("a count answers a row");
    row.try_get::<i64>("", "n").expect("the count is a bigint")
}

/// Writes a queued task requiring `tags` straight into `db`'s database,
/// behind every coordinator's back (as a lost notification leaves one);
/// answers its id.
pub async fn insert_queued_task(
    db: &sea_orm::DatabaseConnection,
    tags: &[&str],
) -> switchyard_protocol::TaskId {
    use sea_orm::ConnectionTrait;
    let tags: Vec<String> = tags.iter().map(|&tag| tag.to_owned()).collect();
    let row = db
        .query_one_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DbBackend::Postgres,
            "WITH state AS (INSERT INTO tasks (priority, timeout_secs, max_attempts) \
                 VALUES (0, 60, 1) RETURNING id) \
             INSERT INTO task_specs (id, owner, argv, env, tags, labels) \
             SELECT id, 'admin', '{true}', '{}', $1, '{}' FROM state RETURNING id",
            [tags.into()],
        ))
        .await
        .expect("the task is inserted")
        .expect("the insert answers its row");
    switchyard_protocol::TaskId(row.try_get::<i64>("", "id").expect("the id is a bigint"))
}
