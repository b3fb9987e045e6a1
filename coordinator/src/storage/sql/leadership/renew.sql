-- storage::leadership::renew: coordinator $1 extends the lease of epoch $2
-- by $3 seconds from now, if it still holds it. No epoch changes: the
-- fenced statements in flight go on.
UPDATE leader_lease SET renewed_at = clock_timestamp(),
    expires_at = clock_timestamp() + make_interval(secs => $3)
WHERE holder = $1 AND epoch = $2
RETURNING epoch
