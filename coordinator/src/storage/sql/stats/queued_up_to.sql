-- storage::stats::queued_up_to: queued tasks, counted up to $1 at most.
SELECT count(*) AS n FROM (SELECT 1 FROM tasks WHERE state = 'queued' LIMIT $1) AS capped
