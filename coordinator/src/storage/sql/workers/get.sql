-- storage::workers::get: worker $1, gone or not.
SELECT * FROM workers WHERE id = $1
