-- storage::workers::earlier_selves: workers other than $2 registered with the
-- instance key hashed $1: live ones, and ones gone less than $3 seconds ago.
SELECT id FROM workers
WHERE instance_hash = $1 AND id <> $2
  AND (state <> 'gone' OR left_at > now() - make_interval(secs => $3))
ORDER BY id
