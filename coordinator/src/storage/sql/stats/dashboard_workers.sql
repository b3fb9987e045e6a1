-- storage::stats::dashboard_workers: workers not gone, and those that left
-- within $1 seconds, by id.
SELECT id, name, tags, slots, state, last_heartbeat FROM workers
WHERE state <> 'gone' OR left_at > now() - make_interval(secs => $1)
ORDER BY id
