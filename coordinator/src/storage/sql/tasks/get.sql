-- storage::tasks::get: task $1.
SELECT * FROM task_rows WHERE id = $1
