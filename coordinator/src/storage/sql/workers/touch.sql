-- storage::workers::touch: the workers $1 were heard from just now; gone
-- workers stay gone.
UPDATE workers SET last_heartbeat = now() WHERE id = ANY($1) AND state <> 'gone'
