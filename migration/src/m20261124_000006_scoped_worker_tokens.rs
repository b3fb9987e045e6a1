//! Worker tokens that act only as their worker: every registration issues
//! one, even the bootstrap admin's; each records the token that registered
//! it, so revoking that token revokes it too; and the tokens of workers
//! already gone are revoked now.
//!
//! Who registered a worker is `principal_id`, and for the bootstrap admin
//! it is NULL rather than a reserved row in `principals`. The bootstrap
//! admin is not a principal: it has no token row, its secret lives in the
//! configuration and may change at any restart. A reserved row would be a
//! real admin principal that `POST /admin/principals/{name}/tokens` could
//! mint API tokens for, that would own the bootstrap admin's tasks through
//! those tokens, and that someone could mistake for a principal to use or
//! delete. NULL says exactly what is known ("registered with the token from
//! the configuration"), and the checks below allow it only on worker tokens.

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
ALTER TABLE api_tokens ALTER COLUMN principal_id DROP NOT NULL;

-- The token whose bearer registered this worker token's worker (a
-- registration token, or a named admin's API token); NULL for the bootstrap
-- admin, and for worker tokens issued before this migration.
ALTER TABLE api_tokens ADD COLUMN registered_with BIGINT REFERENCES api_tokens (id);

ALTER TABLE api_tokens
    -- A worker token names its worker; no other token does.
    ADD CONSTRAINT api_tokens_worker_names_worker
        CHECK ((kind = 'worker') = (worker_id IS NOT NULL)),
    -- Only a worker token may lack a principal (the bootstrap admin's workers).
    ADD CONSTRAINT api_tokens_principal_unless_worker
        CHECK (principal_id IS NOT NULL OR kind = 'worker'),
    ADD CONSTRAINT api_tokens_registered_with_only_worker
        CHECK (registered_with IS NULL OR kind = 'worker');

-- Revoking a token revokes the worker tokens registered with it.
CREATE INDEX api_tokens_registered_with ON api_tokens (registered_with)
    WHERE registered_with IS NOT NULL;
-- A worker leaving revokes its live tokens.
CREATE INDEX api_tokens_live_worker ON api_tokens (worker_id)
    WHERE worker_id IS NOT NULL AND revoked_at IS NULL;

-- Tokens of workers that are already gone die now.
UPDATE api_tokens t SET revoked_at = now()
FROM workers w
WHERE t.worker_id = w.id AND w.state = 'gone' AND t.revoked_at IS NULL;
"#,
            )
            .await?;
        Ok(())
    }

    /// The older schema cannot hold a token without a principal: the
    /// bootstrap admin's worker tokens are deleted (their agents register
    /// again, and then act with the admin token as that schema did).
    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .get_connection()
            .execute_unprepared(
                r#"
DROP INDEX api_tokens_live_worker;
DROP INDEX api_tokens_registered_with;
ALTER TABLE api_tokens
    DROP CONSTRAINT api_tokens_registered_with_only_worker,
    DROP CONSTRAINT api_tokens_principal_unless_worker,
    DROP CONSTRAINT api_tokens_worker_names_worker,
    DROP COLUMN registered_with;
DELETE FROM api_tokens WHERE principal_id IS NULL;
ALTER TABLE api_tokens ALTER COLUMN principal_id SET NOT NULL;
"#,
            )
            .await?;
        Ok(())
    }
}
