-- storage::tasks::retry: queues finished task $1 again for one more attempt.
-- The attempt that ended it was told only by the task's row; it gets its
-- own row in `task_attempts` now, before the next attempt overwrites that.
-- The task's output and last error stay until the new attempt ends.
WITH ended AS (
    INSERT INTO task_attempts (task_id, attempt, worker_id, started_at, finished_at, outcome, exit_code, error)
    SELECT id, attempts, worker_id, started_at, finished_at, state::text, exit_code, error
    FROM tasks
    WHERE id = $1 AND state IN ('succeeded', 'failed', 'cancelled', 'timed_out')
      AND attempts > 0 AND worker_id IS NOT NULL AND started_at IS NOT NULL
    ON CONFLICT (task_id, attempt) DO NOTHING),
changed AS (
    UPDATE tasks
    SET state = 'queued', finished_at = NULL, not_before = NULL, cancel_requested = false,
        max_attempts = GREATEST(max_attempts, attempts + 1)
    WHERE id = $1 AND state IN ('succeeded', 'failed', 'cancelled', 'timed_out')
    RETURNING *)
SELECT c.*, s.owner, s.argv, s.env, s.working_dir, s.tags, s.labels, s.idempotency_key
FROM changed c JOIN task_specs s ON s.id = c.id
