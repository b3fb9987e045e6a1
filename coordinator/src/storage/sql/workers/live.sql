-- storage::workers::live: every worker that has not gone, oldest first.
SELECT * FROM workers WHERE state <> 'gone' ORDER BY id
