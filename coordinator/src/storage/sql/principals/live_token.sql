-- storage::principals::live_token: the live token hashed $1: not revoked, not
-- expired, and for a worker token, its worker not gone and the token that
-- registered it not revoked. The last two are also written into the token
-- row when they happen (revoke.sql, workers/mark_gone.sql); checking them
-- here as well closes the race with a worker token issued at the same moment.
SELECT t.id, t.principal_id, p.name AS principal, p.role, t.kind, t.prefix,
       t.label, t.worker_id, t.registered_with, t.created_at, t.expires_at,
       EXTRACT(EPOCH FROM t.expires_at - now())::float8 AS expires_in_secs, t.revoked_at
FROM api_tokens t LEFT JOIN principals p ON p.id = t.principal_id
WHERE t.token_hash = $1 AND t.revoked_at IS NULL
  AND (t.expires_at IS NULL OR t.expires_at > now())
  AND (t.worker_id IS NULL OR EXISTS (
       SELECT 1 FROM workers w WHERE w.id = t.worker_id AND w.state <> 'gone'))
  AND (t.registered_with IS NULL OR EXISTS (
       SELECT 1 FROM api_tokens r WHERE r.id = t.registered_with AND r.revoked_at IS NULL))
