-- Task lifecycles as Switchyard writes them, with the coordinator's own
-- statements: run.sh puts each statement where a line `--@ run NAME` stands,
-- read from coordinator/src/storage/sql/NAME.sql (its comment lines left
-- out), with each of its parameters `$N` replaced by the pgbench expression
-- of the line `--@ $N EXPR` that follows (all must be bound). Each statement
-- is its own transaction (autocommit).
--
-- Variables (run.sh sets them): `:tasks_json` (a batch of tasks, as the
-- coordinator's insert_many encodes them), `:cycle` (runs of this script per
-- batch submitted), `:fetch` (tasks per hand-over and per report), `:k`
-- (starts at 0; the run within the cycle, kept per client). Each client has
-- its own worker row (`:worker`) and owner name.
--   batched:   cycle 1, fetch = the batch: submit, assign, finish it whole.
--   single:    cycle 1, fetch 1, a batch of one.
--   per-fetch: cycle = the batch, submitted once per cycle, handed over and
--              reported `:fetch` tasks at a time: one lifecycle per run.
\set worker :client_id + 1
\set k :k + 1
\if :k > :cycle
\set k 1
\endif

\if :k = 1
-- 1. Submit the batch.
--@ run tasks/insert_many
--@ $1 :tasks_json
--@ $2 :client_id::text

-- The batch's ids, for what follows (this query is pgbench's, not the
-- coordinator's: the coordinator keeps the ids insert_many answers).
-- The owner is read per queued task by its key (a join would scan every
-- spec the run has written).
SELECT array_agg(t.id ORDER BY t.id)::text AS ids FROM tasks t
WHERE t.state = 'queued'
  AND (SELECT s.owner FROM task_specs s WHERE s.id = t.id) = :client_id::text
\gset
\endif

\if (:k - 1) % :fetch = 0
\set last :k + :fetch - 1
-- 2. Fetch: hand the next `:fetch` tasks of the batch to this client's worker.
--@ run attempts/assign
--@ $1 (:ids::bigint[])[:k : :last]
--@ $2 array_fill(:worker::bigint, ARRAY[cardinality((:ids::bigint[])[:k : :last])])
--@ $3 (SELECT epoch FROM leader_lease)

-- 3. Report what that fetch brought, all succeeded, in one batched report
--    (retry back-off 1 s to 5 min, 3 lost attempts allowed: the coordinator's defaults).
--@ run attempts/finish
--@ $1 (SELECT jsonb_agg(jsonb_build_object('r_id', x, 'r_worker', :worker::bigint, 'r_attempt', 1, 'r_outcome', 'succeeded', 'r_exit_code', 0, 'r_stdout', '', 'r_stderr', '', 'r_stdout_truncated', false, 'r_stderr_truncated', false, 'r_error', NULL)) FROM unnest((:ids::bigint[])[:k : :last]) AS x)
--@ $2 1
--@ $3 300
--@ $4 (:ids::bigint[])[:k : :last]
--@ $5 3
--@ $6 (SELECT epoch FROM leader_lease)
\endif
