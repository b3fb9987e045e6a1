-- storage::workers::update: sets tags $2 and slots $3 of worker $1 unless gone.
UPDATE workers SET tags = $2, slots = $3 WHERE id = $1 AND state <> 'gone'
RETURNING *
