-- storage::tasks::get: task $1.
SELECT * FROM tasks WHERE id = $1
