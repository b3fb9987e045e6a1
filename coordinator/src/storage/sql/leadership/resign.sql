-- storage::leadership::resign: coordinator $1 gives up the lease of epoch
-- $2 at once, and tells the standbys, which take it without waiting for
-- it to lapse.
WITH lapsed AS (
    UPDATE leader_lease SET expires_at = '-infinity'
    WHERE holder = $1 AND epoch = $2
    RETURNING epoch)
SELECT pg_notify('switchyard_leader', 'resigned') FROM lapsed
