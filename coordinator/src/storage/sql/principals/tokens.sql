-- storage::principals::tokens: every token, newest first.
SELECT t.id, t.principal_id, p.name AS principal, p.role, t.kind, t.prefix,
       t.label, t.worker_id, t.registered_with, t.created_at, t.expires_at,
       EXTRACT(EPOCH FROM t.expires_at - now())::float8 AS expires_in_secs, t.revoked_at
FROM api_tokens t LEFT JOIN principals p ON p.id = t.principal_id
ORDER BY t.id DESC
