-- storage::attempts::expire_overdue: running tasks whose timeout plus $1
-- seconds has passed with no report (their agent is hung or cut off). Each
-- is retried after a back-off from $2 seconds, doubling per attempt, capped
-- at $3, plus up to a quarter of jitter, when attempts are left, and ends
-- `timed_out` otherwise (`cancelled` when a user asked). The attempts are
-- closed the same way. Answers the tasks. `finished_at` is set, a retry's
-- too (see release.sql). Fenced: fails (SQLSTATE SYF01) unless $4 is the
-- current leader's epoch.
WITH changed AS (
    UPDATE tasks SET
        state = CASE WHEN attempts < max_attempts AND NOT cancel_requested
                     THEN 'queued'::task_state
                     WHEN cancel_requested THEN 'cancelled'::task_state
                     ELSE 'timed_out'::task_state END,
        not_before = CASE WHEN attempts < max_attempts AND NOT cancel_requested
            THEN now() + make_interval(secs =>
                LEAST($3, $2 * power(2, attempts - 1)) * (1 + random() / 4)) END,
        finished_at = now(), exit_code = NULL,
        error = 'no report within the timeout plus ' || $1::text || 's: presumed hung'
    WHERE state = 'running'
      AND started_at + make_interval(secs => timeout_secs + $1) < now()
      AND (SELECT switchyard_fence($4))
    RETURNING *),
closed AS (
    INSERT INTO task_attempts (task_id, attempt, worker_id, started_at, finished_at,
                               outcome, exit_code, error)
    SELECT id, attempts, worker_id, started_at, now(),
           CASE WHEN state = 'cancelled' THEN 'cancelled' ELSE 'timed_out' END, NULL, error
    FROM changed)
SELECT c.*, s.owner, s.argv, s.env, s.working_dir, s.tags, s.labels, s.idempotency_key
FROM changed c JOIN task_specs s ON s.id = c.id
