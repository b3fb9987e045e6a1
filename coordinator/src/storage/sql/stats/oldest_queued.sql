-- storage::stats::oldest_queued: when the oldest queued task was submitted
-- (ids grow with submission).
SELECT created_at FROM tasks WHERE state = 'queued' ORDER BY id LIMIT 1
