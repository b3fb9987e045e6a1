-- One task lifecycle per transaction of this script, as Switchyard writes it
-- for a task submitted, fetched and reported alone: submit, assign, finish —
-- three statements, each its own transaction (autocommit). `:tasks_json`
-- holds one task (run.sh sets it); `:worker` is this client's worker row.
\set worker :client_id + 1

-- 1. Submit the one task (`statements/submit.sql`).
--@ submit

-- 2. Fetch: hand it over (`statements/assign.sql`).
--@ assign | :ids::bigint[]

-- 3. Report it, as `POST /workers/{id}/report` does: the batched statement
--    with one report, answering the whole row (`statements/finish.sql`).
--@ finish | :ids::bigint[] | @COLUMNS@
