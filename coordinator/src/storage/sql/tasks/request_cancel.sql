-- storage::tasks::request_cancel: flags task $1, if running, for its agent
-- to kill at the next heartbeat.
UPDATE tasks SET cancel_requested = true WHERE id = $1 AND state = 'running'
RETURNING id, owner, state::text AS state, argv, env, working_dir, tags, labels, priority,
          timeout_secs, max_attempts, attempts, worker_id, cancel_requested, not_before,
          exit_code, stdout, stderr, stdout_truncated, stderr_truncated, error,
          idempotency_key, created_at, started_at, finished_at
