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
WITH input AS (
    SELECT * FROM unnest((:ids::bigint[])[:k : :last], array_fill(:worker::bigint, ARRAY[cardinality((:ids::bigint[])[:k : :last])]))
        AS i(task_id, worker_id)),
assigned AS (
    UPDATE tasks t SET state = 'running', worker_id = i.worker_id, attempts = t.attempts + 1,
        started_at = now(), finished_at = NULL, not_before = NULL
    FROM input i
    WHERE t.id = i.task_id AND t.state::text = 'queued'
      AND t.tags <@ (SELECT w.tags FROM workers w WHERE w.id = i.worker_id)
    RETURNING t.*),
recorded AS (
    INSERT INTO task_attempts (task_id, attempt, worker_id, started_at)
    SELECT id, attempts, worker_id, started_at FROM assigned)
SELECT id, owner, state::text AS state, argv, env, working_dir, tags, labels,
       priority, timeout_secs, max_attempts, attempts, worker_id, cancel_requested,
       not_before, exit_code, stdout, stderr, stdout_truncated, stderr_truncated, error,
       idempotency_key, created_at, started_at, finished_at
FROM assigned;

-- 3. Report, per fetch: `storage::attempts::finish_many` for the tasks that
--    fetch brought (one batched report).
WITH input AS (
    SELECT * FROM jsonb_to_recordset((
        SELECT jsonb_agg(jsonb_build_object('r_id', x, 'r_worker', :worker::bigint, 'r_attempt', 1,
                   'r_outcome', 'succeeded', 'r_exit_code', 0, 'r_stdout', '', 'r_stderr', '',
                   'r_stdout_truncated', false, 'r_stderr_truncated', false, 'r_error', NULL))
        FROM unnest((:ids::bigint[])[:k : :last]) AS x))
        AS i(r_id bigint, r_worker bigint, r_attempt int, r_outcome text, r_exit_code int,
             r_stdout text, r_stderr text, r_stdout_truncated bool, r_stderr_truncated bool,
             r_error text)),
changed AS (
    UPDATE tasks t SET
        state = CASE WHEN i.r_outcome = 'succeeded' THEN 'succeeded'
                     WHEN t.cancel_requested OR i.r_outcome = 'cancelled' THEN 'cancelled'
                     WHEN NOT t.cancel_requested AND t.attempts < t.max_attempts AND i.r_outcome IN ('failed', 'timed_out') THEN 'queued'
                     WHEN i.r_outcome = 'timed_out' THEN 'timed_out'
                     ELSE 'failed' END::task_state,
        not_before = CASE WHEN NOT t.cancel_requested AND t.attempts < t.max_attempts AND i.r_outcome IN ('failed', 'timed_out') THEN now() + make_interval(secs =>
            LEAST(300, 1 * power(2, LEAST(t.attempts - 1, 20))) * (1 + random() / 4)) END,
        exit_code = i.r_exit_code, stdout = i.r_stdout, stderr = i.r_stderr,
        stdout_truncated = i.r_stdout_truncated, stderr_truncated = i.r_stderr_truncated,
        error = i.r_error, finished_at = now()
    FROM input i
    WHERE t.id = ANY((:ids::bigint[])[:k : :last]) AND t.id = i.r_id AND t.worker_id = i.r_worker
      AND t.attempts = i.r_attempt AND t.state::text = 'running'
    RETURNING t.*, CASE WHEN t.cancel_requested AND i.r_outcome <> 'succeeded'
                        THEN 'cancelled' ELSE i.r_outcome END AS attempt_outcome),
closed AS (
    UPDATE task_attempts a SET finished_at = now(), outcome = c.attempt_outcome,
        exit_code = c.exit_code, error = c.error
    FROM changed c WHERE a.task_id = c.id AND a.attempt = c.attempts)
SELECT id, worker_id, state::text AS state, not_before FROM changed;
\endif
