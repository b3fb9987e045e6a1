-- storage::leadership::lease: the lease as it stands, and whether it holds
-- now.
SELECT epoch, holder, url, renewed_at,
    CASE WHEN expires_at = '-infinity' THEN NULL ELSE expires_at END AS expires_at,
    expires_at > clock_timestamp() AS held
FROM leader_lease
