//! Switchyard's own PostgreSQL schema: a database an earlier release made in
//! `public` moves into it whole at start-up, and an application's tables of
//! the same names in `public` are left alone; its rows are read strictly.

use sea_orm::{ConnectionTrait, DatabaseConnection, DbBackend, FromQueryResult, Statement};
use switchyard_config::DatabaseUrl;
use switchyard_migration::{Migrator, MigratorTrait};
use switchyard_protocol::{
    Client, ListTasksQuery, Role, StatusCode, SubmitTask, TaskId, TaskState,
};
use switchyard_tests::{AppOptions, SCHEMA, empty_database, spawn_app, spawn_app_on};

/// Every table the earlier release created, the migrator's own included.
const TABLES: [&str; 7] = [
    "seaql_migrations",
    "workers",
    "tasks",
    "task_attempts",
    "tasks_archive",
    "principals",
    "api_tokens",
];

/// A user's API token, as the earlier release issued it (stored hashed).
const ALICE_TOKEN: &str = "sy_aliceAliceAliceAliceAliceAliceAliceAlice01A";

fn true_task() -> SubmitTask {
    SubmitTask {
        argv: vec!["true".to_owned()],
        ..SubmitTask::default()
    }
}

#[derive(Debug, FromQueryResult)]
struct Rows {
    rows: Option<String>,
}

#[derive(Debug, FromQueryResult)]
struct Count {
    n: i64,
}

/// Every row of `table` on `db`'s search path, as JSON, in a fixed order.
async fn rows(db: &DatabaseConnection, table: &str) -> String {
    let sql = format!(
        "SELECT string_agg(to_jsonb(x)::text, E'\\n' ORDER BY to_jsonb(x)::text) AS rows \
         FROM {table} x"
    );
    Rows::find_by_statement(Statement::from_string(DbBackend::Postgres, sql))
        .one(db)
        .await
        .unwrap()
        .unwrap()
        .rows
        .unwrap_or_else(|| panic!("{table} is empty"))
}

async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    Count::find_by_statement(Statement::from_string(DbBackend::Postgres, sql))
        .one(db)
        .await
        .unwrap()
        .unwrap()
        .n
}

/// Tables and types of `schema` (indexes and sequences count as tables).
async fn objects_in(db: &DatabaseConnection, schema: &str) -> i64 {
    count(
        db,
        &format!(
            "SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
                     WHERE n.nspname = '{schema}') \
                  + (SELECT count(*) FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace \
                     WHERE n.nspname = '{schema}' AND t.typtype = 'e') AS n"
        ),
    )
    .await
}

/// How many migrations the last release before the schema option had (the
/// ones up to the lost-attempt fence); later ones create in the schema.
const EARLIER_RELEASE_MIGRATIONS: u32 = 7;

/// What an earlier release's coordinator left: workers in each state,
/// principals and tokens, tasks in every state with their attempts, and
/// an archived task.
const EARLIER_RELEASE_ROWS: &str = "
INSERT INTO workers (name, tags, slots, state, left_at, instance_hash) VALUES
    ('w-active', '{linux}', 2, 'active', NULL, sha256('key'::bytea)),
    ('w-draining', '{linux,gpu}', 1, 'draining', NULL, NULL),
    ('w-gone', '{linux}', 1, 'gone', now() - interval '1 day', NULL);
INSERT INTO principals (name, role) VALUES ('root', 'admin'), ('alice', 'user'), ('fleet', 'worker');
INSERT INTO api_tokens (principal_id, kind, token_hash, prefix, label)
SELECT id, 'api', sha256(convert_to('sy_aliceAliceAliceAliceAliceAliceAliceAlice01A', 'UTF8')),
       'sy_aliceAl', 'laptop'
FROM principals WHERE name = 'alice';
INSERT INTO api_tokens (principal_id, kind, token_hash, prefix)
SELECT id, 'registration', sha256('fleet'::bytea), 'sy_fleetFl' FROM principals WHERE name = 'fleet';
INSERT INTO api_tokens (principal_id, kind, token_hash, prefix, worker_id, registered_with)
SELECT p.id, 'worker', sha256('worker'::bytea), 'sy_worker0', w.id, r.id
FROM principals p, workers w, api_tokens r
WHERE p.name = 'fleet' AND w.name = 'w-active' AND r.kind = 'registration';
INSERT INTO tasks (owner, state, argv, env, tags, labels, priority, timeout_secs, max_attempts,
                   attempts, worker_id, not_before, exit_code, stdout, stderr, error,
                   idempotency_key, started_at, finished_at)
SELECT 'alice', s.state::task_state, ARRAY['echo', s.state], '{\"K\": \"v\"}', '{linux}',
       ARRAY['batch-7'], s.priority, 60, 3, s.attempts,
       CASE WHEN s.attempts > 0 THEN (SELECT id FROM workers WHERE name = 'w-active') END,
       CASE WHEN s.state = 'queued' AND s.attempts > 0 THEN now() + interval '1 hour' END,
       CASE WHEN s.state IN ('succeeded', 'failed') THEN s.priority END,
       CASE WHEN s.attempts > 0 THEN 'out ' || s.state END, '', NULL,
       'key-' || s.state || s.priority,
       CASE WHEN s.attempts > 0 THEN now() - interval '1 minute' END,
       CASE WHEN s.state NOT IN ('queued', 'running') THEN now() END
FROM (VALUES ('queued', 9, 0), ('queued', 1, 1), ('running', 5, 1), ('succeeded', 0, 1),
             ('failed', 1, 3), ('cancelled', 2, 0), ('timed_out', 3, 2))
     AS s (state, priority, attempts);
INSERT INTO task_attempts (task_id, attempt, worker_id, started_at, finished_at, outcome,
                           exit_code, error)
SELECT t.id, a.n, t.worker_id, now() - interval '1 minute',
       CASE WHEN t.state = 'running' AND a.n = t.attempts THEN NULL ELSE now() END,
       CASE WHEN t.state = 'running' AND a.n = t.attempts THEN NULL
            WHEN a.n < t.attempts THEN 'lost'
            WHEN t.state = 'queued' THEN 'interrupted'
            ELSE t.state::text END,
       t.exit_code, NULL
FROM tasks t CROSS JOIN LATERAL generate_series(1, t.attempts) AS a (n);
INSERT INTO tasks_archive (id, owner, state, argv, env, working_dir, tags, labels, priority,
                           timeout_secs, max_attempts, attempts, worker_id, cancel_requested,
                           not_before, exit_code, stdout, stderr, stdout_truncated,
                           stderr_truncated, error, idempotency_key, created_at, started_at,
                           finished_at, archived_at)
VALUES (1000, 'alice', 'succeeded', '{echo,old}', '{}', '/tmp', '{linux}', '{}', 5, 60, 1, 1,
        NULL, false, NULL, 0, 'old output', '', false, false, NULL, NULL,
        now() - interval '40 days', now() - interval '40 days', now() - interval '40 days',
        now() - interval '10 days');
";

#[tokio::test]
async fn a_database_of_the_earlier_release_moves_into_the_schema_intact() {
    let database = empty_database().await;
    // The earlier release: its migrations, everything in `public`.
    let public = database.connect_in("public").await;
    Migrator::up(&public, Some(EARLIER_RELEASE_MIGRATIONS))
        .await
        .unwrap();
    public
        .execute_unprepared(EARLIER_RELEASE_ROWS)
        .await
        .unwrap();
    let mut before = Vec::new();
    for table in TABLES {
        before.push(rows(&public, table).await);
    }
    public.close().await.unwrap();

    // The new start-up migration.
    let url = DatabaseUrl::new(database.url.clone());
    let db = switchyard_coordinator::startup::connect(&url, 1, SCHEMA)
        .await
        .unwrap();
    switchyard_coordinator::startup::migrate(&db, SCHEMA)
        .await
        .unwrap();
    db.close().await.unwrap();

    let db = database.connect().await;
    for (table, before) in TABLES.iter().zip(&before) {
        // A task is split in two since (its state, its spec); the view
        // `task_rows` shows it whole.
        // An attempt's row is written when it ends: a running one is read
        // from its task's row.
        let whole = match *table {
            "tasks" => "task_rows",
            "task_attempts" => {
                "(SELECT * FROM task_attempts UNION ALL \
                  SELECT id, attempts, worker_id, started_at, NULL, NULL, NULL, NULL \
                  FROM tasks WHERE state = 'running')"
            }
            other => other,
        };
        let after = rows(&db, whole).await;
        if *table == "seaql_migrations" {
            // The earlier release's record, then the migrations since.
            assert!(after.starts_with(before.as_str()), "{table}: {after}");
        } else {
            assert_eq!(&after, before, "{table}");
        }
    }
    assert_eq!(objects_in(&db, "public").await, 0, "left in public");
    assert!(objects_in(&db, SCHEMA).await > 20);

    // A coordinator on it serves what the earlier one stored.
    let app = spawn_app_on(database, AppOptions::new()).await;
    let alice = Client::new(&app.base_url).unwrap().with_token(ALICE_TOKEN);
    let who = alice.whoami().await.unwrap();
    assert_eq!((who.role, who.principal.as_str()), (Role::User, "alice"));
    let page = alice.list_tasks(&ListTasksQuery::default()).await.unwrap();
    assert_eq!(page.tasks.len(), 7);
    let running = page
        .tasks
        .iter()
        .find(|task| task.state == TaskState::Running)
        .unwrap();
    let attempts = alice.attempts(running.id).await.unwrap();
    assert_eq!(attempts.len(), 1);
    assert_eq!(attempts[0].outcome, None);
    let failed = page
        .tasks
        .iter()
        .find(|task| task.state == TaskState::Failed)
        .unwrap();
    assert_eq!(alice.attempts(failed.id).await.unwrap().len(), 3);
    let archived = alice.task(TaskId(1000)).await.unwrap();
    assert_eq!(
        (archived.state, archived.argv.as_slice()),
        (
            TaskState::Succeeded,
            ["echo".to_owned(), "old".to_owned()].as_slice()
        )
    );
    let workers = app.client.list_workers().await.unwrap();
    assert!(workers.iter().any(|worker| worker.name == "w-draining"));
    // The identity sequences moved with their tables: new rows follow on.
    let new = alice.submit(&true_task()).await.unwrap();
    assert!(new.id.0 > page.tasks.iter().map(|t| t.id.0).max().unwrap());
}

#[tokio::test]
async fn an_applications_tables_in_public_are_left_alone() {
    let database = empty_database().await;
    let public = database.connect_in("public").await;
    // An application with its own `tasks` and its own sea-orm migrations.
    public
        .execute_unprepared(
            "CREATE TABLE tasks (id serial PRIMARY KEY, title text NOT NULL); \
             INSERT INTO tasks (title) VALUES ('write the report'); \
             CREATE TABLE seaql_migrations (version varchar PRIMARY KEY, applied_at bigint NOT NULL); \
             INSERT INTO seaql_migrations VALUES ('m20250101_000001_app_tasks', 0);",
        )
        .await
        .unwrap();
    let app = spawn_app_on(database, AppOptions::new()).await;
    let task = app.client.submit(&true_task()).await.unwrap();
    assert_eq!(app.client.task(task.id).await.unwrap().id, task.id);

    assert_eq!(
        rows(&public, "tasks").await,
        r#"{"id": 1, "title": "write the report"}"#
    );
    assert_eq!(
        rows(&public, "seaql_migrations").await,
        r#"{"version": "m20250101_000001_app_tasks", "applied_at": 0}"#
    );
    let db = app.db.connect().await;
    assert_eq!(count(&db, "SELECT count(*) AS n FROM tasks").await, 1);
    assert_eq!(
        count(&db, "SELECT count(*) AS n FROM seaql_migrations").await,
        i64::try_from(Migrator::migrations().len()).unwrap()
    );
}

#[tokio::test]
async fn db_schema_names_where_everything_lives() {
    let app = spawn_app(AppOptions::new().flag("--db-schema", "jobs")).await;
    let task = app.client.submit(&true_task()).await.unwrap();
    let jobs = app.db.connect_in("jobs").await;
    assert_eq!(
        count(
            &jobs,
            &format!("SELECT count(*) AS n FROM tasks WHERE id = {}", task.id.0)
        )
        .await,
        1
    );
    // The copy of the template has the default schema, untouched.
    let default = app.db.connect().await;
    assert_eq!(count(&default, "SELECT count(*) AS n FROM tasks").await, 0);
    for table in TABLES {
        let n = count(
            &jobs,
            &format!(
                "SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'jobs' \
                 AND tablename = '{table}'"
            ),
        )
        .await;
        assert_eq!(n, 1, "{table}");
    }
}

/// Rows are read strictly: a token whose kind this release does not know
/// (written past the CHECK constraint, or by a later release) is an error
/// wherever it is read, never taken for an API token.
#[tokio::test]
async fn a_token_of_an_unknown_kind_is_an_error_not_an_api_token() {
    let app = spawn_app(AppOptions::new()).await;
    let db = app.db.connect().await;
    db.execute_unprepared(
        "ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_kind_check; \
         INSERT INTO principals (name, role) VALUES ('root', 'admin'); \
         INSERT INTO api_tokens (principal_id, kind, token_hash, prefix) \
         SELECT id, 'session', sha256(convert_to('sy_aliceAliceAliceAliceAliceAliceAliceAlice01A', 'UTF8')), \
                'sy_aliceAl' FROM principals WHERE name = 'root';",
    )
    .await
    .unwrap();
    let refused = Client::new(&app.base_url)
        .unwrap()
        .with_token(ALICE_TOKEN)
        .whoami()
        .await
        .unwrap_err();
    assert_eq!(refused.status(), Some(StatusCode::INTERNAL_SERVER_ERROR));
    let listing = app.client.admin_tokens().await.unwrap_err();
    assert_eq!(listing.status(), Some(StatusCode::INTERNAL_SERVER_ERROR));
}
