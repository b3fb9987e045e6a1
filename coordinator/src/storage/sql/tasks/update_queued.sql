-- storage::tasks::update_queued: sets priority $2 and tags $3 of task $1,
-- if it is still queued.
UPDATE tasks SET priority = $2, tags = $3 WHERE id = $1 AND state = 'queued'
RETURNING *
