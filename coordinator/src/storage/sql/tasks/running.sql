-- storage::tasks::running: which worker runs which task.
SELECT id, worker_id FROM tasks WHERE state = 'running' AND worker_id IS NOT NULL
