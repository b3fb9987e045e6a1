-- storage::figures::backlog: queued tasks due now (no back-off or fence
-- ahead) per required tag set, each set with how many active workers have
-- every tag of it. What the dispatcher's tag sets count, from the rows: it
-- reads every due queued task once.
SELECT q.tags, q.queued,
       (SELECT count(*) FROM workers w
        WHERE w.state = 'active' AND w.tags @> q.tags) AS candidates
FROM (SELECT tags, count(*) AS queued FROM task_rows
      WHERE state = 'queued' AND (not_before IS NULL OR not_before <= now())
      GROUP BY tags) AS q
