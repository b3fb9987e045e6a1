-- storage::stats::count_by_state: tasks in each state (one scan of `tasks`).
SELECT state, count(*) AS n FROM tasks GROUP BY state
