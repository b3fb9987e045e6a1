-- storage::tasks::insert_many: inserts the tasks of the JSON array $1 for
-- owner $2, in order, in one statement: each task's spec into `task_specs`
-- and its state into `tasks`, under an id taken in the array's order. A
-- task whose idempotency key the owner already used is not inserted (its
-- id is left unused). Answers the inserted tasks by id.
WITH input AS (
    -- The ids are taken after the sort: in the array's order.
    SELECT nextval('tasks_id_seq') AS id, t
    FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS x(t, ord) ORDER BY ord),
spec AS (
    INSERT INTO task_specs (id, owner, argv, env, working_dir, tags, labels, idempotency_key)
    SELECT id, $2::text,
           ARRAY(SELECT jsonb_array_elements_text(t->'argv')),
           t->'env', t->>'working_dir',
           ARRAY(SELECT jsonb_array_elements_text(t->'tags')),
           ARRAY(SELECT jsonb_array_elements_text(t->'labels')),
           t->>'idempotency_key'
    FROM input
    ON CONFLICT (owner, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING *),
state AS (
    INSERT INTO tasks (id, priority, timeout_secs, max_attempts)
    OVERRIDING SYSTEM VALUE
    SELECT i.id, (i.t->>'priority')::int, (i.t->>'timeout_secs')::bigint,
           (i.t->>'max_attempts')::int
    FROM input i JOIN spec s ON s.id = i.id
    RETURNING *)
SELECT t.*, s.owner, s.argv, s.env, s.working_dir, s.tags, s.labels, s.idempotency_key
FROM state t JOIN spec s ON s.id = t.id ORDER BY t.id
