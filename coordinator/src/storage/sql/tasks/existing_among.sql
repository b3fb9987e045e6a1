-- storage::tasks::existing_among: which of the tasks $1 are in the hot table.
SELECT id FROM tasks WHERE id = ANY($1)
