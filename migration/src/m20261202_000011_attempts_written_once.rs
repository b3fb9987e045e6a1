//! An attempt's row in `task_attempts` is written once, when the attempt
//! ends, with how it ended; while it runs, the task's own row (state
//! `running`, its worker, its attempt number, when it started) is its
//! record. A hand-over therefore writes one row, not two, and the end of an
//! attempt one insert instead of an update. Rows of attempts running now are
//! dropped here: the task's row says the same.

use sea_orm_migration::prelude::*;

#[derive(Debug, DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DELETE FROM task_attempts WHERE finished_at IS NULL;")
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                r#"
INSERT INTO task_attempts (task_id, attempt, worker_id, started_at)
SELECT id, attempts, worker_id, started_at FROM tasks WHERE state = 'running'
ON CONFLICT (task_id, attempt) DO NOTHING;
"#,
            )
            .await?;
        Ok(())
    }
}
