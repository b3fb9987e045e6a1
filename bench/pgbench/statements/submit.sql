-- A statement of the coordinator's, shared by the lifecycle-*.sql scripts:
-- run.sh puts it where a script says `--@ NAME | IDS | RETURNING`, filling in
-- @IDS@ (an array expression of task ids), @RETURNING@ and @COLUMNS@ (a task
-- row's columns, as in `storage::tasks::COLUMNS`); comment lines stay here.
-- Keep it the same as the coordinator's statement.
-- `storage::tasks::insert_many` for the batch in `:tasks_json` (a JSON array
-- of the tasks, bound as a parameter under -M prepared, as the coordinator
-- binds it). Every inserted row comes back, as it does to the coordinator; an
-- extra column carries the batch's ids, on the last row only, to the next
-- statements (`\aset` keeps the last row's values).
WITH input AS (
    SELECT t, ord FROM jsonb_array_elements(:tasks_json::jsonb) WITH ORDINALITY AS x(t, ord)),
inserted AS (
    INSERT INTO tasks (owner, argv, env, working_dir, tags, labels, priority,
                       timeout_secs, max_attempts, idempotency_key)
    SELECT 'anonymous',
           ARRAY(SELECT v FROM jsonb_array_elements_text(t->'argv') WITH ORDINALITY AS a(v, i) ORDER BY i),
           t->'env', t->>'working_dir',
           ARRAY(SELECT v FROM jsonb_array_elements_text(t->'tags') WITH ORDINALITY AS a(v, i) ORDER BY i),
           ARRAY(SELECT v FROM jsonb_array_elements_text(t->'labels') WITH ORDINALITY AS a(v, i) ORDER BY i),
           (t->>'priority')::int, (t->>'timeout_secs')::bigint,
           (t->>'max_attempts')::int, t->>'idempotency_key'
    FROM input ORDER BY ord
    ON CONFLICT (owner, idempotency_key) WHERE idempotency_key IS NOT NULL DO NOTHING
    RETURNING @COLUMNS@),
batch AS (SELECT array_agg(id)::text AS ids, max(id) AS last FROM inserted)
SELECT inserted.*, CASE WHEN inserted.id = batch.last THEN batch.ids END AS ids
FROM inserted CROSS JOIN batch ORDER BY inserted.id
\aset
