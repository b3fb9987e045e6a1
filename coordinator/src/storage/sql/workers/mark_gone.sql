-- storage::workers::mark_gone: worker $1, unless already gone, is gone now,
-- and its live worker tokens are revoked in the same statement. Fenced:
-- fails (SQLSTATE SYF01) unless $2 is the current leader's epoch.
WITH w AS (
    UPDATE workers SET state = 'gone', left_at = now()
    WHERE id = $1 AND state <> 'gone' AND (SELECT switchyard_fence($2))
    RETURNING *),
revoked AS (
    UPDATE api_tokens SET revoked_at = now()
    WHERE worker_id IN (SELECT id FROM w) AND revoked_at IS NULL)
SELECT * FROM w
