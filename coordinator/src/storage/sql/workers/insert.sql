-- storage::workers::insert: a newly registered, active worker: name $1, tags
-- $2, slots $3, and the hash of its agent's instance key $4 (or NULL).
INSERT INTO workers (name, tags, slots, instance_hash) VALUES ($1, $2, $3, $4)
RETURNING *
