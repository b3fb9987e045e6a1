-- storage::stats::count_active: queued and running tasks, by state.
SELECT state, count(*) AS n FROM tasks
WHERE state IN ('queued', 'running') GROUP BY state
