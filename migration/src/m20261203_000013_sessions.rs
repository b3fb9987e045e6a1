//! Dashboard sessions: a browser that logged in with an API token holds a
//! random secret in a cookie; the database holds only its SHA-256, the hash
//! of the token it logged in with (each request authenticates that token
//! again, so revoking or expiring the token ends its sessions), the form
//! token that guards its POSTs, and when it ends. Every coordinator on the
//! database serves every session.

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
CREATE TABLE sessions (
    secret_hash BYTEA PRIMARY KEY CHECK (length(secret_hash) = 32),
    token_hash BYTEA NOT NULL CHECK (length(token_hash) = 32),
    csrf TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    expires_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX sessions_expires_at ON sessions (expires_at);
"#,
            )
            .await?;
        Ok(())
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared("DROP TABLE sessions;")
            .await?;
        Ok(())
    }
}
