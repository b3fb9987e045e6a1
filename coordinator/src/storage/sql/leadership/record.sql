-- storage::leadership::record: coordinator $1 (advertising $2, on host $3)
-- notes it is alive, leading epoch $4 or standing by (NULL).
INSERT INTO coordinators AS c (id, url, host, epoch) VALUES ($1, $2, $3, $4)
ON CONFLICT (id) DO UPDATE SET url = $2, host = $3, epoch = $4, seen_at = now()
