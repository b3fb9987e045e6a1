-- storage::principals::revoke: revokes token $1 (revoking twice keeps the
-- first time) and every live worker token registered with it. Answers the
-- token and how many were revoked with it.
WITH t AS (
    UPDATE api_tokens SET revoked_at = COALESCE(revoked_at, now()) WHERE id = $1
    RETURNING *),
made AS (
    UPDATE api_tokens SET revoked_at = now()
    WHERE registered_with = $1 AND revoked_at IS NULL RETURNING id)
SELECT t.id, t.principal_id, p.name AS principal, p.role, t.kind, t.prefix,
       t.label, t.worker_id, t.registered_with, t.created_at, t.expires_at,
       EXTRACT(EPOCH FROM t.expires_at - now())::float8 AS expires_in_secs, t.revoked_at,
       (SELECT count(*) FROM made) AS cascaded
FROM t LEFT JOIN principals p ON p.id = t.principal_id
