-- storage::archive::get: archived task $1.
SELECT id, owner, state::text AS state, argv, env, working_dir, tags, labels, priority,
       timeout_secs, max_attempts, attempts, worker_id, cancel_requested, not_before,
       exit_code, stdout, stderr, stdout_truncated, stderr_truncated, error,
       idempotency_key, created_at, started_at, finished_at
FROM tasks_archive WHERE id = $1
