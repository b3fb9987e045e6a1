-- storage::tasks::insert_many: inserts tasks for owner $1, in order, in one
-- statement: each task's spec into `task_specs` and its state into `tasks`,
-- under an id taken in input order. A task whose idempotency key the owner
-- already used is not inserted (its id is left unused). Answers each
-- inserted task's place in the input (from 1), id and creation time: the
-- rest of the row is what was sent and the defaults.
--
-- One element per task in each of $2 argv, $3 env, $4 working directory
-- ('' for none), $5 tags, $6 labels, $7 priority, $8 timeout, $9 attempts
-- allowed and $10 idempotency key ('' for none; validation refuses empty
-- working directories and keys). Typed arrays, not JSON, so the server
-- reads each field without parsing a document; a task's argv, tags and
-- labels come as array literals (`{"a","b"}`), one per task, because
-- arrays of arrays must be rectangular and a slice of one long array costs
-- a walk from its start.
--
-- Only tasks with a key go through ON CONFLICT: its speculative insertion
-- costs a second WAL record per row, which a task without a key never needs.
WITH input AS (
    -- The ids are taken after the sort: in input order.
    SELECT nextval('tasks_id_seq') AS id, i.ord,
           i.argv::text[] AS argv, i.env, NULLIF(i.working_dir, '') AS working_dir,
           i.tags::text[] AS tags, i.labels::text[] AS labels,
           i.priority, i.timeout_secs, i.max_attempts,
           NULLIF(i.idempotency_key, '') AS idempotency_key
    FROM unnest($2::text[], $3::jsonb[], $4::text[], $5::text[], $6::text[],
                $7::int[], $8::bigint[], $9::int[], $10::text[])
         WITH ORDINALITY AS i(argv, env, working_dir, tags, labels,
                              priority, timeout_secs, max_attempts, idempotency_key, ord)
    ORDER BY i.ord),
unkeyed AS (
    INSERT INTO task_specs (id, owner, argv, env, working_dir, tags, labels)
    SELECT id, $1::text, argv, env, working_dir, tags, labels
    FROM input WHERE idempotency_key IS NULL
    RETURNING id),
keyed AS (
    INSERT INTO task_specs (id, owner, argv, env, working_dir, tags, labels, idempotency_key)
    SELECT id, $1::text, argv, env, working_dir, tags, labels, idempotency_key
    FROM input WHERE idempotency_key IS NOT NULL
    ON CONFLICT (owner, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING id),
state AS (
    INSERT INTO tasks (id, priority, timeout_secs, max_attempts)
    OVERRIDING SYSTEM VALUE
    SELECT i.id, i.priority, i.timeout_secs, i.max_attempts
    FROM input i
    WHERE i.id IN (SELECT id FROM unkeyed UNION ALL SELECT id FROM keyed)
    RETURNING id, created_at)
SELECT i.ord, s.id, s.created_at
FROM state s JOIN input i ON i.id = s.id
ORDER BY i.ord
