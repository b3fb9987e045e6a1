-- storage::tasks::end_fence: of the tasks $1, those queued and waiting may
-- start now. The state compared as text keeps the planner on the primary
-- key (see attempts/assign.sql).
UPDATE tasks SET not_before = NULL
WHERE id = ANY($1) AND state::text = 'queued' AND not_before > now()
RETURNING id, priority, tags, not_before, created_at
