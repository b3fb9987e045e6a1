-- Task lifecycles as Switchyard writes them, with the coordinator's own
-- statements: run.sh puts each statement where a line `--@ run NAME` stands,
-- read from coordinator/src/storage/sql/NAME.sql (its comment lines left
-- out), with each of its parameters `$N` replaced by the pgbench expression
-- of the line `--@ $N EXPR` that follows (all must be bound). Each statement
-- is its own transaction (autocommit).
--
-- Variables (run.sh sets them): a batch of tasks as the coordinator's
-- insert_many sends it, one array per column (`:argv`, `:envs`, `:dirs`,
-- `:tags`, `:labels`, `:priorities`, `:timeouts`, `:max_attempts`,
-- `:keys`), `:cycle` (runs of this script per
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
--@ $1 :client_id::text
--@ $2 :argv
--@ $3 :envs
--@ $4 :dirs
--@ $5 :tags
--@ $6 :labels
--@ $7 :priorities
--@ $8 :timeouts
--@ $9 :max_attempts
--@ $10 :keys

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
--@ $1 (:ids::bigint[])[:k : :last]
--@ $2 array_fill(:worker::bigint, ARRAY[cardinality((:ids::bigint[])[:k : :last])])
--@ $3 array_fill(1, ARRAY[cardinality((:ids::bigint[])[:k : :last])])
--@ $4 array_fill('succeeded'::text, ARRAY[cardinality((:ids::bigint[])[:k : :last])])
--@ $5 array_fill(0, ARRAY[cardinality((:ids::bigint[])[:k : :last])])
--@ $6 array_fill(true, ARRAY[cardinality((:ids::bigint[])[:k : :last])])
--@ $7 array_fill(''::text, ARRAY[cardinality((:ids::bigint[])[:k : :last])])
--@ $8 array_fill(''::text, ARRAY[cardinality((:ids::bigint[])[:k : :last])])
--@ $9 array_fill(false, ARRAY[cardinality((:ids::bigint[])[:k : :last])])
--@ $10 array_fill(false, ARRAY[cardinality((:ids::bigint[])[:k : :last])])
--@ $11 array_fill(''::text, ARRAY[cardinality((:ids::bigint[])[:k : :last])])
--@ $12 array_fill(false, ARRAY[cardinality((:ids::bigint[])[:k : :last])])
--@ $13 1
--@ $14 300
--@ $15 3
--@ $16 (SELECT epoch FROM leader_lease)
\endif
