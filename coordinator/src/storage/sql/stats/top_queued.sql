-- storage::stats::top_queued: the $1 queued tasks that run next (highest
-- priority, then oldest), of owner $2 only when not NULL.
SELECT id, priority, tags, labels, created_at, attempts, not_before, finished_at
FROM task_rows
WHERE state = 'queued' AND ($2::text IS NULL OR owner = $2)
ORDER BY priority DESC, id LIMIT $1
