//! Retention: finished tasks past the configured age move from `tasks` into
//! `tasks_archive` in bounded batches, stay readable through the API, and
//! never hold up dispatch.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use sea_orm::{
    ConnectionTrait, DatabaseConnection, DbBackend, FromQueryResult, Statement, TransactionTrait,
    Value,
};
use switchyard_coordinator::service::retention::{self, Retention, Sweep};
use switchyard_coordinator::storage;
use switchyard_protocol::{
    Assignment, AttemptOutcome, ListTasksQuery, ReportOutcome, SubmitTask, TaskId, TaskReport,
    TaskState,
};
use switchyard_tests::{AppOptions, TestApp, spawn_app, test_database, wait_until};
use tokio_util::sync::CancellationToken;

use crate::sim::{self, SimWorker};

/// The final states, as SQL.
const FINAL: &str = "state IN ('succeeded', 'failed', 'cancelled', 'timed_out')";

fn stmt(sql: &str, values: impl IntoIterator<Item = Value>) -> Statement {
    Statement::from_sql_and_values(DbBackend::Postgres, sql, values)
}

#[derive(Debug, FromQueryResult)]
struct IdRow {
    id: i64,
}

#[derive(Debug, FromQueryResult)]
struct CountRow {
    n: i64,
}

#[derive(Debug, FromQueryResult)]
struct JsonRow {
    id: i64,
    row: serde_json::Value,
}

async fn ids(db: &DatabaseConnection, sql: &str) -> BTreeSet<i64> {
    IdRow::find_by_statement(stmt(sql, []))
        .all(db)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .into_iter()
        .map(|r| r.id)
        .collect()
}

async fn count(db: &DatabaseConnection, sql: &str) -> i64 {
    CountRow::find_by_statement(stmt(sql, []))
        .one(db)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))
        .expect("a count")
        .n
}

/// Submits `n` tasks requiring `tags`, each carrying `label`.
async fn submit(app: &TestApp, n: usize, tags: &[&str], label: &str) -> Vec<TaskId> {
    let mut submitted = Vec::new();
    for _ in 0..n {
        let task = SubmitTask {
            labels: vec![label.to_owned()],
            ..sim::task(&["true"], tags)
        };
        submitted.push(app.client.submit(&task).await.unwrap().id);
    }
    submitted
}

/// Fetches until `worker` holds `n` assignments.
async fn fetch_n(worker: &SimWorker, n: usize) -> Vec<Assignment> {
    let mut got = Vec::new();
    tokio::time::timeout(Duration::from_secs(30), async {
        while got.len() < n {
            let want = u32::try_from(n - got.len()).unwrap();
            got.extend(worker.fetch(want, 1.0).await);
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the worker got only {} of {n} tasks", got.len()));
    got
}

/// Reports `assignment` with output that names its task.
async fn finish(worker: &SimWorker, assignment: &Assignment, outcome: ReportOutcome) {
    let id = assignment.task_id.0;
    let report = TaskReport {
        stdout: format!("out {id}"),
        stderr: format!("err {id}"),
        ..sim::report(
            assignment,
            outcome,
            Some(i32::from(outcome != ReportOutcome::Succeeded)),
        )
    };
    worker.client.report(worker.id, &report).await.unwrap();
}

/// Every archived task matching `query`, paging through with `limit`.
async fn list_archived(app: &TestApp, query: ListTasksQuery, limit: u32) -> (Vec<i64>, usize) {
    let mut all = Vec::new();
    let mut pages = 0;
    let mut cursor = None;
    loop {
        let page = app
            .client
            .list_tasks(&ListTasksQuery {
                archived: Some(true),
                limit: Some(limit),
                cursor,
                ..query.clone()
            })
            .await
            .unwrap();
        pages += 1;
        assert!(page.tasks.len() <= limit as usize);
        all.extend(page.tasks.iter().map(|t| t.id.0));
        match page.next_cursor {
            Some(next) => cursor = Some(next),
            None => return (all, pages),
        }
    }
}

fn newest_first(ids: impl IntoIterator<Item = i64>) -> Vec<i64> {
    let mut ids: Vec<i64> = ids.into_iter().collect();
    ids.sort_unstable_by(|a, b| b.cmp(a));
    ids
}

#[tokio::test]
async fn finished_tasks_past_the_age_are_archived_and_stay_readable() {
    let app = spawn_app(
        AppOptions::new()
            // The worker never heartbeats; it must not be declared dead.
            .heartbeat("1s", "10m")
            .flag("--retention-age", "1h")
            .flag("--retention-interval", "100ms")
            .flag("--retention-batch", "7"),
    )
    .await;
    let db = app.db.connect().await;
    let worker = SimWorker::register(&app.client, "w", &["w"], 100).await;

    // 50 tasks run to the end: two in three succeed, the rest fail.
    submit(&app, 50, &["w"], "old").await;
    let mut failed = BTreeSet::new();
    for assignment in fetch_n(&worker, 50).await {
        let outcome = if assignment.task_id.0 % 3 == 0 {
            failed.insert(assignment.task_id.0);
            ReportOutcome::Failed
        } else {
            ReportOutcome::Succeeded
        };
        finish(&worker, &assignment, outcome).await;
    }
    // 5 cancelled before any worker matched them, one with an idempotency key.
    let mut cancelled = submit(&app, 4, &["nobody"], "old-cancelled").await;
    let keyed = SubmitTask {
        labels: vec!["old-cancelled".to_owned()],
        idempotency_key: Some("nightly-2026-01-01".to_owned()),
        ..sim::task(&["true"], &["nobody"])
    };
    let keyed_id = app.client.submit(&keyed).await.unwrap().id;
    cancelled.push(keyed_id);
    for id in &cancelled {
        app.client.cancel(*id).await.unwrap();
    }
    // Live work and recent history, which must stay where they are.
    let young = submit(&app, 3, &["w"], "young").await;
    for assignment in fetch_n(&worker, 3).await {
        finish(&worker, &assignment, ReportOutcome::Succeeded).await;
    }
    let running = submit(&app, 3, &["w"], "running").await;
    assert_eq!(fetch_n(&worker, 3).await.len(), 3);
    let queued = submit(&app, 3, &["nobody"], "queued").await;

    // Age everything but the young tasks by two hours, queued and running
    // ones included (a queued retry has a `finished_at` too): only the state
    // may keep them in the hot table. The archive must get each row as is.
    let aged = JsonRow::find_by_statement(stmt(
        "WITH aged AS (UPDATE tasks t SET created_at = now() - interval '3 hours', \
                 finished_at = now() - interval '2 hours' \
             FROM task_specs s WHERE s.id = t.id AND NOT (s.labels @> ARRAY['young']) \
             RETURNING t.id) \
         SELECT r.id, to_jsonb(r.*) \
             || jsonb_build_object('created_at', now() - interval '3 hours', \
                                   'finished_at', now() - interval '2 hours') AS row \
         FROM aged JOIN task_rows r ON r.id = aged.id",
        [],
    ))
    .all(&db)
    .await
    .unwrap();
    let live: BTreeSet<i64> = running.iter().chain(&queued).map(|id| id.0).collect();
    let expected: HashMap<i64, serde_json::Value> = aged
        .into_iter()
        .filter(|r| !live.contains(&r.id))
        .map(|r| (r.id, r.row))
        .collect();
    assert_eq!(expected.len(), 55);

    wait_until(
        "retention to archive 55 tasks",
        Duration::from_secs(30),
        || {
            let db = &db;
            async move { count(db, "SELECT count(*) AS n FROM tasks_archive").await == 55 }
        },
    )
    .await;

    // The hot table holds no finished task past the age, and still every
    // live or young one.
    let stale = format!(
        "SELECT count(*) AS n FROM tasks WHERE {FINAL} AND finished_at < now() - interval '1 hour'"
    );
    assert_eq!(count(&db, &stale).await, 0);
    let hot = ids(&db, "SELECT id FROM tasks").await;
    let kept: BTreeSet<i64> = live
        .iter()
        .copied()
        .chain(young.iter().map(|id| id.0))
        .collect();
    assert_eq!(hot, kept);
    for (ids, state) in [
        (&running, TaskState::Running),
        (&queued, TaskState::Queued),
        (&young, TaskState::Succeeded),
    ] {
        for id in ids {
            assert_eq!(app.client.task(*id).await.unwrap().state, state, "{id}");
        }
    }

    // Each archived row is the task row as it was.
    let archived = JsonRow::find_by_statement(stmt(
        "SELECT id, to_jsonb(a.*) - 'archived_at' AS row FROM tasks_archive a",
        [],
    ))
    .all(&db)
    .await
    .unwrap();
    let archived: HashMap<i64, serde_json::Value> =
        archived.into_iter().map(|r| (r.id, r.row)).collect();
    assert_eq!(archived, expected);

    // The API still returns them, with their output.
    for &id in expected.keys() {
        let view = app.client.task(TaskId(id)).await.unwrap();
        let state = if failed.contains(&id) {
            TaskState::Failed
        } else if cancelled.contains(&TaskId(id)) {
            TaskState::Cancelled
        } else {
            TaskState::Succeeded
        };
        assert_eq!(view.state, state, "{view:?}");
        if state == TaskState::Cancelled {
            assert_eq!(view.output, None, "{view:?}");
            continue;
        }
        // And its attempt: the one that ended it is told by its archived row.
        let attempts = app.client.attempts(TaskId(id)).await.unwrap();
        assert_eq!(attempts.len(), 1, "{attempts:?}");
        let outcome = if state == TaskState::Failed {
            AttemptOutcome::Failed
        } else {
            AttemptOutcome::Succeeded
        };
        assert_eq!(attempts[0].outcome, Some(outcome), "{attempts:?}");
        let output = view.output.expect("an archived task keeps its output");
        assert_eq!(output.stdout, format!("out {id}"));
        assert_eq!(output.stderr, format!("err {id}"));
        assert_eq!(
            output.exit_code,
            Some(i32::from(state == TaskState::Failed))
        );
    }

    // `archived=true` pages through them, newest first, with the filters.
    let (listed, pages) = list_archived(&app, ListTasksQuery::default(), 10).await;
    assert_eq!(listed, newest_first(expected.keys().copied()));
    assert_eq!(pages, 6);
    let (listed, _) = list_archived(
        &app,
        ListTasksQuery {
            state: Some(TaskState::Failed),
            ..Default::default()
        },
        4,
    )
    .await;
    assert_eq!(listed, newest_first(failed.iter().copied()));
    let (listed, _) = list_archived(
        &app,
        ListTasksQuery {
            tag: Some("nobody".to_owned()),
            label: Some("old-cancelled".to_owned()),
            ..Default::default()
        },
        2,
    )
    .await;
    assert_eq!(listed, newest_first(cancelled.iter().map(|id| id.0)));
    // A plain listing shows live tasks only.
    let page = app
        .client
        .list_tasks(&ListTasksQuery::default())
        .await
        .unwrap();
    let shown: BTreeSet<i64> = page.tasks.iter().map(|t| t.id.0).collect();
    assert_eq!(shown, kept);

    // An idempotency key is unique among live tasks only: once its task is
    // archived, the same key creates a new task.
    let again = app.client.submit(&keyed).await.unwrap();
    assert_ne!(again.id, keyed_id);
    assert_eq!(again.state, TaskState::Queued);

    app.shutdown().await.unwrap();
}

/// Inserts `n` succeeded tasks that finished `ago` (an SQL interval) ago.
async fn insert_finished(db: &DatabaseConnection, n: i32, ago: &str) -> Vec<i64> {
    let rows = IdRow::find_by_statement(stmt(
        "WITH state AS (INSERT INTO tasks (priority, timeout_secs, max_attempts, attempts, \
                 state, exit_code, stdout, created_at, started_at, finished_at) \
             SELECT 5, 60, 1, 1, 'succeeded', 0, 'out ' || g, \
                 now() - $1::interval - interval '1 minute', \
                 now() - $1::interval - interval '1 second', now() - $1::interval \
             FROM generate_series(1, $2) AS g \
             RETURNING id) \
         INSERT INTO task_specs (id, owner, argv) \
         SELECT id, 'anonymous', ARRAY['true'] FROM state RETURNING id",
        [ago.into(), n.into()],
    ))
    .all(db)
    .await
    .unwrap();
    rows.into_iter().map(|r| r.id).collect()
}

#[tokio::test]
async fn sweeps_move_bounded_batches_skip_held_rows_and_never_hold_up_dispatch() {
    // Retention off in the coordinator: the test runs the sweeps itself.
    let app = spawn_app(AppOptions::new().flag("--retention-age", "0s")).await;
    let db = app.db.connect().await;
    let old = insert_finished(&db, 50, "2 hours").await;
    let young = insert_finished(&db, 4, "10 minutes").await;
    let policy = Retention {
        age: Duration::from_secs(3600),
        interval: Duration::from_secs(1),
        batch: 7,
    };
    let stop = CancellationToken::new();
    let sweep = || {
        let (db, policy, stop) = (&db, &policy, &stop);
        async move {
            tokio::time::timeout(Duration::from_secs(20), retention::sweep(db, policy, stop))
                .await
                .expect("a sweep waited on a lock")
                .unwrap()
        }
    };

    // Someone holds one old row: the sweep skips it instead of waiting, and
    // moves the other 49 seven at a time (the eighth batch finds nothing).
    let holder = db.begin().await.unwrap();
    holder
        .execute_raw(stmt(
            "SELECT id FROM tasks WHERE id = $1 FOR UPDATE",
            [old[0].into()],
        ))
        .await
        .unwrap();
    assert_eq!(
        sweep().await,
        Sweep {
            moved: 49,
            batches: 8
        }
    );
    holder.rollback().await.unwrap();
    assert_eq!(
        sweep().await,
        Sweep {
            moved: 1,
            batches: 1
        }
    );
    assert_eq!(
        sweep().await,
        Sweep {
            moved: 0,
            batches: 1
        }
    );
    assert_eq!(
        ids(&db, "SELECT id FROM tasks_archive").await,
        old.iter().copied().collect()
    );
    assert_eq!(
        ids(&db, "SELECT id FROM tasks").await,
        young.iter().copied().collect()
    );

    // A move in flight holds finished rows only: tasks are submitted,
    // handed out and reported meanwhile, and the rows being moved read as
    // before until it commits.
    let moving = insert_finished(&db, 7, "2 hours").await;
    let mover = db.begin().await.unwrap();
    assert_eq!(
        storage::archive::move_finished(&mover, 3600.0, 100)
            .await
            .unwrap(),
        7
    );
    tokio::time::timeout(Duration::from_secs(20), async {
        let worker = SimWorker::register(&app.client, "w", &[], 1).await;
        let task = app.client.submit(&sim::task(&["true"], &[])).await.unwrap();
        let got = worker.fetch(1, 5.0).await;
        assert_eq!(got.len(), 1);
        assert_eq!(got[0].task_id, task.id);
        let done = worker
            .report(&got[0], ReportOutcome::Succeeded, Some(0))
            .await;
        assert_eq!(done.state, TaskState::Succeeded);
        let view = app.client.task(TaskId(moving[0])).await.unwrap();
        assert_eq!(view.state, TaskState::Succeeded);
    })
    .await
    .expect("dispatch waited for a retention move in flight");
    mover.commit().await.unwrap();
    let view = app.client.task(TaskId(moving[0])).await.unwrap();
    assert!(view.output.unwrap().stdout.starts_with("out "));
    assert!(
        ids(&db, "SELECT id FROM tasks_archive")
            .await
            .is_superset(&moving.iter().copied().collect())
    );

    app.shutdown().await.unwrap();
}

#[derive(Debug, PartialEq, Eq, FromQueryResult)]
struct ColumnRow {
    column_name: String,
    udt_name: String,
}

async fn columns(db: &DatabaseConnection, table: &str) -> Vec<(String, String)> {
    ColumnRow::find_by_statement(stmt(
        "SELECT column_name::text AS column_name, udt_name::text AS udt_name \
         FROM information_schema.columns WHERE table_schema = current_schema() \
           AND table_name = $1 ORDER BY ordinal_position",
        [table.into()],
    ))
    .all(db)
    .await
    .unwrap()
    .into_iter()
    .map(|c| (c.column_name, c.udt_name))
    .collect()
}

/// A migration that adds a column to `tasks` or `task_specs` (so to the view
/// `task_rows`, a task whole) must add it to the archive too, or archiving
/// would lose it.
#[tokio::test]
async fn the_archive_has_every_column_of_tasks() {
    let database = test_database().await;
    let db = database.connect().await;
    let mut archive = columns(&db, "tasks_archive").await;
    assert_eq!(
        archive.pop(),
        Some(("archived_at".to_owned(), "timestamptz".to_owned()))
    );
    let mut whole = columns(&db, "task_rows").await;
    archive.sort();
    whole.sort();
    assert_eq!(archive, whole);
}
