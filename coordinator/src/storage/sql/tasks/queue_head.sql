-- storage::tasks::queue_head: the first $3 queued tasks in dispatch order
-- (highest priority first, then oldest), of those requiring tag $1 and
-- owned by $2 (each when not NULL).
SELECT * FROM task_rows
WHERE state = 'queued'
  AND ($1::text IS NULL OR (tags <> '{}' AND tags @> ARRAY[$1::text]))
  AND ($2::text IS NULL OR owner = $2)
ORDER BY priority DESC, id
LIMIT $3
