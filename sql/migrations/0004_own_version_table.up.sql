-- 0004_own_version_table: bo1-infra's version table gets a name of its own.
-- Board of One's Alembic chain drops a table named schema_migrations, and both
-- may share one database. The runner of earlier releases wrote
-- public.schema_migrations; a database it migrated has that table renamed here,
-- and the runner records this migration in the renamed table, in this same
-- transaction. A new database already has bo1_schema_migrations: nothing to do.
-- The comment tells 0004's down which case it undoes. A schema_migrations of
-- another tool (other columns) is never touched.

DO $$
BEGIN
    IF to_regclass('public.bo1_schema_migrations') IS NULL
       AND (SELECT array_agg(attname::text ORDER BY attnum) FROM pg_attribute
            WHERE attrelid = to_regclass('public.schema_migrations')
              AND attnum > 0 AND NOT attisdropped)
           = ARRAY['version', 'name', 'checksum', 'applied_at', 'execution_ms']
    THEN
        ALTER TABLE public.schema_migrations RENAME TO bo1_schema_migrations;
        ALTER TABLE public.bo1_schema_migrations
            RENAME CONSTRAINT schema_migrations_pkey TO bo1_schema_migrations_pkey;
        COMMENT ON TABLE public.bo1_schema_migrations
            IS 'bo1-infra version table; renamed from schema_migrations by 0004';
    END IF;
END
$$;
