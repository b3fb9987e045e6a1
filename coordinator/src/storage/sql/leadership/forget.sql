-- storage::leadership::forget: removes coordinator $1's record (it is
-- stopping), and the records of any not seen for $2 seconds.
DELETE FROM coordinators WHERE id = $1 OR seen_at < now() - make_interval(secs => $2)
