-- storage::tasks::update_queued: sets priority $2 and tags $3 of task $1,
-- if it is still queued: the priority in its state, the tags in its spec,
-- in one statement (the spec only if the state changed).
WITH state AS (
    UPDATE tasks SET priority = $2 WHERE id = $1 AND state = 'queued'
    RETURNING *),
spec AS (
    UPDATE task_specs s SET tags = $3 FROM state WHERE s.id = state.id
    RETURNING s.*)
SELECT t.*, s.owner, s.argv, s.env, s.working_dir, s.tags, s.labels, s.idempotency_key
FROM state t JOIN spec s ON s.id = t.id
