-- storage::workers::touch_live: every live worker's heartbeat clock restarts
-- now (at start-up: time the coordinator was down is not theirs).
UPDATE workers SET last_heartbeat = now() WHERE state <> 'gone'
