//! The task archive: finished tasks past the retention age, moved out of the
//! hot `tasks` table so that it holds little more than live work.
//!
//! `tasks_archive` has every column of `tasks`, in the same order, plus
//! `archived_at`. A later migration that adds a column to `tasks` adds it
//! here too (the retention tests compare the two tables). No foreign keys:
//! an archived task outlives its worker's row, and nothing references it.

use sea_orm_migration::prelude::*;

#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                r#"
CREATE TABLE tasks_archive (
    id               BIGINT PRIMARY KEY,
    owner            TEXT NOT NULL,
    -- Only finished tasks are archived.
    state            task_state NOT NULL
        CHECK (state IN ('succeeded', 'failed', 'cancelled', 'timed_out')),
    argv             TEXT[] NOT NULL,
    env              JSONB NOT NULL,
    working_dir      TEXT,
    tags             TEXT[] NOT NULL,
    labels           TEXT[] NOT NULL,
    priority         INTEGER NOT NULL,
    timeout_secs     BIGINT NOT NULL,
    max_attempts     INTEGER NOT NULL,
    attempts         INTEGER NOT NULL,
    worker_id        BIGINT,
    cancel_requested BOOLEAN NOT NULL,
    not_before       TIMESTAMPTZ,
    exit_code        INTEGER,
    stdout           TEXT,
    stderr           TEXT,
    stdout_truncated BOOLEAN NOT NULL,
    stderr_truncated BOOLEAN NOT NULL,
    error            TEXT,
    -- Not unique here: a key is unique among hot tasks only, so after its
    -- task is archived the owner may use it again.
    idempotency_key  TEXT,
    created_at       TIMESTAMPTZ NOT NULL,
    started_at       TIMESTAMPTZ,
    finished_at      TIMESTAMPTZ NOT NULL,
    archived_at      TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- Listing newest first uses the primary key; these serve its filters.
CREATE INDEX tasks_archive_state_id ON tasks_archive (state, id DESC);
CREATE INDEX tasks_archive_tags_gin ON tasks_archive USING GIN (tags);
CREATE INDEX tasks_archive_labels_gin ON tasks_archive USING GIN (labels);

-- Retention finds finished tasks past the age without reading live ones.
CREATE INDEX tasks_finished_at ON tasks (finished_at)
    WHERE state IN ('succeeded', 'failed', 'cancelled', 'timed_out');
"#,
            )
            .await?;
        Ok(())
    }

    /// Moves archived tasks back into `tasks` before dropping the archive,
    /// so that going down loses nothing. Of the tasks sharing an idempotency
    /// key, only the newest keeps it.
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                r#"
INSERT INTO tasks (id, owner, state, argv, env, working_dir, tags, labels, priority,
                   timeout_secs, max_attempts, attempts, worker_id, cancel_requested,
                   not_before, exit_code, stdout, stderr, stdout_truncated, stderr_truncated,
                   error, idempotency_key, created_at, started_at, finished_at)
OVERRIDING SYSTEM VALUE
SELECT a.id, a.owner, a.state, a.argv, a.env, a.working_dir, a.tags, a.labels, a.priority,
       a.timeout_secs, a.max_attempts, a.attempts,
       -- `tasks` references `workers`; keep only ids that are there.
       (SELECT w.id FROM workers w WHERE w.id = a.worker_id),
       a.cancel_requested, a.not_before, a.exit_code, a.stdout, a.stderr,
       a.stdout_truncated, a.stderr_truncated, a.error,
       CASE WHEN a.idempotency_key IS NULL OR a.newer > 0 THEN NULL
            WHEN EXISTS (SELECT 1 FROM tasks t
                         WHERE t.owner = a.owner AND t.idempotency_key = a.idempotency_key)
            THEN NULL
            ELSE a.idempotency_key END,
       a.created_at, a.started_at, a.finished_at
FROM (SELECT *, row_number() OVER (PARTITION BY owner, idempotency_key ORDER BY id DESC) - 1
                AS newer
      FROM tasks_archive) a;
DROP TABLE tasks_archive;
DROP INDEX tasks_finished_at;
"#,
            )
            .await?;
        Ok(())
    }
}
