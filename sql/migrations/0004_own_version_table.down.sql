-- 0004_own_version_table: give the old name back, only where 0004's up took it away.

DO $$
BEGIN
    IF obj_description(to_regclass('public.bo1_schema_migrations'), 'pg_class')
           = 'bo1-infra version table; renamed from schema_migrations by 0004'
       AND to_regclass('public.schema_migrations') IS NULL
    THEN
        COMMENT ON TABLE public.bo1_schema_migrations IS NULL;
        ALTER TABLE public.bo1_schema_migrations RENAME TO schema_migrations;
        ALTER TABLE public.schema_migrations
            RENAME CONSTRAINT bo1_schema_migrations_pkey TO schema_migrations_pkey;
    END IF;
END
$$;
