-- storage::schema::lock: serialises migrations between coordinators starting
-- at the same time, until the transaction ends ($1: the lock's number).
SELECT pg_advisory_xact_lock($1)
