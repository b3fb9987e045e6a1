-- storage::tasks::queued: every queued task, in dispatch order (seeding).
SELECT id, priority, tags, not_before, created_at FROM task_rows WHERE state = 'queued'
ORDER BY priority DESC, id
