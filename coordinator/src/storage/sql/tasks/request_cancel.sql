-- storage::tasks::request_cancel: flags task $1, if running, for its agent
-- to kill at the next heartbeat.
UPDATE tasks SET cancel_requested = true WHERE id = $1 AND state = 'running'
RETURNING *
