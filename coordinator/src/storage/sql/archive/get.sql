-- storage::archive::get: archived task $1.
SELECT * FROM tasks_archive WHERE id = $1
