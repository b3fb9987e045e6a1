-- storage::tasks::list: a page of tasks, newest first, filtered by state $1,
-- required tag $2, label $3 and owner $6 (each when not NULL), below the id
-- $4 (the cursor), at most $5. (archive/list.sql is this over the archive: a
-- single statement over both tables loses the walk down the primary key.)
-- The tag and label filters repeat the predicates of their partial GIN
-- indexes (`<> '{}'`), so that the planner may use them.
SELECT * FROM task_rows
WHERE ($1::text IS NULL OR state = $1::task_state)
  AND ($2::text IS NULL OR (tags <> '{}' AND tags @> ARRAY[$2::text]))
  AND ($3::text IS NULL OR (labels <> '{}' AND labels @> ARRAY[$3::text]))
  AND ($4::bigint IS NULL OR id < $4)
  AND ($6::text IS NULL OR owner = $6)
ORDER BY id DESC LIMIT $5
