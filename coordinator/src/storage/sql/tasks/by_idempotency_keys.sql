-- storage::tasks::by_idempotency_keys: the tasks of owner $1 with the
-- idempotency keys $2.
SELECT * FROM task_rows WHERE owner = $1 AND idempotency_key = ANY($2)
