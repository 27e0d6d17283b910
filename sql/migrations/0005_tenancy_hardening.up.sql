-- 0005_tenancy_hardening: close what a hostile review of bo1_app broke (docs/SECURITY.md).
--
-- 1. Server-assigned ids. contributions, votes and audit_log take ids from identity
--    columns the app may not write and whose sequences it cannot read: no probing of
--    another tenant's row by a guessed id, no row counts from pg_sequences.
-- 2. Server-owned columns. The app may not set created_at/updated_at, an audit row's
--    timestamp, or its own subscription_tier: column privileges, not trust.
-- 3. No reaching another tenant's row through INSERT ... ON CONFLICT. PostgreSQL
--    evaluates ON CONFLICT DO UPDATE ... WHERE on the existing row before it applies
--    row-level security to it; a BEFORE INSERT trigger refuses the insert first, with
--    a bare unique violation, when the key belongs to another tenant.
-- 4. No advisory locks for PUBLIC: the app could hold the migration runner's lock.
-- 5. No statistics for PUBLIC: per-table and per-index counters and other sessions'
--    activity tell one tenant about the others.

-- 1. identity columns, continuing after the highest id
DO $$
DECLARE
    t text;
    next_id bigint;
BEGIN
    FOREACH t IN ARRAY ARRAY['contributions', 'votes', 'audit_log'] LOOP
        EXECUTE format('SELECT coalesce(max(id), 0) + 1 FROM public.%I', t) INTO next_id;
        EXECUTE format('ALTER TABLE public.%I ALTER COLUMN id DROP DEFAULT', t);
        EXECUTE format('DROP SEQUENCE public.%I', t || '_id_seq');
        EXECUTE format(
            'ALTER TABLE public.%I ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (START WITH %s)',
            t, next_id);
    END LOOP;
END
$$;

-- 2. column privileges for the app; bo1_service keeps its table-wide rights
REVOKE INSERT, UPDATE ON users, sessions, contributions, votes FROM bo1_app;
REVOKE INSERT ON audit_log FROM bo1_app;
GRANT INSERT (id, email, auth_provider, gdpr_consent_at),
      UPDATE (email, auth_provider, gdpr_consent_at)
    ON users TO bo1_app;
GRANT INSERT (id, user_id, problem_statement, problem_context, status, phase, total_cost,
              total_tokens, round_number, max_rounds, completed_at, killed_at, killed_by,
              kill_reason),
      UPDATE (problem_statement, problem_context, status, phase, total_cost, total_tokens,
              round_number, max_rounds, completed_at, killed_at, killed_by, kill_reason)
    ON sessions TO bo1_app;
GRANT INSERT (session_id, user_id, persona_code, content, round_number, phase, cost, tokens,
              model),
      UPDATE (content, round_number, phase, cost, tokens, model)
    ON contributions TO bo1_app;
GRANT INSERT (session_id, user_id, persona_code, vote_choice, reasoning, confidence),
      UPDATE (vote_choice, reasoning, confidence)
    ON votes TO bo1_app;
GRANT INSERT (user_id, action, resource_type, resource_id, details, ip_address, user_agent)
    ON audit_log TO bo1_app;

-- 3. another tenant's key: a bare unique violation before ON CONFLICT sees the row.
-- SECURITY DEFINER as bo1_service (BYPASSRLS) to see every tenant's keys; it acts only
-- for a login without BYPASSRLS (session_user: SET ROLE cannot change it), so the
-- service role's and the superuser's own upserts are untouched.
CREATE FUNCTION refuse_other_tenants_key() RETURNS trigger
LANGUAGE plpgsql
SECURITY DEFINER
SET search_path = pg_catalog
AS $$
DECLARE
    tenant text := current_setting('app.current_user_id', true);
    taken boolean;
BEGIN
    IF (SELECT rolbypassrls OR rolsuper FROM pg_roles WHERE rolname = session_user) THEN
        RETURN NEW;
    END IF;
    IF TG_TABLE_NAME = 'users' THEN
        SELECT EXISTS (SELECT 1 FROM public.users u
                       WHERE (u.id = NEW.id OR u.email = NEW.email)
                         AND u.id IS DISTINCT FROM tenant) INTO taken;
    ELSE
        SELECT EXISTS (SELECT 1 FROM public.sessions s
                       WHERE s.id = NEW.id AND s.user_id IS DISTINCT FROM tenant) INTO taken;
    END IF;
    IF taken THEN
        RAISE unique_violation USING MESSAGE = 'duplicate key value violates unique constraint';
    END IF;
    RETURN NEW;
END;
$$;
ALTER FUNCTION refuse_other_tenants_key() OWNER TO bo1_service;
REVOKE ALL ON FUNCTION refuse_other_tenants_key() FROM PUBLIC;

CREATE TRIGGER users_refuse_other_tenants_key BEFORE INSERT ON users
    FOR EACH ROW EXECUTE FUNCTION refuse_other_tenants_key();
CREATE TRIGGER sessions_refuse_other_tenants_key BEFORE INSERT ON sessions
    FOR EACH ROW EXECUTE FUNCTION refuse_other_tenants_key();

-- 4 and 5. pg_catalog privileges of this database; the superuser and the predefined
-- monitoring role pg_read_all_stats keep the statistics.
DO $$
DECLARE
    f regprocedure;
    v text;
BEGIN
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
             WHERE p.pronamespace = 'pg_catalog'::regnamespace
               AND p.proname LIKE 'pg\_%advisory%'
    LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
    END LOOP;
    -- A view calls its functions with its user's rights: the grantee needs both.
    FOR f IN SELECT p.oid::regprocedure FROM pg_proc p
             WHERE p.pronamespace = 'pg_catalog'::regnamespace
               AND p.proname LIKE 'pg\_stat\_get\_%'
    LOOP
        EXECUTE format('REVOKE EXECUTE ON FUNCTION %s FROM PUBLIC', f);
        EXECUTE format('GRANT EXECUTE ON FUNCTION %s TO pg_read_all_stats', f);
    END LOOP;
    FOR v IN SELECT c.relname FROM pg_class c
             WHERE c.relnamespace = 'pg_catalog'::regnamespace AND c.relkind = 'v'
               AND (c.relname LIKE 'pg\_stat\_%' OR c.relname LIKE 'pg\_statio\_%')
    LOOP
        EXECUTE format('REVOKE SELECT ON pg_catalog.%I FROM PUBLIC', v);
        EXECUTE format('GRANT SELECT ON pg_catalog.%I TO pg_read_all_stats', v);
    END LOOP;
END
$$;
