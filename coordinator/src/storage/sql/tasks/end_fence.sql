-- storage::tasks::end_fence: of the tasks $1, those queued and waiting may
-- start now. The state compared as text keeps the planner on the primary
-- key (see attempts/assign.sql). Fenced: fails (SQLSTATE SYF01) unless $2
-- is the current leader's epoch.
WITH changed AS (
    UPDATE tasks SET not_before = NULL
    WHERE id = ANY($1) AND state::text = 'queued' AND not_before > now()
      AND (SELECT switchyard_fence($2))
    RETURNING id, priority, not_before, created_at)
SELECT c.*, s.tags FROM changed c JOIN task_specs s ON s.id = c.id
