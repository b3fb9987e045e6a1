-- storage::schema::found: the migrations recorded in `public` (run only when
-- found.sql saw the table).
SELECT version FROM public.seaql_migrations ORDER BY version
