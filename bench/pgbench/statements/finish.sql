-- A statement of the coordinator's, shared by the lifecycle-*.sql scripts:
-- run.sh puts it where a script says `--@ NAME | IDS | RETURNING`, filling in
-- @IDS@ (an array expression of task ids), @RETURNING@ and @COLUMNS@ (a task
-- row's columns, as in `storage::tasks::COLUMNS`); comment lines stay here.
-- Keep it the same as the coordinator's statement.
-- `storage::attempts::finish_many`: the UPDATE that ends each reported
-- attempt (all succeeded) and the closing of the attempts, in one statement.
-- The coordinator binds the reports as a JSON parameter; here the same JSON
-- is built from the ids in the statement itself.
WITH input AS (
    SELECT * FROM jsonb_to_recordset((
        SELECT jsonb_agg(jsonb_build_object('r_id', x, 'r_worker', :worker::bigint, 'r_attempt', 1,
                   'r_outcome', 'succeeded', 'r_exit_code', 0, 'r_stdout', '', 'r_stderr', '',
                   'r_stdout_truncated', false, 'r_stderr_truncated', false, 'r_error', NULL))
        FROM unnest(@IDS@) AS x))
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
    WHERE t.id = ANY(@IDS@) AND t.id = i.r_id AND t.worker_id = i.r_worker
      AND t.attempts = i.r_attempt AND t.state::text = 'running'
    RETURNING t.*, CASE WHEN t.cancel_requested AND i.r_outcome <> 'succeeded'
                        THEN 'cancelled' ELSE i.r_outcome END AS attempt_outcome),
closed AS (
    UPDATE task_attempts a SET finished_at = now(), outcome = c.attempt_outcome,
        exit_code = c.exit_code, error = c.error
    FROM changed c WHERE a.task_id = c.id AND a.attempt = c.attempts)
SELECT @RETURNING@ FROM changed;
