-- storage::figures::fleet: every worker that has not gone, by id, with how
-- many tasks it runs (each counted on `tasks_running_worker`).
SELECT w.id, w.tags, w.slots, w.state,
       (SELECT count(*) FROM tasks t
        WHERE t.worker_id = w.id AND t.state = 'running') AS running
FROM workers w
WHERE w.state <> 'gone'
ORDER BY w.id
