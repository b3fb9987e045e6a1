-- storage::tasks::insert_many: inserts the tasks of the JSON array $1 for
-- owner $2, in order, in one statement. A task whose idempotency key the
-- owner already used is not inserted. Answers the inserted rows by id.
WITH input AS (
    SELECT t, ord FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS x(t, ord)),
inserted AS (
    INSERT INTO tasks (owner, argv, env, working_dir, tags, labels, priority,
                       timeout_secs, max_attempts, idempotency_key)
    SELECT $2::text,
           ARRAY(SELECT v FROM jsonb_array_elements_text(t->'argv') WITH ORDINALITY AS a(v, i) ORDER BY i),
           t->'env', t->>'working_dir',
           ARRAY(SELECT v FROM jsonb_array_elements_text(t->'tags') WITH ORDINALITY AS a(v, i) ORDER BY i),
           ARRAY(SELECT v FROM jsonb_array_elements_text(t->'labels') WITH ORDINALITY AS a(v, i) ORDER BY i),
           (t->>'priority')::int, (t->>'timeout_secs')::bigint,
           (t->>'max_attempts')::int, t->>'idempotency_key'
    FROM input ORDER BY ord
    ON CONFLICT (owner, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING *)
SELECT * FROM inserted ORDER BY id
