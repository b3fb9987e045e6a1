-- storage::tasks::insert_many: inserts tasks for owner $1, in order, in one
-- statement: each task's spec into `task_specs` and its state into `tasks`,
-- under an id taken in input order. A task whose idempotency key the owner
-- already used is not inserted (its id is left unused). Answers each
-- inserted task's place in the input (from 1), id and creation time: the
-- rest of the row is what was sent and the defaults.
--
-- One element per task in $3 (where its argv ends in $2), $4 env, $5
-- working directory ('' for none), $6 (where its tags end in $7), $8
-- (where its labels end in $9), $10 priority, $11 timeout, $12 attempts
-- allowed and $13 idempotency key ('' for none; validation refuses empty
-- working directories and keys). $2, $7 and $9 hold every task's argv,
-- tags and labels one after another. Typed arrays, not JSON: the server
-- decodes them without parsing text.
--
-- Only tasks with a key go through ON CONFLICT: its speculative insertion
-- costs a second WAL record per row, which a task without a key never needs.
WITH input AS (
    -- The ids are taken after the sort: in input order.
    SELECT nextval('tasks_id_seq') AS id, i.ord,
           ($2::text[])[COALESCE(($3::int[])[i.ord::int - 1], 0) + 1 : i.argv_end] AS argv,
           i.env, NULLIF(i.working_dir, '') AS working_dir,
           ($7::text[])[COALESCE(($6::int[])[i.ord::int - 1], 0) + 1 : i.tags_end] AS tags,
           ($9::text[])[COALESCE(($8::int[])[i.ord::int - 1], 0) + 1 : i.labels_end] AS labels,
           i.priority, i.timeout_secs, i.max_attempts,
           NULLIF(i.idempotency_key, '') AS idempotency_key
    FROM unnest($3::int[], $4::jsonb[], $5::text[], $6::int[], $8::int[],
                $10::int[], $11::bigint[], $12::int[], $13::text[])
         WITH ORDINALITY AS i(argv_end, env, working_dir, tags_end, labels_end,
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
