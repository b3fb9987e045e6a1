-- storage::workers::silent_since: live workers last heard from more than $1
-- seconds ago.
SELECT id FROM workers
WHERE state <> 'gone' AND last_heartbeat < now() - make_interval(secs => $1)
