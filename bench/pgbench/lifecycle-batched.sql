-- One task lifecycle per task of a batch of `:batch`, as Switchyard writes it:
-- submit, assign, finish — three statements, each its own transaction
-- (autocommit), so three commits per batch. Variables: `:tasks_json` (set by
-- run.sh), `:worker` (set below: each client has its own worker row).
-- Columns returned are the coordinator's `COLUMNS`.
\set worker :client_id + 1

-- 1. Submit: `storage::tasks::insert_many`, one statement for the batch
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

-- 2. Fetch: `storage::attempts::assign` for the whole batch — the
--    conditional UPDATE that hands queued tasks to worker `:worker`, and the
--    INSERT of their attempts, in one statement.
WITH assigned AS (
    UPDATE tasks SET state = 'running', worker_id = :worker, attempts = attempts + 1,
        started_at = now(), finished_at = NULL, not_before = NULL
    WHERE id = ANY(:ids::bigint[]) AND state = 'queued'
      AND tags <@ (SELECT tags FROM workers WHERE id = :worker)
    RETURNING id, owner, state::text AS state, argv, env, working_dir, tags, labels,
              priority, timeout_secs, max_attempts, attempts, worker_id, cancel_requested,
              not_before, exit_code, stdout, stderr, stdout_truncated, stderr_truncated, error,
              idempotency_key, created_at, started_at, finished_at),
recorded AS (
    INSERT INTO task_attempts (task_id, attempt, worker_id, started_at)
    SELECT id, attempts, worker_id, started_at FROM assigned)
SELECT * FROM assigned;

-- 3. Report: `storage::attempts::finish` for the whole batch — the UPDATE
--    to `succeeded` and the closing of the attempts, in one statement. (The
--    coordinator today runs this once per task, with `id = $1 AND attempts =
--    $3`; lifecycle-single.sql has that shape.)
WITH changed AS (
    UPDATE tasks SET state = 'succeeded'::task_state, not_before = NULL, exit_code = 0,
        stdout = '', stderr = '', stdout_truncated = false, stderr_truncated = false,
        error = NULL, finished_at = now()
    WHERE id = ANY(:ids::bigint[]) AND worker_id = :worker AND state = 'running'
    RETURNING id, owner, state::text AS state, argv, env, working_dir, tags, labels,
              priority, timeout_secs, max_attempts, attempts, worker_id, cancel_requested,
              not_before, exit_code, stdout, stderr, stdout_truncated, stderr_truncated, error,
              idempotency_key, created_at, started_at, finished_at),
closed AS (
    UPDATE task_attempts a SET finished_at = now(), outcome = 'succeeded',
        exit_code = c.exit_code, error = c.error
    FROM changed c WHERE a.task_id = c.id AND a.attempt = c.attempts)
SELECT * FROM changed;
