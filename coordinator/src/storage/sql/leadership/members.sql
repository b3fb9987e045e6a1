-- storage::leadership::members: the coordinators seen in the last $1
-- seconds, the leader of the current epoch first, then by start.
SELECT c.id, c.url, c.host, c.started_at, c.seen_at,
    CASE WHEN c.epoch = l.epoch AND l.expires_at > now() THEN c.epoch END AS epoch
FROM coordinators c CROSS JOIN leader_lease l
WHERE c.seen_at > now() - make_interval(secs => $1)
ORDER BY (c.epoch = l.epoch AND l.expires_at > now()) IS TRUE DESC, c.started_at, c.id
