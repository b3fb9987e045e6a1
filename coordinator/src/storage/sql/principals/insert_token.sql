-- storage::principals::insert_token: a token of principal $1 (NULL only for
-- a worker token the bootstrap admin registered) of kind $2, hashed $3, shown
-- as $4, labelled $5, for worker $6, registered with token $7, expiring in $8
-- seconds (never when NULL). Answers it joined with its principal.
WITH t AS (
    INSERT INTO api_tokens (principal_id, kind, token_hash, prefix, label, worker_id,
                            registered_with, expires_at)
    VALUES ($1, $2, $3, $4, $5, $6, $7,
            CASE WHEN $8::bigint IS NULL THEN NULL
                 ELSE now() + make_interval(secs => $8::bigint) END)
    RETURNING *)
SELECT t.id, t.principal_id, p.name AS principal, p.role, t.kind, t.prefix,
       t.label, t.worker_id, t.registered_with, t.created_at, t.expires_at,
       EXTRACT(EPOCH FROM t.expires_at - now())::float8 AS expires_in_secs, t.revoked_at
FROM t LEFT JOIN principals p ON p.id = t.principal_id
