//! Principals (users, workers, admins) and their API tokens, stored only as
//! hashes. Tasks already carry an `owner`: a principal's name.

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
CREATE TYPE principal_role AS ENUM ('user', 'worker', 'admin');

CREATE TABLE principals (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    role        principal_role NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);

-- `kind`: 'api' authenticates requests; 'registration' only lets an agent
-- register, and the answer carries a worker token bound to that worker.
CREATE TABLE api_tokens (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    principal_id BIGINT NOT NULL REFERENCES principals (id),
    kind         TEXT NOT NULL CHECK (kind IN ('api', 'registration', 'worker')),
    -- SHA-256 of the token; the token itself is never stored.
    token_hash   BYTEA NOT NULL UNIQUE,
    -- The first characters, so people can tell tokens apart in listings.
    prefix       TEXT NOT NULL,
    label        TEXT,
    worker_id    BIGINT REFERENCES workers (id),
    created_at   TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at   TIMESTAMPTZ,
    revoked_at   TIMESTAMPTZ
);

CREATE INDEX api_tokens_principal ON api_tokens (principal_id);
"#,
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                "DROP TABLE api_tokens; DROP TABLE principals; DROP TYPE principal_role;",
            )
            .await?;
        Ok(())
    }
}
