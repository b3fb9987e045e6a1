-- storage::attempts::attempts: every attempt of task $1, first to last.
SELECT attempt, worker_id, started_at, finished_at, outcome, exit_code, error
FROM task_attempts WHERE task_id = $1 ORDER BY attempt
