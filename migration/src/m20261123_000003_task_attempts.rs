//! Task attempts: one row per time a task was handed to a worker, so users
//! can see who ran what, when, and how each try ended.

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
CREATE TABLE task_attempts (
    task_id     BIGINT NOT NULL,
    attempt     INTEGER NOT NULL,
    worker_id   BIGINT NOT NULL,
    started_at  TIMESTAMPTZ NOT NULL,
    finished_at TIMESTAMPTZ,
    -- succeeded | failed | timed_out | cancelled | lost; NULL while running.
    outcome     TEXT CHECK (outcome IN ('succeeded', 'failed', 'timed_out', 'cancelled', 'lost')),
    exit_code   INTEGER,
    error       TEXT,
    PRIMARY KEY (task_id, attempt)
);
"#,
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE task_attempts;")
            .await?;
        Ok(())
    }
}
