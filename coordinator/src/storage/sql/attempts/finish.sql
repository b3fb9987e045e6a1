-- storage::attempts::finish: ends each reported attempt that its worker still
-- holds, in one statement. The attempt is recorded in `task_attempts` when
-- the task will run again, or when it ended otherwise than the task (an
-- interrupted attempt past the allowance fails the task); an attempt that
-- ends the task the way it ended is told by the task's own row, which holds
-- the same worker, times, exit code and error (see list.sql). $1 to $12
-- are the reports, one typed array per field (see `finish_values`; an exit
-- code or error counts only where $6 or $12 says it is there); a failed or
-- timed-out attempt with attempts left is retried after a back-off from
-- $13 seconds, doubling per attempt, capped at $14, plus up to a quarter of
-- jitter; an interrupted one runs again at once within the allowance of
-- $15 lost attempts beyond `max_attempts`.
--
-- Every attempt ends here with `finished_at` set, a retry's too (a standby
-- tells a back-off from a lost attempt's fence by that: see release.sql).
--
-- The task's new state: `succeeded`; `cancelled` when the worker or a user
-- cancelled it; `queued` for a retry; `failed` or `timed_out` otherwise. The
-- attempt is closed with the reported outcome (`cancelled` when a user asked,
-- whatever the process did, unless it succeeded). Reports whose attempt the
-- worker no longer holds change nothing and are absent from the answer,
-- which gives each recorded task's id, new state and `not_before`.
--
-- Shaped for one plan: for each report, its task by the primary key (the
-- reports are few; `unnest` is estimated at 10 rows, which keeps the
-- planner on a nested loop driven by them). The state compared as text
-- keeps it off the partial indexes (see assign.sql). Naming the ids a
-- second time, as `t.id = ANY($1)`, made it read the tasks first and scan
-- every report for each: quadratic. (A custom plan, which knows how many
-- reports there are, may instead hash a scan of a table it thinks small;
-- the server plans so only for a connection's first few runs.)
--
-- Fenced: fails (SQLSTATE SYF01) unless $16 is the current leader's epoch.
-- A report must reach the leader whose dispatcher frees the slot; one that
-- a deposed leader took would leave the new leader's slot taken for ever.
WITH input AS (
    SELECT i.r_id, i.r_worker, i.r_attempt, i.r_outcome,
           CASE WHEN i.has_exit_code THEN i.r_exit_code END AS r_exit_code,
           i.r_stdout, i.r_stderr, i.r_stdout_truncated, i.r_stderr_truncated,
           CASE WHEN i.has_error THEN i.r_error END AS r_error
    FROM unnest($1::bigint[], $2::bigint[], $3::int[], $4::text[], $5::int[], $6::bool[],
                $7::text[], $8::text[], $9::bool[], $10::bool[], $11::text[], $12::bool[])
        AS i(r_id, r_worker, r_attempt, r_outcome, r_exit_code, has_exit_code,
             r_stdout, r_stderr, r_stdout_truncated, r_stderr_truncated, r_error, has_error)),
changed AS (
    UPDATE tasks t SET
        state = CASE WHEN i.r_outcome = 'succeeded' THEN 'succeeded'
                     WHEN t.cancel_requested OR i.r_outcome = 'cancelled' THEN 'cancelled'
                     -- A retry (this condition again in `not_before`):
                     WHEN NOT t.cancel_requested AND t.attempts < t.max_attempts
                          AND i.r_outcome IN ('failed', 'timed_out') THEN 'queued'
                     -- Interrupted by its agent, not by its own doing: again at once.
                     WHEN NOT t.cancel_requested AND i.r_outcome = 'interrupted'
                          AND t.attempts < t.max_attempts + $15 THEN 'queued'
                     WHEN i.r_outcome = 'timed_out' THEN 'timed_out'
                     ELSE 'failed' END::task_state,
        not_before = CASE WHEN NOT t.cancel_requested AND t.attempts < t.max_attempts
                               AND i.r_outcome IN ('failed', 'timed_out')
                          THEN now() + make_interval(secs =>
                              LEAST($14, $13 * power(2, LEAST(t.attempts - 1, 20)))
                              * (1 + random() / 4)) END,
        exit_code = i.r_exit_code, stdout = i.r_stdout, stderr = i.r_stderr,
        stdout_truncated = i.r_stdout_truncated, stderr_truncated = i.r_stderr_truncated,
        error = i.r_error, finished_at = now()
    FROM input i
    WHERE t.id = i.r_id AND t.worker_id = i.r_worker
      AND t.attempts = i.r_attempt AND t.state::text = 'running'
      AND (SELECT switchyard_fence($16))
    RETURNING t.*, CASE WHEN t.cancel_requested AND i.r_outcome <> 'succeeded'
                        THEN 'cancelled' ELSE i.r_outcome END AS attempt_outcome),
closed AS (
    INSERT INTO task_attempts (task_id, attempt, worker_id, started_at, finished_at,
                               outcome, exit_code, error)
    SELECT id, attempts, worker_id, started_at, now(), attempt_outcome, exit_code, error
    FROM changed WHERE state = 'queued' OR attempt_outcome <> state::text)
SELECT id, state, not_before FROM changed
