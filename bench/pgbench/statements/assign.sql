-- A statement of the coordinator's, shared by the lifecycle-*.sql scripts:
-- run.sh puts it where a script says `--@ NAME | IDS | RETURNING`, filling in
-- @IDS@ (an array expression of task ids), @RETURNING@ and @COLUMNS@ (a task
-- row's columns, as in `storage::tasks::COLUMNS`); comment lines stay here.
-- Keep it the same as the coordinator's statement.
-- `storage::attempts::assign`: the conditional UPDATE that hands the queued
-- tasks @IDS@ to worker `:worker`, with the INSERT of their attempts, in one
-- statement.
WITH input AS (
    SELECT * FROM unnest(@IDS@, array_fill(:worker::bigint, ARRAY[cardinality(@IDS@)]))
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
SELECT @COLUMNS@
FROM assigned;
