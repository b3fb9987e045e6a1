-- One task lifecycle per transaction of this script, with the statements the
-- coordinator runs today: tasks submitted in batches of `:batch`, handed over
-- `:fetch` at a time (one fetch), and reported one by one — each report reads
-- the task, then finishes it. Each statement is its own transaction.
-- Variables (run.sh sets them): `:tasks_json` (a batch), `:batch`, `:fetch`,
-- `:k` (starts at 0; the position in the batch, kept per client).
\set worker :client_id + 1
\set k :k + 1
\if :k > :batch
\set k 1
\endif

\if :k = 1
-- 1. Submit, once per batch: `storage::tasks::insert_many`
--    (`:tasks_json`, a JSON array of the tasks, is bound as a parameter under
--    -M prepared, as the coordinator binds it). Every inserted row comes back,
--    as it does to the coordinator; an extra column carries the batch's ids,
--    on the last row only, to the next statements (`\aset` keeps the last
--    row's values).
WITH input AS (
    SELECT t, ord FROM jsonb_array_elements(:tasks_json::jsonb) WITH ORDINALITY AS x(t, ord)),
inserted AS (
    INSERT INTO tasks (owner, argv, env, working_dir, tags, labels, priority,
                       timeout_secs, max_attempts, idempotency_key)
    SELECT 'anonymous',
           ARRAY(SELECT v FROM jsonb_array_elements_text(t->'argv') WITH ORDINALITY AS a(v, i) ORDER BY i),
           t->'env', t->>'working_dir',
           ARRAY(SELECT v FROM jsonb_array_elements_text(t->'tags') WITH ORDINALITY AS a(v, i) ORDER BY i),
           ARRAY(SELECT v FROM jsonb_array_elements_text(t->'labels') WITH ORDINALITY AS a(v, i) ORDER BY i),
           (t->>'priority')::int, (t->>'timeout_secs')::bigint,
           (t->>'max_attempts')::int, t->>'idempotency_key'
    FROM input ORDER BY ord
    ON CONFLICT (owner, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING id, owner, state::text AS state, argv, env, working_dir, tags, labels,
              priority, timeout_secs, max_attempts, attempts, worker_id, cancel_requested,
              not_before, exit_code, stdout, stderr, stdout_truncated, stderr_truncated, error,
              idempotency_key, created_at, started_at, finished_at),
batch AS (SELECT array_agg(id)::text AS ids, max(id) AS last FROM inserted)
SELECT inserted.*, CASE WHEN inserted.id = batch.last THEN batch.ids END AS ids
FROM inserted CROSS JOIN batch ORDER BY inserted.id
\aset
\endif

\if (:k - 1) % :fetch = 0
\set last :k + :fetch - 1
-- 2. Fetch, every `:fetch` tasks: `storage::attempts::assign` for the next
--    `:fetch` tasks of the batch (one fetch of a worker with that many slots).
WITH assigned AS (
    UPDATE tasks SET state = 'running', worker_id = :worker, attempts = attempts + 1,
        started_at = now(), finished_at = NULL, not_before = NULL
    WHERE id = ANY((:ids::bigint[])[:k : :last]) AND state = 'queued'
      AND tags <@ (SELECT tags FROM workers WHERE id = :worker)
    RETURNING id, owner, state::text AS state, argv, env, working_dir, tags, labels,
              priority, timeout_secs, max_attempts, attempts, worker_id, cancel_requested,
              not_before, exit_code, stdout, stderr, stdout_truncated, stderr_truncated, error,
              idempotency_key, created_at, started_at, finished_at),
recorded AS (
    INSERT INTO task_attempts (task_id, attempt, worker_id, started_at)
    SELECT id, attempts, worker_id, started_at FROM assigned)
SELECT * FROM assigned;
\endif

-- 3. Report, per task: `storage::tasks::get`, then `storage::attempts::finish`,
--    exactly as the coordinator runs them for each report.
SELECT id, owner, state::text AS state, argv, env, working_dir, tags, labels,
       priority, timeout_secs, max_attempts, attempts, worker_id, cancel_requested,
       not_before, exit_code, stdout, stderr, stdout_truncated, stderr_truncated, error,
       idempotency_key, created_at, started_at, finished_at
FROM tasks WHERE id = (:ids::bigint[])[:k];

WITH changed AS (
    UPDATE tasks SET state = 'succeeded'::task_state, not_before = NULL, exit_code = 0,
        stdout = '', stderr = '', stdout_truncated = false, stderr_truncated = false,
        error = NULL, finished_at = now()
    WHERE id = (:ids::bigint[])[:k] AND worker_id = :worker AND attempts = 1
      AND state = 'running'
    RETURNING id, owner, state::text AS state, argv, env, working_dir, tags, labels,
       priority, timeout_secs, max_attempts, attempts, worker_id, cancel_requested,
       not_before, exit_code, stdout, stderr, stdout_truncated, stderr_truncated, error,
       idempotency_key, created_at, started_at, finished_at),
closed AS (
    UPDATE task_attempts a SET finished_at = now(), outcome = 'succeeded',
        exit_code = c.exit_code, error = c.error
    FROM changed c WHERE a.task_id = c.id AND a.attempt = c.attempts)
SELECT * FROM changed;
