-- The Board of One schema: users, personas, sessions, contributions, votes, audit_log.
-- Row-level security, roles and grants come in later migrations.

CREATE EXTENSION IF NOT EXISTS vector;

-- Keeps updated_at true for every writer: raw SQL never fires an ORM hook.
CREATE FUNCTION set_updated_at() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := now();
    RETURN NEW;
END;
$$;

CREATE TABLE users (
    id                varchar(255) PRIMARY KEY,
    email             varchar(255) NOT NULL UNIQUE,
    auth_provider     varchar(50)  NOT NULL,
    subscription_tier varchar(50)  NOT NULL DEFAULT 'free'
        CONSTRAINT users_subscription_tier_check
        CHECK (subscription_tier IN ('free', 'pro', 'enterprise')),
    gdpr_consent_at   timestamptz,
    created_at        timestamptz  NOT NULL DEFAULT now(),
    updated_at        timestamptz  NOT NULL DEFAULT now()
);

CREATE TABLE personas (
    id            serial       PRIMARY KEY,
    code          varchar(50)  NOT NULL UNIQUE,
    name          varchar(255) NOT NULL,
    expertise     varchar(500) NOT NULL,
    system_prompt text         NOT NULL,
    created_at    timestamptz  NOT NULL DEFAULT now()
);

CREATE TABLE sessions (
    id                varchar(255)   PRIMARY KEY,
    user_id           varchar(255)   NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    problem_statement text           NOT NULL,
    problem_context   jsonb,
    status            varchar(50)    NOT NULL DEFAULT 'active'
        CONSTRAINT sessions_status_check
        CHECK (status IN ('active', 'paused', 'completed', 'failed', 'killed')),
    phase             varchar(50),
    total_cost        numeric(10, 4) NOT NULL DEFAULT 0 CHECK (total_cost >= 0),
    total_tokens      integer        NOT NULL DEFAULT 0 CHECK (total_tokens >= 0),
    round_number      integer        NOT NULL DEFAULT 0 CHECK (round_number >= 0),
    max_rounds        integer        NOT NULL DEFAULT 10 CHECK (max_rounds > 0),
    created_at        timestamptz    NOT NULL DEFAULT now(),
    updated_at        timestamptz    NOT NULL DEFAULT now(),
    completed_at      timestamptz,
    killed_at         timestamptz,
    killed_by         varchar(255),
    kill_reason       text
);

CREATE TABLE contributions (
    id           bigserial      PRIMARY KEY,
    session_id   varchar(255)   NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    persona_code varchar(50)    NOT NULL REFERENCES personas (code),
    content      text           NOT NULL,
    round_number integer        NOT NULL CHECK (round_number >= 0),
    phase        varchar(50),
    cost         numeric(10, 4) NOT NULL DEFAULT 0 CHECK (cost >= 0),
    tokens       integer        NOT NULL DEFAULT 0 CHECK (tokens >= 0),
    model        varchar(100),
    created_at   timestamptz    NOT NULL DEFAULT now()
);

CREATE TABLE votes (
    id           bigserial     PRIMARY KEY,
    session_id   varchar(255)  NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    persona_code varchar(50)   NOT NULL REFERENCES personas (code),
    vote_choice  varchar(255)  NOT NULL,
    reasoning    text,
    confidence   numeric(3, 2)
        CONSTRAINT votes_confidence_check CHECK (confidence BETWEEN 0 AND 1),
    created_at   timestamptz   NOT NULL DEFAULT now()
);

CREATE TABLE audit_log (
    id            bigserial    PRIMARY KEY,
    user_id       varchar(255) REFERENCES users (id) ON DELETE SET NULL,
    action        varchar(100) NOT NULL,
    resource_type varchar(50),
    resource_id   varchar(255),
    details       jsonb,
    ip_address    inet,
    user_agent    text,
    "timestamp"   timestamptz  NOT NULL DEFAULT now()
);

CREATE TRIGGER users_set_updated_at BEFORE UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();
CREATE TRIGGER sessions_set_updated_at BEFORE UPDATE ON sessions
    FOR EACH ROW EXECUTE FUNCTION set_updated_at();

-- The nine named indexes of the original design.
CREATE INDEX idx_sessions_user_id ON sessions (user_id);
CREATE INDEX idx_sessions_status ON sessions (status);
CREATE INDEX idx_sessions_created_at ON sessions (created_at);
CREATE INDEX idx_contributions_session_id ON contributions (session_id);
CREATE INDEX idx_contributions_round_number ON contributions (round_number);
CREATE INDEX idx_votes_session_id ON votes (session_id);
CREATE INDEX idx_audit_log_user_id ON audit_log (user_id);
CREATE INDEX idx_audit_log_timestamp ON audit_log ("timestamp");
CREATE INDEX idx_audit_log_resource ON audit_log (resource_type, resource_id);

-- Foreign keys to personas need an index on the referencing side: without one,
-- deleting or re-keying a persona scans every contribution and vote.
CREATE INDEX idx_contributions_persona_code ON contributions (persona_code);
CREATE INDEX idx_votes_persona_code ON votes (persona_code);

COMMENT ON TABLE users IS 'Board of One accounts; one row per tenant.';
COMMENT ON TABLE personas IS 'The catalogue of expert personas; seeded by bo1-infra seed personas.';
COMMENT ON TABLE sessions IS 'A deliberation: one user''s problem debated by the board.';
COMMENT ON TABLE contributions IS 'What one persona said in one round of a session.';
COMMENT ON TABLE votes IS 'A persona''s final vote in a session.';
COMMENT ON TABLE audit_log IS 'Security-relevant actions; kept when the user is deleted.';
