//! Several coordinators on one database: the leader's lease (one row whose
//! key is the election's epoch), the coordinators' own records, and the
//! fence every statement that acts for the dispatcher calls.

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
-- The lease, one row. `epoch` counts elections and is the row's key: a
-- fenced statement locks the row FOR KEY SHARE, which an election (a new
-- key) must wait for and which a renewal (other columns) does not.
CREATE TABLE leader_lease (
    epoch BIGINT PRIMARY KEY,
    only_row BOOLEAN NOT NULL DEFAULT TRUE UNIQUE CHECK (only_row),
    holder TEXT,
    url TEXT,
    renewed_at TIMESTAMPTZ,
    expires_at TIMESTAMPTZ NOT NULL
);
INSERT INTO leader_lease (epoch, expires_at) VALUES (0, '-infinity');

-- Each coordinator records itself every third of a lease.
CREATE TABLE coordinators (
    id TEXT PRIMARY KEY,
    url TEXT NOT NULL,
    host TEXT NOT NULL,
    started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    seen_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    -- The epoch it leads under; NULL for a standby.
    epoch BIGINT
);

-- Passes (true) while `expected` is the current epoch and keeps the lease
-- row from a new election until the calling transaction ends; raises
-- SQLSTATE SYF01 once a newer election has happened, so the statement, and
-- its transaction, change nothing.
CREATE FUNCTION switchyard_fence(expected BIGINT) RETURNS BOOLEAN
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

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                r#"
DROP FUNCTION switchyard_fence(BIGINT);
DROP TABLE coordinators;
DROP TABLE leader_lease;
"#,
            )
            .await?;
        Ok(())
    }
}
