//! The lost-attempt fence and interrupted attempts: an agent's instance key
//! (hashed) on each worker it registers, so a later registration of the
//! same agent can vouch that the earlier one's processes are dead; and
//! `interrupted`, for attempts an agent stopped for reasons of its own.

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
-- SHA-256 of the secret the agent keeps in its state folder; NULL for
-- workers registered without one.
ALTER TABLE workers ADD COLUMN instance_hash BYTEA;
CREATE INDEX workers_instance ON workers (instance_hash) WHERE instance_hash IS NOT NULL;

ALTER TABLE task_attempts DROP CONSTRAINT task_attempts_outcome_check;
ALTER TABLE task_attempts ADD CONSTRAINT task_attempts_outcome_check
    CHECK (outcome IN ('succeeded', 'failed', 'timed_out', 'cancelled', 'lost', 'interrupted'));
"#,
            )
            .await?;
        Ok(())
    }

    /// Interrupted attempts become lost ones, which is what they were
    /// called before.
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                r#"
UPDATE task_attempts SET outcome = 'lost' WHERE outcome = 'interrupted';
ALTER TABLE task_attempts DROP CONSTRAINT task_attempts_outcome_check;
ALTER TABLE task_attempts ADD CONSTRAINT task_attempts_outcome_check
    CHECK (outcome IN ('succeeded', 'failed', 'timed_out', 'cancelled', 'lost'));
DROP INDEX workers_instance;
ALTER TABLE workers DROP COLUMN instance_hash;
"#,
            )
            .await?;
        Ok(())
    }
}
