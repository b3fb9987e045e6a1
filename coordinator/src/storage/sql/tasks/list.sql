-- storage::tasks::list and storage::archive::list: a page of the hot tasks
-- ($7 false) or of the archived ones ($7 true; the archive has the columns of
-- `tasks`, in order, plus `archived_at`), newest first, filtered by state $1,
-- required tag $2, label $3 and owner $6 (each when not NULL), below the id
-- $4 (the cursor), at most $5. The table not asked for is not read: its
-- branch's filter holds a parameter only.
SELECT * FROM (SELECT *, NULL::timestamptz AS archived_at FROM tasks WHERE NOT $7::bool
      UNION ALL
      SELECT * FROM tasks_archive WHERE $7::bool) AS t
WHERE ($1::text IS NULL OR state = $1::task_state)
  AND ($2::text IS NULL OR tags @> ARRAY[$2::text])
  AND ($3::text IS NULL OR labels @> ARRAY[$3::text])
  AND ($4::bigint IS NULL OR id < $4)
  AND ($6::text IS NULL OR owner = $6)
ORDER BY id DESC LIMIT $5
