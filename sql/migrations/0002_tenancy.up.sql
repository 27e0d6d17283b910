-- Tenancy: roles, grants, and row-level security that is actually enforced.
--
-- Roles are cluster-wide: they are created idempotently and never get a
-- password here (`bo1-infra bootstrap` sets passwords from stack secrets).
--   bo1_owner    owns the schema objects; cannot log in
--   bo1_app      the application; LOGIN, NOBYPASSRLS, DML on tenant tables only
--   bo1_service  admin operations; LOGIN, BYPASSRLS, DML on every table, no DDL

DO $$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['bo1_owner', 'bo1_app', 'bo1_service'] LOOP
        BEGIN
            EXECUTE format('CREATE ROLE %I', role_name);
        EXCEPTION WHEN duplicate_object THEN
            NULL;  -- another database of this cluster created it already
        END;
    END LOOP;
END
$$;

-- Enforce the attributes even when a role already existed with others.
ALTER ROLE bo1_owner   NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
ALTER ROLE bo1_app     LOGIN   NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
ALTER ROLE bo1_service LOGIN   NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION BYPASSRLS;

-- The app connects as a role that does NOT own the tables: Postgres never
-- applies RLS to a table's owner unless forced, nor ever to a superuser.
ALTER TABLE users OWNER TO bo1_owner;
ALTER TABLE personas OWNER TO bo1_owner;
ALTER TABLE sessions OWNER TO bo1_owner;
ALTER TABLE contributions OWNER TO bo1_owner;
ALTER TABLE votes OWNER TO bo1_owner;
ALTER TABLE audit_log OWNER TO bo1_owner;
ALTER FUNCTION set_updated_at() OWNER TO bo1_owner;
ALTER FUNCTION set_updated_at() SET search_path = pg_catalog;

-- A blank id could collide with an empty tenant setting; no tenant is blank.
ALTER TABLE users ADD CONSTRAINT users_id_not_blank CHECK (btrim(id) <> '');

-- Denormalized tenant column on contributions and votes, so that their
-- policies compare one indexed column instead of sub-selecting sessions.
-- The composite foreign key makes the database keep it equal to the
-- session's owner: no row can claim one tenant and sit in another's session.
ALTER TABLE sessions ADD CONSTRAINT sessions_id_user_id_key UNIQUE (id, user_id);

ALTER TABLE contributions ADD COLUMN user_id varchar(255);
UPDATE contributions c SET user_id = s.user_id FROM sessions s WHERE s.id = c.session_id;
ALTER TABLE contributions ALTER COLUMN user_id SET NOT NULL;
ALTER TABLE contributions DROP CONSTRAINT contributions_session_id_fkey;
ALTER TABLE contributions ADD CONSTRAINT contributions_session_tenant_fkey
    FOREIGN KEY (session_id, user_id) REFERENCES sessions (id, user_id)
    ON DELETE CASCADE ON UPDATE CASCADE;

ALTER TABLE votes ADD COLUMN user_id varchar(255);
UPDATE votes v SET user_id = s.user_id FROM sessions s WHERE s.id = v.session_id;
ALTER TABLE votes ALTER COLUMN user_id SET NOT NULL;
ALTER TABLE votes DROP CONSTRAINT votes_session_id_fkey;
ALTER TABLE votes ADD CONSTRAINT votes_session_tenant_fkey
    FOREIGN KEY (session_id, user_id) REFERENCES sessions (id, user_id)
    ON DELETE CASCADE ON UPDATE CASCADE;

-- Writers may leave user_id out: it is copied from the session. The lookup
-- runs as the caller, under RLS, so another tenant's session yields NULL and
-- the NOT NULL constraint refuses the row.
CREATE FUNCTION fill_user_id_from_session() RETURNS trigger
LANGUAGE plpgsql
SET search_path = pg_catalog
AS $$
BEGIN
    IF NEW.user_id IS NULL THEN
        SELECT s.user_id INTO NEW.user_id FROM public.sessions s WHERE s.id = NEW.session_id;
    END IF;
    RETURN NEW;
END;
$$;
ALTER FUNCTION fill_user_id_from_session() OWNER TO bo1_owner;

CREATE TRIGGER contributions_fill_user_id BEFORE INSERT ON contributions
    FOR EACH ROW EXECUTE FUNCTION fill_user_id_from_session();
CREATE TRIGGER votes_fill_user_id BEFORE INSERT ON votes
    FOR EACH ROW EXECUTE FUNCTION fill_user_id_from_session();

-- "My contributions, newest first" and "count mine" are one index range each.
CREATE INDEX idx_contributions_user_id_created_at ON contributions (user_id, created_at DESC);
CREATE INDEX idx_votes_user_id ON votes (user_id);

-- Row-level security. `(SELECT current_setting(...))` is an InitPlan: it is
-- evaluated once per query and the planner can use it as an index key.
-- current_setting(..., true) returns NULL when unset: no error, no rows.
ALTER TABLE users ENABLE ROW LEVEL SECURITY;
ALTER TABLE users FORCE ROW LEVEL SECURITY;
ALTER TABLE sessions ENABLE ROW LEVEL SECURITY;
ALTER TABLE sessions FORCE ROW LEVEL SECURITY;
ALTER TABLE contributions ENABLE ROW LEVEL SECURITY;
ALTER TABLE contributions FORCE ROW LEVEL SECURITY;
ALTER TABLE votes ENABLE ROW LEVEL SECURITY;
ALTER TABLE votes FORCE ROW LEVEL SECURITY;
ALTER TABLE audit_log ENABLE ROW LEVEL SECURITY;
ALTER TABLE audit_log FORCE ROW LEVEL SECURITY;

CREATE POLICY users_self_access ON users
    USING (id = (SELECT current_setting('app.current_user_id', true)))
    WITH CHECK (id = (SELECT current_setting('app.current_user_id', true)));
CREATE POLICY sessions_user_isolation ON sessions
    USING (user_id = (SELECT current_setting('app.current_user_id', true)))
    WITH CHECK (user_id = (SELECT current_setting('app.current_user_id', true)));
CREATE POLICY contributions_user_isolation ON contributions
    USING (user_id = (SELECT current_setting('app.current_user_id', true)))
    WITH CHECK (user_id = (SELECT current_setting('app.current_user_id', true)));
CREATE POLICY votes_user_isolation ON votes
    USING (user_id = (SELECT current_setting('app.current_user_id', true)))
    WITH CHECK (user_id = (SELECT current_setting('app.current_user_id', true)));
CREATE POLICY audit_log_user_isolation ON audit_log
    USING (user_id = (SELECT current_setting('app.current_user_id', true)))
    WITH CHECK (user_id = (SELECT current_setting('app.current_user_id', true)));

-- Grants: only what each role needs. No TRUNCATE, REFERENCES or TRIGGER.
GRANT USAGE ON SCHEMA public TO bo1_app, bo1_service;
GRANT SELECT, INSERT, UPDATE, DELETE ON users, sessions, contributions, votes TO bo1_app;
GRANT SELECT, INSERT ON audit_log TO bo1_app;  -- the audit trail is append-only for the app
GRANT SELECT ON personas TO bo1_app;           -- the catalogue is read-only for the app
GRANT USAGE ON SEQUENCE contributions_id_seq, votes_id_seq, audit_log_id_seq TO bo1_app;

GRANT SELECT, INSERT, UPDATE, DELETE
    ON users, personas, sessions, contributions, votes, audit_log TO bo1_service;
GRANT USAGE ON SEQUENCE personas_id_seq, contributions_id_seq, votes_id_seq, audit_log_id_seq
    TO bo1_service;
