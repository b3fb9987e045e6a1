-- storage::attempts::assign: hands each task $1[i] to worker $2[i] if it is
-- still queued and still matches the worker's tags: it becomes running on
-- that worker with its attempt counted, in one statement for all the
-- workers. (The attempt's row in `task_attempts` is written once, when it
-- ends; until then the task's row is its record.) Answers the tasks handed over. Fenced: fails (SQLSTATE
-- SYF01) unless $3 is the current leader's epoch.
--
-- Shaped for one plan: for each pair, the task by its primary key and the
-- worker's tags by theirs. `state::text` keeps the planner off the partial
-- index `tasks_queued`: on statistics taken while few tasks were queued it
-- chose to scan that whole index for a 32-task hand-over (36 ms instead of
-- 0.8 ms with 30,000 queued). A join with `workers` instead of the subquery
-- went through the GIN index on tags; `id = ANY(…)` beside the join made it
-- rescan the input per task. The task's tags are its spec's, read by key.
WITH input AS (
    SELECT * FROM unnest($1::bigint[], $2::bigint[]) AS i(task_id, worker_id)),
assigned AS (
    UPDATE tasks t SET state = 'running', worker_id = i.worker_id,
        attempts = t.attempts + 1, started_at = now(), finished_at = NULL, not_before = NULL
    FROM input i
    WHERE t.id = i.task_id AND t.state::text = 'queued'
      AND (SELECT s.tags FROM task_specs s WHERE s.id = t.id)
          <@ (SELECT w.tags FROM workers w WHERE w.id = i.worker_id)
      AND (SELECT switchyard_fence($3))
    RETURNING t.*)
SELECT a.*, s.owner, s.argv, s.env, s.working_dir, s.tags, s.labels, s.idempotency_key
FROM assigned a JOIN task_specs s ON s.id = a.id
