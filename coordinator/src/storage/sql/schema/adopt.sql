-- storage::schema::adopt: moves what releases before the schema option
-- created in `public` into the target schema, indexes, constraints and
-- identity sequences with their tables, rows untouched. The list is what
-- those releases made (any of it may be missing, from a database they
-- migrated part way); later migrations create in the target schema.
DO $$
DECLARE
    target text := current_setting('switchyard.schema');
    name text;
BEGIN
    FOREACH name IN ARRAY ARRAY['seaql_migrations', 'api_tokens', 'principals',
                                'tasks_archive', 'task_attempts', 'tasks', 'workers'] LOOP
        IF to_regclass(format('public.%I', name)) IS NOT NULL THEN
            EXECUTE format('ALTER TABLE public.%I SET SCHEMA %I', name, target);
        END IF;
    END LOOP;
    FOREACH name IN ARRAY ARRAY['principal_role', 'task_state', 'worker_state'] LOOP
        IF to_regtype(format('public.%I', name)) IS NOT NULL THEN
            EXECUTE format('ALTER TYPE public.%I SET SCHEMA %I', name, target);
        END IF;
    END LOOP;
END
$$
