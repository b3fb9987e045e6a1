//! Room for a task's row to change in place. Each task's row is rewritten
//! twice after it is inserted (handed over, ended); with pages filled to
//! the brim, each new version went to another page, which also costs a
//! lock record in the WAL and scatters a task over pages. `tasks` now
//! leaves 40 % of each new page free (pages written before keep their
//! fill until rewritten).
//!
//! And the GIN indexes of `task_specs` take each entry at once instead of
//! through their pending list: with the list, every submission rewrote the
//! index's metapage (about 55 more WAL bytes per task), and the list was
//! merged later by vacuum or by whichever submission found it full.

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
ALTER TABLE tasks SET (fillfactor = 60);
ALTER INDEX task_specs_tags_gin SET (fastupdate = off);
ALTER INDEX task_specs_labels_gin SET (fastupdate = off);
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
ALTER TABLE tasks RESET (fillfactor);
ALTER INDEX task_specs_tags_gin RESET (fastupdate);
ALTER INDEX task_specs_labels_gin RESET (fastupdate);
"#,
            )
            .await?;
        Ok(())
    }
}
