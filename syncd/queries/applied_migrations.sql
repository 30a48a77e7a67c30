-- The migrations applied, as yoyo records them, for `syncd doctor` and the schema
-- check of `syncd run`. Read directly: yoyo's own listing may create its tables,
-- which the runtime role cannot.
SELECT migration_id FROM syncd_migrations
