-- storage::tasks::running_on_worker: the tasks worker $1 runs, newest
-- first, of owner $2 when not NULL, at most $3.
SELECT * FROM task_rows
WHERE state = 'running' AND worker_id = $1
  AND ($2::text IS NULL OR owner = $2)
ORDER BY id DESC LIMIT $3
