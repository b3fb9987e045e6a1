-- storage::tasks::cancel_queued: cancels task $1 if it is still queued.
UPDATE tasks SET state = 'cancelled', finished_at = now(), not_before = NULL
WHERE id = $1 AND state = 'queued'
RETURNING *
