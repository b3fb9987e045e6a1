-- storage::stats::count_active: queued and running tasks, by state.
SELECT state::text AS state, count(*) AS n FROM tasks
WHERE state IN ('queued', 'running') GROUP BY state
