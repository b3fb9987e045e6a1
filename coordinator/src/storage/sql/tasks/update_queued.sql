-- storage::tasks::update_queued: sets priority $2 and tags $3 of task $1,
-- if it is still queued.
UPDATE tasks SET priority = $2, tags = $3 WHERE id = $1 AND state = 'queued'
RETURNING id, owner, state::text AS state, argv, env, working_dir, tags, labels, priority,
          timeout_secs, max_attempts, attempts, worker_id, cancel_requested, not_before,
          exit_code, stdout, stderr, stdout_truncated, stderr_truncated, error,
          idempotency_key, created_at, started_at, finished_at
