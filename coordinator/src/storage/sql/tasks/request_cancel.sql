-- storage::tasks::request_cancel: flags task $1, if running, for its agent
-- to kill at the next heartbeat.
WITH changed AS (
    UPDATE tasks SET cancel_requested = true WHERE id = $1 AND state = 'running'
    RETURNING *)
SELECT c.*, s.owner, s.argv, s.env, s.working_dir, s.tags, s.labels, s.idempotency_key
FROM changed c JOIN task_specs s ON s.id = c.id
