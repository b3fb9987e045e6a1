-- storage::tasks::cancel_queued: cancels task $1 if it is still queued.
UPDATE tasks SET state = 'cancelled', finished_at = now(), not_before = NULL
WHERE id = $1 AND state = 'queued'
RETURNING id, owner, state::text AS state, argv, env, working_dir, tags, labels, priority,
          timeout_secs, max_attempts, attempts, worker_id, cancel_requested, not_before,
          exit_code, stdout, stderr, stdout_truncated, stderr_truncated, error,
          idempotency_key, created_at, started_at, finished_at
