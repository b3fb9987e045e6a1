-- storage::archive::move_finished: moves up to $2 tasks that finished more
-- than $1 seconds ago from `tasks` into `tasks_archive`. Only rows in a final
-- state are read, locked and deleted, and rows another transaction holds are
-- skipped, so a move never waits for, nor makes wait, any statement on queued
-- or running tasks. The predicate repeats the partial index
-- `tasks_finished_at`'s, so the candidates come from that index in
-- `finished_at` order. A task's spec leaves `task_specs` with it; the
-- archive holds the task whole, as `task_rows` shows it (tests/it/retention.rs
-- checks that it has every column of it).
WITH moved AS (
    DELETE FROM tasks WHERE id IN (
        SELECT id FROM tasks
        WHERE state IN ('succeeded', 'failed', 'cancelled', 'timed_out')
          AND finished_at < now() - make_interval(secs => $1)
        ORDER BY finished_at LIMIT $2
        FOR UPDATE SKIP LOCKED)
    RETURNING *),
spec AS (
    DELETE FROM task_specs s USING moved m WHERE s.id = m.id
    RETURNING s.*)
INSERT INTO tasks_archive (id, owner, state, argv, env, working_dir, tags, labels, priority,
                           timeout_secs, max_attempts, attempts, worker_id, cancel_requested,
                           not_before, exit_code, stdout, stderr, stdout_truncated,
                           stderr_truncated, error, idempotency_key, created_at, started_at,
                           finished_at)
SELECT m.id, s.owner, m.state, s.argv, s.env, s.working_dir, s.tags, s.labels, m.priority,
       m.timeout_secs, m.max_attempts, m.attempts, m.worker_id, m.cancel_requested,
       m.not_before, m.exit_code, m.stdout, m.stderr, m.stdout_truncated,
       m.stderr_truncated, m.error, s.idempotency_key, m.created_at, m.started_at,
       m.finished_at
FROM moved m JOIN spec s ON s.id = m.id
