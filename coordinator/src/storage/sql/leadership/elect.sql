-- storage::leadership::elect: coordinator $1 (advertising $2) takes the
-- lease for $3 seconds if it has lapsed, as a new epoch. The row lock
-- makes concurrent elections take turns, and the one that waits sees the
-- winner's lease unlapsed: exactly one wins. Only once the lease is seen
-- lapsed does the election seize the fence (`switchyard_seize`, evaluated
-- after the cheaper test): it waits for the fenced statements in flight
-- and keeps new ones waiting until it commits. Answers the new epoch.
UPDATE leader_lease SET epoch = epoch + 1, holder = $1, url = $2,
    renewed_at = clock_timestamp(),
    expires_at = clock_timestamp() + make_interval(secs => $3)
WHERE expires_at < clock_timestamp() AND switchyard_seize()
RETURNING epoch
