-- storage::attempts::release: takes running tasks back from a worker that
-- lost them. Which ones: with $3 a worker, its running tasks except those
-- in $4 (the ones its agent says it runs) handed over more than $5 seconds
-- ago (any time ago when $5 is NULL); with $3 NULL, every running task of a
-- worker that is gone (it left while a hand-over was in flight). The branch
-- not asked for is not read: its filter holds parameters only.
--
-- Each goes back to `queued` (its attempt stays counted) and waits $2
-- seconds (the lost-attempt fence; none when 0); `failed` once it has been
-- lost $1 attempts beyond its `max_attempts` (a task that kills its machine
-- must not loop forever); `cancelled` when a user asked for that. The
-- attempts are closed as `lost` (or `cancelled`). Answers the tasks.
-- A task queued again here has no `finished_at`, unlike a retry's back-off
-- (finish.sql, expire_overdue.sql): a standby tells the fence by that
-- (service::figures).
-- Fenced: fails (SQLSTATE SYF01) unless $6 is the current leader's epoch.
WITH doomed AS (
    SELECT id, worker_id, attempts FROM tasks
    WHERE worker_id = $3 AND state = 'running' AND NOT (id = ANY($4))
      AND ($5::float8 IS NULL OR started_at < now() - make_interval(secs => $5))
    UNION ALL
    SELECT t.id, t.worker_id, t.attempts FROM tasks t JOIN workers w ON w.id = t.worker_id
    WHERE $3::bigint IS NULL AND t.state = 'running' AND w.state = 'gone'),
changed AS (
    UPDATE tasks t SET
        state = CASE WHEN t.cancel_requested THEN 'cancelled'::task_state
                     WHEN t.attempts >= t.max_attempts + $1 THEN 'failed'::task_state
                     ELSE 'queued'::task_state END,
        not_before = CASE WHEN NOT t.cancel_requested AND t.attempts < t.max_attempts + $1
                               AND $2 > 0
                          THEN now() + make_interval(secs => $2) END,
        error = CASE WHEN t.cancel_requested THEN t.error
                     ELSE 'worker ' || t.worker_id::text || ' was lost while running this task'
                END,
        finished_at = CASE WHEN t.cancel_requested OR t.attempts >= t.max_attempts + $1
                           THEN now() ELSE NULL END
    WHERE t.state = 'running'
      AND (t.id, t.worker_id, t.attempts) IN (SELECT id, worker_id, attempts FROM doomed)
      AND (SELECT switchyard_fence($6))
    RETURNING t.*),
closed AS (
    INSERT INTO task_attempts (task_id, attempt, worker_id, started_at, finished_at,
                               outcome, exit_code, error)
    SELECT id, attempts, worker_id, started_at, now(),
           CASE WHEN cancel_requested THEN 'cancelled' ELSE 'lost' END, NULL, error
    FROM changed)
SELECT c.*, s.owner, s.argv, s.env, s.working_dir, s.tags, s.labels, s.idempotency_key
FROM changed c JOIN task_specs s ON s.id = c.id
