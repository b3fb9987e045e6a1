-- One task lifecycle per task of a batch of `:batch`, as Switchyard writes it:
-- submit, assign, finish — three statements, each its own transaction
-- (autocommit), so three commits per batch. Variables: `:tasks_json` (set by
-- run.sh), `:worker` (set below: each client has its own worker row).
-- Columns returned are the coordinator's `COLUMNS`.
\set worker :client_id + 1

-- 1. Submit the batch (`statements/submit.sql`).
--@ submit

-- 2. Fetch: hand the whole batch over (`statements/assign.sql`).
--@ assign | :ids::bigint[]

-- 3. Report the whole batch in one batched report (`statements/finish.sql`).
--@ finish | :ids::bigint[] | id, state::text AS state, not_before
