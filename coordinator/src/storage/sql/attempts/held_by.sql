-- storage::attempts::held_by: the tasks running on worker $1, each with
-- whether a cancel was asked and whether it was handed over more than $2
-- seconds ago. One read on the running-tasks index.
SELECT id, cancel_requested, started_at < now() - make_interval(secs => $2) AS overdue
FROM tasks WHERE worker_id = $1 AND state = 'running'
