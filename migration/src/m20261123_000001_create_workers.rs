//! Workers: the agents that register, heartbeat and run tasks.

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
CREATE TYPE worker_state AS ENUM ('active', 'draining', 'gone');

CREATE TABLE workers (
    id             BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name           TEXT NOT NULL,
    tags           TEXT[] NOT NULL DEFAULT '{}',
    slots          INTEGER NOT NULL CHECK (slots >= 1),
    state          worker_state NOT NULL DEFAULT 'active',
    registered_at  TIMESTAMPTZ NOT NULL DEFAULT now(),
    last_heartbeat TIMESTAMPTZ NOT NULL DEFAULT now(),
    left_at        TIMESTAMPTZ
);

-- Tasks that a worker can run: task.tags <@ worker.tags, and the reverse.
CREATE INDEX workers_tags_gin ON workers USING GIN (tags);
-- The dead-worker reaper and start-up scan only live workers.
CREATE INDEX workers_live ON workers (last_heartbeat) WHERE state <> 'gone';
"#,
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE workers; DROP TYPE worker_state;")
            .await?;
        Ok(())
    }
}
