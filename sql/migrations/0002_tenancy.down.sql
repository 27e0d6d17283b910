-- Reverses 0002_tenancy. Roles are cluster-wide: each is dropped only when no
-- other database of the cluster still depends on it.

REVOKE ALL ON users, personas, sessions, contributions, votes, audit_log FROM bo1_app, bo1_service;
REVOKE ALL ON SEQUENCE personas_id_seq, contributions_id_seq, votes_id_seq, audit_log_id_seq
    FROM bo1_app, bo1_service;
REVOKE USAGE ON SCHEMA public FROM bo1_app, bo1_service;

DROP POLICY audit_log_user_isolation ON audit_log;
DROP POLICY votes_user_isolation ON votes;
DROP POLICY contributions_user_isolation ON contributions;
DROP POLICY sessions_user_isolation ON sessions;
DROP POLICY users_self_access ON users;

ALTER TABLE audit_log NO FORCE ROW LEVEL SECURITY;
ALTER TABLE audit_log DISABLE ROW LEVEL SECURITY;
ALTER TABLE votes NO FORCE ROW LEVEL SECURITY;
ALTER TABLE votes DISABLE ROW LEVEL SECURITY;
ALTER TABLE contributions NO FORCE ROW LEVEL SECURITY;
ALTER TABLE contributions DISABLE ROW LEVEL SECURITY;
ALTER TABLE sessions NO FORCE ROW LEVEL SECURITY;
ALTER TABLE sessions DISABLE ROW LEVEL SECURITY;
ALTER TABLE users NO FORCE ROW LEVEL SECURITY;
ALTER TABLE users DISABLE ROW LEVEL SECURITY;

DROP INDEX idx_votes_user_id;
DROP INDEX idx_contributions_user_id_created_at;

DROP TRIGGER votes_fill_user_id ON votes;
DROP TRIGGER contributions_fill_user_id ON contributions;
DROP FUNCTION fill_user_id_from_session();

ALTER TABLE votes DROP CONSTRAINT votes_session_tenant_fkey;
ALTER TABLE votes ADD CONSTRAINT votes_session_id_fkey
    FOREIGN KEY (session_id) REFERENCES sessions (id) ON DELETE CASCADE;
ALTER TABLE votes DROP COLUMN user_id;

ALTER TABLE contributions DROP CONSTRAINT contributions_session_tenant_fkey;
ALTER TABLE contributions ADD CONSTRAINT contributions_session_id_fkey
    FOREIGN KEY (session_id) REFERENCES sessions (id) ON DELETE CASCADE;
ALTER TABLE contributions DROP COLUMN user_id;

ALTER TABLE sessions DROP CONSTRAINT sessions_id_user_id_key;
ALTER TABLE users DROP CONSTRAINT users_id_not_blank;

ALTER FUNCTION set_updated_at() RESET search_path;
ALTER FUNCTION set_updated_at() OWNER TO CURRENT_USER;
ALTER TABLE audit_log OWNER TO CURRENT_USER;
ALTER TABLE votes OWNER TO CURRENT_USER;
ALTER TABLE contributions OWNER TO CURRENT_USER;
ALTER TABLE sessions OWNER TO CURRENT_USER;
ALTER TABLE personas OWNER TO CURRENT_USER;
ALTER TABLE users OWNER TO CURRENT_USER;

DO $$
DECLARE
    role_name text;
BEGIN
    FOREACH role_name IN ARRAY ARRAY['bo1_app', 'bo1_service', 'bo1_owner'] LOOP
        IF EXISTS (SELECT FROM pg_roles WHERE rolname = role_name) AND NOT EXISTS (
            SELECT FROM pg_shdepend d
            WHERE d.refclassid = 'pg_authid'::regclass
              AND d.refobjid = (SELECT oid FROM pg_roles WHERE rolname = role_name)
              AND d.dbid <> (SELECT oid FROM pg_database WHERE datname = current_database())
        ) THEN
            EXECUTE format('DROP ROLE %I', role_name);
        END IF;
    END LOOP;
END
$$;
