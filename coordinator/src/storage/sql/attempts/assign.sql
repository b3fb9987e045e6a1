-- storage::attempts::assign: hands each task $1[i] to worker $2[i] if it is
-- still queued and still matches the worker's tags: it becomes running on
-- that worker with its attempt counted, in one statement for all the
-- workers. (The attempt's row in `task_attempts` is written once, when it
-- ends; until then the task's row is its record.) Answers the tasks handed
-- over with what their agents need to run them (not the task whole: a
-- retried task's row still holds its last attempt's output). Fenced: fails
-- (SQLSTATE SYF01) unless $3 is the current leader's epoch.
--
-- Shaped for one plan: the few workers' tags read once (`holders`) and
-- joined by hash; for each pair, the spec and the task by their primary
-- keys, the spec read once for the tags and the answer. `state::text`
-- keeps the planner off the partial index `tasks_queued`: on statistics
-- taken while few tasks were queued it chose to scan that whole index for
-- a 32-task hand-over (36 ms instead of 0.8 ms with 30,000 queued).
WITH input AS (
    SELECT * FROM unnest($1::bigint[], $2::bigint[]) AS i(task_id, worker_id)),
holders AS MATERIALIZED (
    SELECT w.id, w.tags FROM workers w WHERE w.id = ANY($2::bigint[])),
assigned AS (
    UPDATE tasks t SET state = 'running', worker_id = i.worker_id,
        attempts = t.attempts + 1, started_at = now(), finished_at = NULL, not_before = NULL
    FROM input i
    JOIN holders w ON w.id = i.worker_id
    JOIN task_specs s ON s.id = i.task_id
    WHERE t.id = i.task_id AND t.state::text = 'queued' AND s.tags <@ w.tags
      AND (SELECT switchyard_fence($3))
    RETURNING t.id, t.attempts, t.timeout_secs, t.created_at, t.started_at,
              s.argv, s.env, s.working_dir)
SELECT * FROM assigned
