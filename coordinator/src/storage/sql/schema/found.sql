-- storage::schema::found: whether the schema $1 holds a migration table
-- already, and whether `public` holds one (where releases before the schema
-- option kept everything).
SELECT to_regclass(format('%I.seaql_migrations', $1::text)) IS NOT NULL AS adopted,
       to_regclass('public.seaql_migrations') IS NOT NULL AS legacy
