-- storage::workers::set_draining: worker $1, unless gone, becomes draining
-- ($2 true) or active again.
UPDATE workers
SET state = CASE WHEN $2 THEN 'draining'::worker_state ELSE 'active'::worker_state END
WHERE id = $1 AND state <> 'gone'
RETURNING *
