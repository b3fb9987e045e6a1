-- storage::tasks::due_ids: a page of the reconciliation's pass: up to $2
-- ids of queued tasks due now (no back-off or fence ahead), above id $1,
-- in id order.
SELECT id FROM tasks
WHERE state = 'queued' AND (not_before IS NULL OR not_before <= now()) AND id > $1
ORDER BY id
LIMIT $2
