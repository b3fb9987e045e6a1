//! Tasks: what users submit, with their requirements, state and last result.

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
CREATE TYPE task_state AS ENUM
    ('queued', 'running', 'succeeded', 'failed', 'cancelled', 'timed_out');

CREATE TABLE tasks (
    id               BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    owner            TEXT NOT NULL DEFAULT 'anonymous',
    state            task_state NOT NULL DEFAULT 'queued',
    argv             TEXT[] NOT NULL CHECK (cardinality(argv) >= 1),
    env              JSONB NOT NULL DEFAULT '{}',
    working_dir      TEXT,
    tags             TEXT[] NOT NULL DEFAULT '{}',
    labels           TEXT[] NOT NULL DEFAULT '{}',
    priority         INTEGER NOT NULL CHECK (priority BETWEEN 0 AND 9),
    timeout_secs     BIGINT NOT NULL CHECK (timeout_secs > 0),
    max_attempts     INTEGER NOT NULL CHECK (max_attempts >= 1),
    attempts         INTEGER NOT NULL DEFAULT 0,
    worker_id        BIGINT REFERENCES workers (id),
    cancel_requested BOOLEAN NOT NULL DEFAULT false,
    not_before       TIMESTAMPTZ,
    exit_code        INTEGER,
    stdout           TEXT,
    stderr           TEXT,
    stdout_truncated BOOLEAN NOT NULL DEFAULT false,
    stderr_truncated BOOLEAN NOT NULL DEFAULT false,
    error            TEXT,
    idempotency_key  TEXT,
    created_at       TIMESTAMPTZ NOT NULL DEFAULT now(),
    started_at       TIMESTAMPTZ,
    finished_at      TIMESTAMPTZ
);

-- Candidates in both directions: tasks a worker matches (tags <@ worker tags).
CREATE INDEX tasks_tags_gin ON tasks USING GIN (tags);
CREATE INDEX tasks_labels_gin ON tasks USING GIN (labels);
-- Seeding reads queued tasks in dispatch order.
CREATE INDEX tasks_queued ON tasks (priority DESC, id) WHERE state = 'queued';
-- Listing by state, newest first, with cursor pagination on id.
CREATE INDEX tasks_state_id ON tasks (state, id DESC);
-- A worker's running tasks (heartbeat, dead-worker recovery).
CREATE INDEX tasks_running_worker ON tasks (worker_id) WHERE state = 'running';
-- An idempotency key names one task per owner.
CREATE UNIQUE INDEX tasks_idempotency ON tasks (owner, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
"#,
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE tasks; DROP TYPE task_state;")
            .await?;
        Ok(())
    }
}
