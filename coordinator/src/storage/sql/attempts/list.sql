-- storage::attempts::attempts: every attempt of task $1, first to last:
-- those that ended, from `task_attempts`, and the one running now, from the
-- task's own row (an attempt's row is written when it ends).
SELECT attempt, worker_id, started_at, finished_at, outcome, exit_code, error
FROM task_attempts WHERE task_id = $1
UNION ALL
SELECT attempts, worker_id, started_at, NULL, NULL, NULL, NULL
FROM tasks WHERE id = $1 AND state = 'running'
ORDER BY attempt
