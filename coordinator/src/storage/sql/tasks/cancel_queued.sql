-- storage::tasks::cancel_queued: cancels task $1 if it is still queued.
WITH changed AS (
    UPDATE tasks SET state = 'cancelled', finished_at = now(), not_before = NULL
    WHERE id = $1 AND state = 'queued'
    RETURNING *)
SELECT c.*, s.owner, s.argv, s.env, s.working_dir, s.tags, s.labels, s.idempotency_key
FROM changed c JOIN task_specs s ON s.id = c.id
