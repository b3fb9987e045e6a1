-- storage::archive::move_finished: moves up to $2 tasks that finished more
-- than $1 seconds ago from `tasks` into `tasks_archive`. Only rows in a final
-- state are read, locked and deleted, and rows another transaction holds are
-- skipped, so a move never waits for, nor makes wait, any statement on queued
-- or running tasks. The predicate repeats the partial index
-- `tasks_finished_at`'s, so the candidates come from that index in
-- `finished_at` order.
WITH moved AS (
    DELETE FROM tasks WHERE id IN (
        SELECT id FROM tasks
        WHERE state IN ('succeeded', 'failed', 'cancelled', 'timed_out')
          AND finished_at < now() - make_interval(secs => $1)
        ORDER BY finished_at LIMIT $2
        FOR UPDATE SKIP LOCKED)
    RETURNING *)
-- The archive has the columns of `tasks`, in order, then `archived_at`
-- (its default); tests/it/retention.rs checks that they stay so.
INSERT INTO tasks_archive SELECT * FROM moved
