-- storage::tasks::count_queued: how many tasks are queued that require tag
-- $1 and are owned by $2 (each when not NULL), counted up to $3.
SELECT count(*) AS n FROM (
    SELECT 1 FROM task_rows
    WHERE state = 'queued'
      AND ($1::text IS NULL OR (tags <> '{}' AND tags @> ARRAY[$1::text]))
      AND ($2::text IS NULL OR owner = $2)
    LIMIT $3) counted
