-- storage::workers::live: every worker that has not gone, oldest first.
SELECT id, name, tags, slots, state::text AS state, registered_at, last_heartbeat, left_at
FROM workers WHERE state <> 'gone' ORDER BY id
