//! What a task is, apart from where it is: the command, its environment and
//! what it is filed under move from `tasks` into `task_specs`, written once
//! at submission. `tasks` keeps the state that every step of a task's life
//! rewrites (state, attempts, worker, times, the last result), so each step
//! writes a narrow row and no GIN index; the GIN indexes that serve listing
//! by tag and label are written once per task, with its spec.
//!
//! Also: `tasks_state_id`, a full index on the state every step changes,
//! gives way to a partial one on the states a user looks for among many
//! finished tasks; and the foreign key from `tasks.worker_id` to `workers`
//! goes, because it locked the worker's row for every task handed over (the
//! hand-over itself reads the worker's row by its key, so a task is never
//! handed to a worker that does not exist).

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
CREATE TABLE task_specs (
    id              BIGINT PRIMARY KEY,
    owner           TEXT NOT NULL,
    argv            TEXT[] NOT NULL CHECK (cardinality(argv) >= 1),
    env             JSONB NOT NULL DEFAULT '{}',
    working_dir     TEXT,
    -- What a worker must have; changed only while the task is queued.
    tags            TEXT[] NOT NULL DEFAULT '{}',
    labels          TEXT[] NOT NULL DEFAULT '{}',
    idempotency_key TEXT
);
INSERT INTO task_specs (id, owner, argv, env, working_dir, tags, labels, idempotency_key)
SELECT id, owner, argv, env, working_dir, tags, labels, idempotency_key FROM tasks;

-- Listing by tag and by label. Only tasks that have some are indexed: most
-- have no label, and an empty array would cost an entry all the same.
CREATE INDEX task_specs_tags_gin ON task_specs USING GIN (tags) WHERE tags <> '{}';
CREATE INDEX task_specs_labels_gin ON task_specs USING GIN (labels) WHERE labels <> '{}';
-- An idempotency key names one task per owner.
CREATE UNIQUE INDEX task_specs_idempotency ON task_specs (owner, idempotency_key)
    WHERE idempotency_key IS NOT NULL;

DROP INDEX tasks_tags_gin;
DROP INDEX tasks_labels_gin;
DROP INDEX tasks_idempotency;
DROP INDEX tasks_state_id;
ALTER TABLE tasks DROP CONSTRAINT tasks_worker_id_fkey;
ALTER TABLE tasks DROP COLUMN owner, DROP COLUMN argv, DROP COLUMN env,
    DROP COLUMN working_dir, DROP COLUMN tags, DROP COLUMN labels,
    DROP COLUMN idempotency_key;

-- Listing the tasks that did not succeed, newest first, among many that did.
CREATE INDEX tasks_unsuccessful ON tasks (state, id DESC)
    WHERE state IN ('failed', 'cancelled', 'timed_out');

-- A task whole, as users see it: its state and its spec. (`t.*` is expanded
-- when the view is made: a migration that adds a column to `tasks` makes
-- the view again.)
CREATE VIEW task_rows AS
SELECT t.*, s.owner, s.argv, s.env, s.working_dir, s.tags, s.labels, s.idempotency_key
FROM tasks t JOIN task_specs s ON s.id = t.id;
"#,
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                r#"
DROP VIEW task_rows;
DROP INDEX tasks_unsuccessful;
ALTER TABLE tasks ADD COLUMN owner TEXT NOT NULL DEFAULT 'anonymous',
    ADD COLUMN argv TEXT[] NOT NULL DEFAULT '{true}' CHECK (cardinality(argv) >= 1),
    ADD COLUMN env JSONB NOT NULL DEFAULT '{}',
    ADD COLUMN working_dir TEXT,
    ADD COLUMN tags TEXT[] NOT NULL DEFAULT '{}',
    ADD COLUMN labels TEXT[] NOT NULL DEFAULT '{}',
    ADD COLUMN idempotency_key TEXT;
ALTER TABLE tasks ALTER COLUMN argv DROP DEFAULT;
UPDATE tasks t SET owner = s.owner, argv = s.argv, env = s.env,
    working_dir = s.working_dir, tags = s.tags, labels = s.labels,
    idempotency_key = s.idempotency_key
FROM task_specs s WHERE s.id = t.id;
UPDATE tasks SET worker_id = NULL
WHERE worker_id IS NOT NULL AND worker_id NOT IN (SELECT id FROM workers);
ALTER TABLE tasks ADD CONSTRAINT tasks_worker_id_fkey
    FOREIGN KEY (worker_id) REFERENCES workers (id);
CREATE INDEX tasks_tags_gin ON tasks USING GIN (tags);
CREATE INDEX tasks_labels_gin ON tasks USING GIN (labels);
CREATE INDEX tasks_state_id ON tasks (state, id DESC);
CREATE UNIQUE INDEX tasks_idempotency ON tasks (owner, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
DROP TABLE task_specs;
"#,
            )
            .await?;
        Ok(())
    }
}
