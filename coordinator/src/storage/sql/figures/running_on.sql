-- storage::figures::running_on: how many tasks each of the workers $1
-- runs; a worker that runs none is absent. Served by `tasks_running_worker`.
SELECT worker_id, count(*) AS n FROM tasks
WHERE state = 'running' AND worker_id = ANY($1)
GROUP BY worker_id
