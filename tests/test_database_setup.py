"""The migrated schema, checked against the real PostgreSQL 15 + pgvector."""

from __future__ import annotations

import psycopg
import pytest

EXPECTED_TABLES = {
    "users",
    "personas",
    "sessions",
    "contributions",
    "votes",
    "audit_log",
    "bo1_schema_migrations",
    "bo1_backup_drills",
}
NAMED_INDEXES = {
    "idx_sessions_user_id",
    "idx_sessions_status",
    "idx_sessions_created_at",
    "idx_contributions_session_id",
    "idx_contributions_round_number",
    "idx_votes_session_id",
    "idx_audit_log_user_id",
    "idx_audit_log_timestamp",
    "idx_audit_log_resource",
}


def _one(conn: psycopg.Connection, query: str, params: list[object] | None = None) -> object:
    row = conn.execute(query, params).fetchone()  # type: ignore[arg-type]
    assert row is not None
    return row[0]


def _seed_tenant(conn: psycopg.Connection, user: str = "u1", session: str = "s1") -> None:
    conn.execute(
        "INSERT INTO personas (code, name, category, expertise, system_prompt)"
        " VALUES ('cfo', 'Casey', 'finance', 'finance', 'You are a CFO.') ON CONFLICT DO NOTHING"
    )
    conn.execute(
        "INSERT INTO users (id, email, auth_provider) VALUES (%s, %s, 'email')",
        [user, f"{user}@x.io"],
    )
    conn.execute(
        "INSERT INTO sessions (id, user_id, problem_statement) VALUES (%s, %s, 'p')",
        [session, user],
    )
    conn.execute(
        "INSERT INTO contributions (session_id, persona_code, content, round_number)"
        " VALUES (%s, 'cfo', 'c', 1)",
        [session],
    )
    conn.execute(
        "INSERT INTO votes (session_id, persona_code, vote_choice, confidence)"
        " VALUES (%s, 'cfo', 'yes', 0.8)",
        [session],
    )
    conn.execute("INSERT INTO audit_log (user_id, action) VALUES (%s, 'login')", [user])


def test_exactly_the_seven_tables(db_conn: psycopg.Connection) -> None:
    rows = db_conn.execute(
        "SELECT table_name FROM information_schema.tables"
        " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
    ).fetchall()
    assert {r[0] for r in rows} == EXPECTED_TABLES


def test_at_least_18_indexes_with_the_nine_named(db_conn: psycopg.Connection) -> None:
    names = {
        r[0]
        for r in db_conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")
    }
    assert names >= NAMED_INDEXES
    assert len(names) >= 18, sorted(names)


def test_audit_log_resource_index_is_composite(db_conn: psycopg.Connection) -> None:
    definition = _one(
        db_conn, "SELECT indexdef FROM pg_indexes WHERE indexname = 'idx_audit_log_resource'"
    )
    assert "(resource_type, resource_id)" in str(definition)


def test_pgvector_installed_and_working(db_conn: psycopg.Connection) -> None:
    version = str(_one(db_conn, "SELECT extversion FROM pg_extension WHERE extname = 'vector'"))
    assert version.startswith("0.8")
    assert _one(db_conn, "SELECT '[1,2,3]'::vector <-> '[1,2,5]'::vector") == pytest.approx(2.0)


@pytest.mark.parametrize(
    ("table", "column", "ref_table", "on_delete"),
    [
        ("sessions", "user_id", "users", "c"),
        ("contributions", "session_id", "sessions", "c"),
        ("votes", "session_id", "sessions", "c"),
        ("contributions", "persona_code", "personas", "a"),
        ("votes", "persona_code", "personas", "a"),
        ("audit_log", "user_id", "users", "n"),
    ],
)
def test_foreign_key_declared(
    db_conn: psycopg.Connection, table: str, column: str, ref_table: str, on_delete: str
) -> None:
    # confdeltype: c = CASCADE, n = SET NULL, a = NO ACTION (the delete is refused)
    rows = db_conn.execute(
        "SELECT c.confrelid::regclass::text, c.confdeltype FROM pg_constraint c"
        " JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)"
        " WHERE c.contype = 'f' AND c.conrelid = %s::regclass AND a.attname = %s",
        [table, column],
    ).fetchall()
    assert (ref_table, on_delete) in rows


def test_deleting_a_user_cascades_to_their_data_and_keeps_the_audit_trail(
    db_conn: psycopg.Connection,
) -> None:
    _seed_tenant(db_conn)
    db_conn.execute("DELETE FROM users WHERE id = 'u1'")
    for table in ("sessions", "contributions", "votes"):
        assert _one(db_conn, f"SELECT count(*) FROM {table}") == 0, table
    assert db_conn.execute("SELECT user_id, action FROM audit_log").fetchall() == [(None, "login")]


def test_deleting_a_session_cascades_to_contributions_and_votes(
    db_conn: psycopg.Connection,
) -> None:
    _seed_tenant(db_conn)
    db_conn.execute("DELETE FROM sessions WHERE id = 's1'")
    assert _one(db_conn, "SELECT count(*) FROM contributions") == 0
    assert _one(db_conn, "SELECT count(*) FROM votes") == 0
    assert _one(db_conn, "SELECT count(*) FROM users") == 1


def test_a_referenced_persona_cannot_be_deleted(db_conn: psycopg.Connection) -> None:
    _seed_tenant(db_conn)
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        db_conn.execute("DELETE FROM personas WHERE code = 'cfo'")


def test_contribution_needs_an_existing_persona(db_conn: psycopg.Connection) -> None:
    _seed_tenant(db_conn)
    with pytest.raises(psycopg.errors.ForeignKeyViolation):
        db_conn.execute("UPDATE contributions SET persona_code = 'nobody'")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE sessions SET status = 'sleeping'",
        "UPDATE users SET subscription_tier = 'platinum'",
        "UPDATE votes SET confidence = 1.5",
        "UPDATE votes SET confidence = -0.1",
    ],
)
def test_closed_sets_are_checked(db_conn: psycopg.Connection, statement: str) -> None:
    _seed_tenant(db_conn)
    with pytest.raises(psycopg.errors.CheckViolation):
        db_conn.execute(statement)


def test_defaults(db_conn: psycopg.Connection) -> None:
    _seed_tenant(db_conn)
    assert _one(db_conn, "SELECT subscription_tier FROM users") == "free"
    assert _one(db_conn, "SELECT status FROM sessions") == "active"


@pytest.mark.parametrize(
    ("table", "column"), [("sessions", "problem_context"), ("audit_log", "details")]
)
def test_documents_are_jsonb(db_conn: psycopg.Connection, table: str, column: str) -> None:
    data_type = _one(
        db_conn,
        "SELECT data_type FROM information_schema.columns"
        " WHERE table_name = %s AND column_name = %s",
        [table, column],
    )
    assert data_type == "jsonb"


@pytest.mark.parametrize("table", ["users", "sessions"])
def test_updated_at_trigger_fires_on_raw_sql(db_conn: psycopg.Connection, table: str) -> None:
    _seed_tenant(db_conn)
    db_conn.execute(f"UPDATE {table} SET updated_at = '2000-01-01', created_at = '2000-01-01'")
    db_conn.execute(f"UPDATE {table} SET created_at = created_at")  # any raw update
    updated, created = db_conn.execute(f"SELECT updated_at, created_at FROM {table}").fetchone()  # type: ignore[misc]
    assert updated.year > 2000 and created.year == 2000
