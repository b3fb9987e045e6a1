-- One task lifecycle per transaction of this script, with the statements the
-- coordinator runs for one worker alone: tasks submitted in batches of
-- `:batch`, handed over `:fetch` at a time (one fetch), and reported `:fetch`
-- at a time (one batched report of what that fetch brought). Each statement
-- is its own transaction. Under load the coordinator does better: it hands
-- over the fetches of several workers in one statement.
-- Variables (run.sh sets them): `:tasks_json` (a batch), `:batch`, `:fetch`,
-- `:k` (starts at 0; the position in the batch, kept per client).
\set worker :client_id + 1
\set k :k + 1
\if :k > :batch
\set k 1
\endif

\if :k = 1
-- 1. Submit, once per batch (`statements/submit.sql`).
--@ submit
\endif

\if (:k - 1) % :fetch = 0
\set last :k + :fetch - 1
-- 2. Fetch, every `:fetch` tasks: hand over the next `:fetch` tasks of the batch
--    (`statements/assign.sql`), as one fetch of a worker with that many slots.
--@ assign | (:ids::bigint[])[:k : :last]

-- 3. Report what that fetch brought, in one batched report (`statements/finish.sql`).
--@ finish | (:ids::bigint[])[:k : :last] | id, state::text AS state, not_before
\endif
