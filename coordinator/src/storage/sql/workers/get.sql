-- storage::workers::get: worker $1, gone or not.
SELECT id, name, tags, slots, state::text AS state, registered_at, last_heartbeat, left_at
FROM workers WHERE id = $1
