//! A lighter leadership fence. The fence used to lock the lease row FOR KEY
//! SHARE, which made every fenced statement (every hand-over and report)
//! write a lock into that one row, and concurrent ones share it through a
//! MultiXact: one hot page and a WAL record per statement. An advisory lock
//! in shared mode, taken by the fence and held to the end of the
//! transaction, keeps the same promise in memory only: an election takes it
//! in exclusive mode before it replaces the epoch, so it waits for fenced
//! transactions in flight, and fenced statements that come after it see the
//! new epoch. The lock's key is the lease table's oid, so coordinators of
//! different schemas in one database never share it.

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
-- Passes (true) while `expected` is the current epoch and keeps any new
-- election from committing until the calling transaction ends; raises
-- SQLSTATE SYF01 once a newer election has committed, so the statement,
-- and its transaction, change nothing. The epoch is read after the lock is
-- held, by a query of its own (a fresh snapshot under READ COMMITTED, the
-- isolation the coordinator uses), so an election that committed while
-- this waited is seen.
CREATE OR REPLACE FUNCTION switchyard_fence(expected BIGINT) RETURNS BOOLEAN
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock_shared('leader_lease'::regclass::oid::bigint);
    PERFORM 1 FROM leader_lease WHERE epoch = expected;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'leadership epoch % has been superseded', expected
            USING ERRCODE = 'SYF01';
    END IF;
    RETURN TRUE;
END
$$;

-- An election's side of the fence: waits until no fenced transaction is in
-- flight and holds new ones off until the election's transaction ends.
-- Always true, so it can stand in a WHERE clause after the lapse test.
CREATE FUNCTION switchyard_seize() RETURNS BOOLEAN
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock('leader_lease'::regclass::oid::bigint);
    RETURN TRUE;
END
$$;
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
DROP FUNCTION switchyard_seize();
CREATE OR REPLACE FUNCTION switchyard_fence(expected BIGINT) RETURNS BOOLEAN
LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM leader_lease WHERE epoch = expected FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'leadership epoch % has been superseded', expected
            USING ERRCODE = 'SYF01';
    END IF;
    RETURN TRUE;
END
$$;
"#,
            )
            .await?;
        Ok(())
    }
}
