-- storage::tasks::by_idempotency_keys: the tasks of owner $1 with the
-- idempotency keys $2.
SELECT id, owner, state::text AS state, argv, env, working_dir, tags, labels, priority,
       timeout_secs, max_attempts, attempts, worker_id, cancel_requested, not_before,
       exit_code, stdout, stderr, stdout_truncated, stderr_truncated, error,
       idempotency_key, created_at, started_at, finished_at
FROM tasks WHERE owner = $1 AND idempotency_key = ANY($2)
