-- storage::archive::list: a page of archived tasks, with the filters, cursor
-- and order of tasks/list.sql.
SELECT * FROM tasks_archive
WHERE ($1::text IS NULL OR state = $1::task_state)
  AND ($2::text IS NULL OR tags @> ARRAY[$2::text])
  AND ($3::text IS NULL OR labels @> ARRAY[$3::text])
  AND ($4::bigint IS NULL OR id < $4)
  AND ($6::text IS NULL OR owner = $6)
ORDER BY id DESC LIMIT $5
