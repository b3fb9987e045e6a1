-- storage::schema::target: names the schema $1 that the next statements of
-- this transaction prepare (create.sql, adopt.sql), which read it back.
SELECT set_config('switchyard.schema', $1, true)
