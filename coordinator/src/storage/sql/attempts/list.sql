-- storage::attempts::attempts: every attempt of task $1, first to last.
-- Attempts the task went on after, and those that ended otherwise than the
-- task, have their row in `task_attempts`; the attempt running now, and the
-- one that ended the task the way it ended, are told by the task's own row
-- (in `tasks`, or `tasks_archive` once archived): the state is the outcome.
SELECT attempt, worker_id, started_at, finished_at, outcome, exit_code, error
FROM task_attempts WHERE task_id = $1
UNION ALL
SELECT t.attempts, t.worker_id, t.started_at,
       CASE WHEN t.state = 'running' THEN NULL ELSE t.finished_at END,
       CASE WHEN t.state = 'running' THEN NULL ELSE t.state::text END,
       CASE WHEN t.state = 'running' THEN NULL ELSE t.exit_code END,
       CASE WHEN t.state = 'running' THEN NULL ELSE t.error END
FROM (SELECT state, attempts, worker_id, started_at, finished_at, exit_code, error
      FROM tasks WHERE id = $1
      UNION ALL
      SELECT state, attempts, worker_id, started_at, finished_at, exit_code, error
      FROM tasks_archive WHERE id = $1) AS t
WHERE t.attempts > 0 AND t.state <> 'queued' AND t.worker_id IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM task_attempts a WHERE a.task_id = $1 AND a.attempt = t.attempts)
ORDER BY attempt
