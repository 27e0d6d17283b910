-- 0005_tenancy_hardening: back to 0004's rights, sequences and triggers.

DO $$
DECLARE
    f regprocedure;
    v text;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
             WHERE p.pronamespace = 'pg_catalog'::regnamespace
               AND p.proname LIKE 'pg\_%advisory%'
    LOOP
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO PUBLIC', f);
    END LOOP;
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
             WHERE p.pronamespace = 'pg_catalog'::regnamespace
               AND p.proname LIKE 'pg\_stat\_get\_%'
    LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM pg_read_all_stats', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO PUBLIC', f);
    END LOOP;
    FOR v IN SELECT c.relname FROM pg_class c
             WHERE c.relnamespace = 'pg_catalog'::regnamespace AND c.relkind = 'v'
               AND (c.relname LIKE 'pg\_stat\_%' OR c.relname LIKE 'pg\_statio\_%')
    LOOP
        EXECUTE format('REVOKE SELECT ON pg_catalog.%I FROM pg_read_all_stats', v);
        EXECUTE format('GRANT SELECT ON pg_catalog.%I TO PUBLIC', v);
    END LOOP;
END
$$;

DROP TRIGGER sessions_refuse_other_tenants_key ON sessions;
DROP TRIGGER users_refuse_other_tenants_key ON users;
DROP FUNCTION refuse_other_tenants_key();

REVOKE INSERT (user_id, action, resource_type, resource_id, details, ip_address, user_agent)
    ON audit_log FROM bo1_app;
REVOKE INSERT (session_id, user_id, persona_code, vote_choice, reasoning, confidence),
       UPDATE (vote_choice, reasoning, confidence)
    ON votes FROM bo1_app;
REVOKE INSERT (session_id, user_id, persona_code, content, round_number, phase, cost, tokens,
               model),
       UPDATE (content, round_number, phase, cost, tokens, model)
    ON contributions FROM bo1_app;
REVOKE INSERT (id, user_id, problem_statement, problem_context, status, phase, total_cost,
               total_tokens, round_number, max_rounds, completed_at, killed_at, killed_by,
               kill_reason),
       UPDATE (problem_statement, problem_context, status, phase, total_cost, total_tokens,
               round_number, max_rounds, completed_at, killed_at, killed_by, kill_reason)
    ON sessions FROM bo1_app;
REVOKE INSERT (id, email, auth_provider, gdpr_consent_at),
       UPDATE (email, auth_provider, gdpr_consent_at)
    ON users FROM bo1_app;
GRANT INSERT, UPDATE ON users, sessions, contributions, votes TO bo1_app;
GRANT INSERT ON audit_log TO bo1_app;

DO $$
DECLARE
    t text;
    next_id bigint;
BEGIN
    FOREACH t IN ARRAY ARRAY['contributions', 'votes', 'audit_log'] LOOP
        EXECUTE format('SELECT coalesce(max(id), 0) + 1 FROM public.%I', t) INTO next_id;
        EXECUTE format('ALTER TABLE public.%I ALTER COLUMN id DROP IDENTITY', t);
        EXECUTE format('CREATE SEQUENCE public.%I', t || '_id_seq');
        EXECUTE format('ALTER SEQUENCE public.%I OWNER TO bo1_owner', t || '_id_seq');
        EXECUTE format('ALTER SEQUENCE public.%I OWNED BY public.%I.id', t || '_id_seq', t);
        EXECUTE format(
            'ALTER TABLE public.%I ALTER COLUMN id SET DEFAULT nextval(%L::regclass)',
            t, 'public.' || t || '_id_seq');
        EXECUTE format('SELECT setval(%L, %s, false)', 'public.' || t || '_id_seq', next_id);
        EXECUTE format('GRANT USAGE ON SEQUENCE public.%I TO bo1_app, bo1_service', t || '_id_seq');
    END LOOP;
END
$$;
