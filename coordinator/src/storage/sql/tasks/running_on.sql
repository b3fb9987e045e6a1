-- storage::tasks::running_on: which of tasks $1 worker $2 runs now, with the
-- attempt it runs.
SELECT id, attempts FROM tasks
WHERE id = ANY($1) AND worker_id = $2 AND state = 'running'
