-- storage::schema::create: creates the target schema unless it exists (so a
-- role without the right to create schemas can use one made for it).
DO $$
DECLARE
    target text := current_setting('switchyard.schema');
BEGIN
    IF NOT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = target) THEN
        EXECUTE format('CREATE SCHEMA %I', target);
    END IF;
END
$$
