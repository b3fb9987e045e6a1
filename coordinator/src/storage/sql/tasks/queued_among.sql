-- storage::tasks::queued_among: those of the tasks $1 that are queued.
SELECT id, priority, tags, not_before, created_at FROM task_rows
WHERE id = ANY($1) AND state = 'queued'
