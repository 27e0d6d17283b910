"""Tenant isolation, attacked as the real application role on real PostgreSQL 15.

Two tenants, u1 (the attacker) and u2 (the victim). Every u2 value that could
leak carries the marker SECRET-u2. An attack passes when it errors or touches
nothing, no SECRET-u2 value reaches the attacker, and a superuser snapshot of
every table is unchanged afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import psycopg
import pytest

from bootstrap.postgres.tenancy import (
    APP_ROLE,
    POLICIES,
    SERVICE_ROLE,
    TENANT_TABLES,
    tenant_transaction,
)
from tests.support.postgres_server import PostgresServer

MARK = "SECRET-u2"
TABLES = ("users", "personas", "sessions", "contributions", "votes", "audit_log")


def seed(conn: psycopg.Connection) -> None:
    """Two tenants with one row in every tenant table each (as superuser)."""
    conn.execute(
        "INSERT INTO personas (code, name, category, expertise, system_prompt)"
        " VALUES ('cfo', 'Casey', 'finance', 'finance', 'You are a CFO.')"
    )
    for user, text in (("u1", "mine-u1"), ("u2", MARK)):
        session = "s" + user[1:]
        conn.execute(
            "INSERT INTO users (id, email, auth_provider) VALUES (%s, %s, 'email')",
            [user, f"{text}@x.io"],
        )
        conn.execute(
            "INSERT INTO sessions (id, user_id, problem_statement) VALUES (%s, %s, %s)",
            [session, user, text],
        )
        conn.execute(
            "INSERT INTO contributions (session_id, persona_code, content, round_number)"
            " VALUES (%s, 'cfo', %s, 1)",
            [session, text],
        )
        conn.execute(
            "INSERT INTO votes (session_id, persona_code, vote_choice, reasoning, confidence)"
            " VALUES (%s, 'cfo', 'yes', %s, 0.5)",
            [session, text],
        )
        conn.execute(
            "INSERT INTO audit_log (user_id, action, details) VALUES (%s, 'login', %s)",
            [user, f'{{"note": "{text}"}}'],
        )


def snapshot(conn: psycopg.Connection) -> dict[str, list[tuple[object, ...]]]:
    return {
        t: sorted(map(tuple, conn.execute(f"SELECT * FROM {t}").fetchall()), key=repr)
        for t in TABLES
    }


@dataclass
class Outcome:
    rows: list[tuple[object, ...]]
    rowcount: int
    error: psycopg.Error | None
    notices: list[str]

    @property
    def sqlstate(self) -> str | None:
        return self.error.sqlstate if self.error else None


class Attacker:
    """The app role, acting as tenant u1 unless told otherwise."""

    def __init__(self, conn: psycopg.Connection) -> None:
        self.conn = conn
        self.notices: list[str] = []
        conn.add_notice_handler(lambda d: self.notices.append(d.message_primary or ""))

    def run(self, statement: str, tenant: str | None = "u1") -> Outcome:
        self.notices.clear()
        try:
            with self.conn.transaction():
                if tenant is not None:
                    self.conn.execute(
                        "SELECT set_config('app.current_user_id', %s, true)", [tenant]
                    )
                cur = self.conn.execute(statement)  # type: ignore[arg-type]
                rows = cur.fetchall() if cur.description else []
                return Outcome(rows, cur.rowcount, None, list(self.notices))
        except psycopg.Error as exc:
            return Outcome([], 0, exc, list(self.notices))


@pytest.fixture
def world(pg_server: PostgresServer, db: str, db_conn: psycopg.Connection) -> psycopg.Connection:
    seed(db_conn)
    return db_conn


@pytest.fixture
def attacker(world: psycopg.Connection, app_conn: psycopg.Connection) -> Iterator[Attacker]:
    before = snapshot(world)
    yield Attacker(app_conn)
    assert snapshot(world) == before, "an attack changed data"


def assert_no_leak(outcome: Outcome) -> None:
    assert MARK not in repr(outcome.rows), outcome.rows
    assert not any(MARK in n for n in outcome.notices), outcome.notices
    if outcome.error is not None:
        assert MARK not in str(outcome.error), outcome.error


def assert_blocked(outcome: Outcome) -> None:
    """A write attack: refused outright, or it matched no row at all."""
    assert_no_leak(outcome)
    assert outcome.error is not None or outcome.rowcount == 0, outcome


# -- the tenant works normally on its own rows (isolation is not denial) ---------


def test_tenant_reads_exactly_its_own_rows(attacker: Attacker) -> None:
    for table, column in [("users", "id"), *[(t, "user_id") for t in TENANT_TABLES[1:]]]:
        outcome = attacker.run(f"SELECT DISTINCT {column} FROM {table}")
        assert outcome.rows == [("u1",)], table


def test_tenant_writes_its_own_rows(
    world: psycopg.Connection, app_conn: psycopg.Connection
) -> None:
    with tenant_transaction(app_conn, "u1"):
        app_conn.execute(
            "INSERT INTO sessions (id, user_id, problem_statement) VALUES ('s1b', 'u1', 'p')"
        )
        row = app_conn.execute(
            "INSERT INTO contributions (session_id, persona_code, content, round_number)"
            " VALUES ('s1b', 'cfo', 'new', 2) RETURNING user_id"
        ).fetchone()
        assert row == ("u1",)  # filled from the session by the database
        app_conn.execute(
            "INSERT INTO votes (session_id, persona_code, vote_choice) VALUES ('s1b', 'cfo', 'no')"
        )
        app_conn.execute("INSERT INTO audit_log (user_id, action) VALUES ('u1', 'create_session')")
        assert (
            app_conn.execute("UPDATE sessions SET phase = 'debate' WHERE id = 's1'").rowcount == 1
        )
        assert app_conn.execute("DELETE FROM votes WHERE session_id = 's1'").rowcount == 1
        assert app_conn.execute("SELECT count(*) FROM personas").fetchone() == (1,)
    assert world.execute("SELECT count(*) FROM contributions WHERE user_id = 'u1'").fetchone() == (
        2,
    )


# -- every tenant table: read, write, update, delete another tenant's rows ---------

CROSS_TENANT_READS = {
    "users by id": "SELECT * FROM users WHERE id = 'u2'",
    "users by email": f"SELECT * FROM users WHERE email LIKE '{MARK}%'",
    "sessions by id": "SELECT * FROM sessions WHERE id = 's2'",
    "sessions full scan": "SELECT * FROM sessions",
    "contributions of s2": "SELECT * FROM contributions WHERE session_id = 's2'",
    "contributions joined": "SELECT c.* FROM contributions c JOIN sessions s ON s.id = c.session_id",
    "votes of s2": "SELECT * FROM votes WHERE session_id = 's2'",
    "audit_log of u2": "SELECT * FROM audit_log WHERE user_id = 'u2'",
    "count everything": "SELECT (SELECT count(*) FROM sessions WHERE user_id = 'u2')"
    " + (SELECT count(*) FROM contributions WHERE user_id = 'u2')",
}


@pytest.mark.parametrize("statement", CROSS_TENANT_READS.values(), ids=CROSS_TENANT_READS.keys())
def test_cannot_read_another_tenants_rows(attacker: Attacker, statement: str) -> None:
    outcome = attacker.run(statement)
    assert outcome.error is None
    assert_no_leak(outcome)
    assert outcome.rows in ([], [(0,)]) or all("u2" not in repr(r) for r in outcome.rows)


CROSS_TENANT_INSERTS = {
    "users: a row for someone else": "INSERT INTO users (id, email, auth_provider) VALUES ('u9', 'e@x', 'email')",
    "sessions: owned by u2": "INSERT INTO sessions (id, user_id, problem_statement) VALUES ('sx', 'u2', 'p')",
    "contributions: into s2, tenant left out": "INSERT INTO contributions"
    " (session_id, persona_code, content, round_number) VALUES ('s2', 'cfo', 'x', 1)",
    "contributions: into s2 as u2": "INSERT INTO contributions"
    " (session_id, user_id, persona_code, content, round_number) VALUES ('s2', 'u2', 'cfo', 'x', 1)",
    "contributions: into s2 under own id": "INSERT INTO contributions"
    " (session_id, user_id, persona_code, content, round_number) VALUES ('s2', 'u1', 'cfo', 'x', 1)",
    "votes: into s2, tenant left out": "INSERT INTO votes (session_id, persona_code, vote_choice)"
    " VALUES ('s2', 'cfo', 'x')",
    "votes: into s2 as u2": "INSERT INTO votes (session_id, user_id, persona_code, vote_choice)"
    " VALUES ('s2', 'u2', 'cfo', 'x')",
    "votes: into s2 under own id": "INSERT INTO votes (session_id, user_id, persona_code, vote_choice)"
    " VALUES ('s2', 'u1', 'cfo', 'x')",
    "audit_log: as u2": "INSERT INTO audit_log (user_id, action) VALUES ('u2', 'forged')",
    "audit_log: with no user": "INSERT INTO audit_log (user_id, action) VALUES (NULL, 'forged')",
}


@pytest.mark.parametrize("returning", [False, True], ids=["plain", "returning"])
@pytest.mark.parametrize(
    "statement", CROSS_TENANT_INSERTS.values(), ids=CROSS_TENANT_INSERTS.keys()
)
def test_cannot_insert_rows_for_another_tenant(
    attacker: Attacker, statement: str, returning: bool
) -> None:
    # RETURNING also applies the SELECT policy, which could hide a missing write check.
    outcome = attacker.run(statement + (" RETURNING *" if returning else ""))
    assert_blocked(outcome)
    assert outcome.error is not None


CROSS_TENANT_WRITES = {
    "update users": "UPDATE users SET email = 'pwned@x' WHERE id = 'u2'",
    "update sessions": "UPDATE sessions SET problem_statement = 'pwned' WHERE id = 's2'",
    "update contributions": "UPDATE contributions SET content = 'pwned' WHERE session_id = 's2'",
    "update votes": "UPDATE votes SET vote_choice = 'pwned' WHERE session_id = 's2'",
    "update audit_log": "UPDATE audit_log SET action = 'pwned' WHERE user_id = 'u2'",
    "update all but own": "UPDATE sessions SET status = 'killed' WHERE user_id <> 'u1'",
    "delete users": "DELETE FROM users WHERE id = 'u2'",
    "delete sessions": "DELETE FROM sessions WHERE id = 's2'",
    "delete contributions": "DELETE FROM contributions WHERE session_id = 's2'",
    "delete votes": "DELETE FROM votes WHERE session_id = 's2'",
    "delete audit_log": "DELETE FROM audit_log WHERE user_id = 'u2'",
    "delete via sub-select": "DELETE FROM contributions WHERE session_id IN (SELECT id FROM sessions)"
    " AND session_id = 's2'",
}


@pytest.mark.parametrize("statement", CROSS_TENANT_WRITES.values(), ids=CROSS_TENANT_WRITES.keys())
def test_cannot_change_another_tenants_rows(attacker: Attacker, statement: str) -> None:
    assert_blocked(attacker.run(statement))


MOVES_INTO_ANOTHER_TENANT = {
    "session given to u2": "UPDATE sessions SET user_id = 'u2' WHERE id = 's1'",
    "contribution moved into s2": "UPDATE contributions SET session_id = 's2' WHERE session_id = 's1'",
    "contribution relabelled u2": "UPDATE contributions SET user_id = 'u2' WHERE session_id = 's1'",
    "contribution moved as u2": "UPDATE contributions SET session_id = 's2', user_id = 'u2'",
    "vote moved into s2": "UPDATE votes SET session_id = 's2' WHERE session_id = 's1'",
    "vote relabelled u2": "UPDATE votes SET user_id = 'u2'",
    "user renamed to u2": "UPDATE users SET id = 'u2' WHERE id = 'u1'",
    "own audit row relabelled": "UPDATE audit_log SET user_id = 'u2' WHERE user_id = 'u1'",
}


@pytest.mark.parametrize(
    "statement", MOVES_INTO_ANOTHER_TENANT.values(), ids=MOVES_INTO_ANOTHER_TENANT.keys()
)
def test_cannot_move_own_rows_into_another_tenant(attacker: Attacker, statement: str) -> None:
    outcome = attacker.run(statement)
    assert_blocked(outcome)
    assert outcome.error is not None  # the row is its own, so only a check can stop it


# -- bad tenant ids: see nothing, and unset raises no error ------------------------

BAD_TENANT_IDS = {
    "empty": "",
    "whitespace": "   ",
    "or-true injection": "' OR '1'='1",
    "comment injection": "u2' --",
    "stacked injection": "u1'; SET ROLE bo1_service; --",
    "like wildcard": "%",
    "case variant": "U2",
    "padded": " u2",
}


@pytest.mark.parametrize("table", TENANT_TABLES)
def test_unset_tenant_sees_nothing_without_error(attacker: Attacker, table: str) -> None:
    outcome = attacker.run(f"SELECT * FROM {table}", tenant=None)
    assert outcome.error is None
    assert outcome.rows == []


@pytest.mark.parametrize("tenant", BAD_TENANT_IDS.values(), ids=BAD_TENANT_IDS.keys())
def test_bad_tenant_id_sees_nothing(attacker: Attacker, tenant: str) -> None:
    for table in TENANT_TABLES:
        outcome = attacker.run(f"SELECT * FROM {table}", tenant=tenant)
        assert outcome.error is None
        assert outcome.rows == [], (table, tenant)


@pytest.mark.parametrize(
    "tenant", [None, *BAD_TENANT_IDS.values()], ids=["unset", *BAD_TENANT_IDS.keys()]
)
def test_bad_tenant_id_cannot_write(attacker: Attacker, tenant: str | None) -> None:
    for statement in (
        "INSERT INTO sessions (id, user_id, problem_statement) VALUES ('sx', 'u2', 'p')",
        "INSERT INTO audit_log (user_id, action) VALUES ('u1', 'x')",
        "UPDATE sessions SET phase = 'x'",
        "DELETE FROM contributions",
    ):
        assert_blocked(attacker.run(statement, tenant=tenant))


# -- role escapes ---------------------------------------------------------------

ESCAPES = {
    "disable rls": "ALTER TABLE sessions DISABLE ROW LEVEL SECURITY",
    "unforce rls": "ALTER TABLE contributions NO FORCE ROW LEVEL SECURITY",
    "alter table": "ALTER TABLE votes ADD COLUMN x int",
    "drop policy": "DROP POLICY sessions_user_isolation ON sessions",
    "create policy": "CREATE POLICY open_door ON sessions USING (true)",
    "drop table": "DROP TABLE audit_log",
    "truncate sessions": "TRUNCATE sessions CASCADE",
    "truncate contributions": "TRUNCATE contributions",
    "truncate votes": "TRUNCATE votes",
    "truncate audit_log": "TRUNCATE audit_log",
    "truncate users": "TRUNCATE users CASCADE",
    "set role service": "SET ROLE bo1_service",
    "set role owner": "SET ROLE bo1_owner",
    "set role superuser": "SET ROLE postgres",
    "session authorization": "SET SESSION AUTHORIZATION postgres",
    "grant self service": "GRANT bo1_service TO bo1_app",
    "alter self bypassrls": "ALTER ROLE bo1_app BYPASSRLS",
    "read pg_authid": "SELECT rolname, rolpassword FROM pg_authid",
    "read pg_shadow": "SELECT usename, passwd FROM pg_shadow",
    "read version table": "SELECT * FROM bo1_schema_migrations",
    "read backup drill results": "SELECT * FROM bo1_backup_drills",
    "forge a drill result": "INSERT INTO bo1_backup_drills (ok) VALUES (true)",
    "row_security off": "SET LOCAL row_security = off; SELECT * FROM sessions",
    "create table": "CREATE TABLE public.stash (x text)",
    "copy to program": "COPY sessions TO PROGRAM 'cat > /tmp/x'",
    "write personas": "INSERT INTO personas (code, name, expertise, system_prompt) VALUES ('x', 'x', 'x', 'x')",
    "update personas": "UPDATE personas SET system_prompt = 'obey me'",
    "delete personas": "DELETE FROM personas",
}


@pytest.mark.parametrize("statement", ESCAPES.values(), ids=ESCAPES.keys())
def test_app_role_cannot_escape(attacker: Attacker, statement: str) -> None:
    outcome = attacker.run(statement)
    assert outcome.error is not None, statement
    assert outcome.sqlstate == "42501", (
        outcome.sqlstate,
        str(outcome.error),
    )  # insufficient_privilege
    assert_no_leak(outcome)


def test_leaky_function_sees_no_other_tenants_rows(attacker: Attacker) -> None:
    # A cheap, non-leakproof function in the WHERE clause must never run on rows the policy hides.
    attacker.run(
        "CREATE FUNCTION pg_temp.peek(t text) RETURNS bool LANGUAGE plpgsql COST 0.0000001"
        " AS $$ BEGIN RAISE NOTICE 'saw %', t; RETURN true; END $$"
    )
    for table, column in (
        ("sessions", "problem_statement"),
        ("contributions", "content"),
        ("votes", "reasoning"),
    ):
        outcome = attacker.run(f"SELECT * FROM {table} WHERE pg_temp.peek({column})")
        assert_no_leak(outcome)
        assert outcome.notices == ["saw mine-u1"], outcome.notices


def test_planner_statistics_do_not_leak(world: psycopg.Connection, attacker: Attacker) -> None:
    world.execute("ANALYZE")
    outcome = attacker.run(
        "SELECT tablename, most_common_vals::text FROM pg_stats"
        " WHERE schemaname = 'public' AND tablename IN ('users', 'sessions', 'contributions', 'votes', 'audit_log')"
    )
    assert outcome.error is None
    assert outcome.rows == []


def test_policies_are_the_named_ones_enabled_and_forced(world: psycopg.Connection) -> None:
    rows = world.execute(
        "SELECT c.relname, p.polname, c.relrowsecurity, c.relforcerowsecurity,"
        " p.polqual IS NOT NULL, p.polwithcheck IS NOT NULL"
        " FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid"
    ).fetchall()
    assert sorted(rows) == sorted((t, POLICIES[t], True, True, True, True) for t in TENANT_TABLES)


def test_app_role_attributes(world: psycopg.Connection) -> None:
    rows = dict(
        (r[0], r[1:])
        for r in world.execute(
            "SELECT rolname, rolcanlogin, rolbypassrls, rolsuper, rolcreaterole, rolcreatedb"
            " FROM pg_roles WHERE rolname LIKE 'bo1\\_%'"
        )
    )
    assert rows == {
        "bo1_owner": (False, False, False, False, False),
        "bo1_app": (True, False, False, False, False),
        "bo1_service": (True, True, False, False, False),
    }
    # The application's tables; bo1-infra's own (the version table, the drill results)
    # belong to the superuser that writes them, and no application role can read them.
    owners = world.execute(
        "SELECT DISTINCT tableowner FROM pg_tables WHERE tablename NOT LIKE 'bo1\\_%'"
        " AND schemaname = 'public'"
    ).fetchall()
    assert owners == [("bo1_owner",)]
    infrastructure = world.execute(
        "SELECT tablename, tableowner FROM pg_tables WHERE tablename LIKE 'bo1\\_%'"
        " ORDER BY tablename"
    ).fetchall()
    assert infrastructure == [
        ("bo1_backup_drills", "postgres"),
        ("bo1_schema_migrations", "postgres"),
    ]


# -- the tenant never outlives its transaction -------------------------------------


def test_tenant_does_not_leak_into_the_next_transaction(attacker: Attacker) -> None:
    assert attacker.run("SELECT id FROM sessions").rows == [("s1",)]
    assert attacker.run("SELECT id FROM sessions", tenant=None).rows == []


def test_tenant_does_not_survive_a_rollback(
    app_conn: psycopg.Connection, world: psycopg.Connection
) -> None:
    with pytest.raises(psycopg.errors.DivisionByZero), tenant_transaction(app_conn, "u1"):
        app_conn.execute("SELECT 1 / 0")
    assert app_conn.execute("SELECT count(*) FROM sessions").fetchone() == (0,)


def test_set_local_is_transaction_scoped(
    app_conn: psycopg.Connection, world: psycopg.Connection
) -> None:
    with app_conn.transaction():
        app_conn.execute("SET LOCAL app.current_user_id = 'u1'")
        assert app_conn.execute("SELECT count(*) FROM sessions").fetchone() == (1,)
    assert app_conn.execute("SELECT count(*) FROM sessions").fetchone() == (0,)
    assert app_conn.execute("SELECT current_setting('app.current_user_id', true)").fetchone() == (
        "",
    )


def test_pooled_connection_switches_tenants_cleanly(
    app_conn: psycopg.Connection, world: psycopg.Connection
) -> None:
    for tenant, expected in (("u1", "mine-u1"), ("u2", MARK), ("u1", "mine-u1")):
        with tenant_transaction(app_conn, tenant):
            rows = app_conn.execute("SELECT problem_statement FROM sessions").fetchall()
        assert rows == [(expected,)]
    assert app_conn.execute("SELECT count(*) FROM contributions").fetchone() == (0,)


# -- the service role --------------------------------------------------------------


def test_service_role_sees_every_tenant(
    world: psycopg.Connection, service_conn: psycopg.Connection
) -> None:
    for table in TENANT_TABLES:
        column = "id" if table == "users" else "user_id"
        rows = service_conn.execute(f"SELECT DISTINCT {column} FROM {table} ORDER BY 1").fetchall()
        assert rows == [("u1",), ("u2",)], table


def test_service_role_writes_for_any_tenant_but_has_no_ddl(
    world: psycopg.Connection, service_conn: psycopg.Connection
) -> None:
    service_conn.execute(
        "INSERT INTO contributions (session_id, persona_code, content, round_number) VALUES ('s2', 'cfo', 'admin', 3)"
    )
    assert service_conn.execute(
        "SELECT user_id FROM contributions WHERE content = 'admin'"
    ).fetchone() == ("u2",)
    for statement in (
        "TRUNCATE votes",
        "ALTER TABLE sessions DISABLE ROW LEVEL SECURITY",
        "DROP TABLE votes",
    ):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            service_conn.execute(statement)


@pytest.mark.parametrize("role", [APP_ROLE, SERVICE_ROLE])
def test_roles_log_in_with_their_password(
    pg_server: PostgresServer, db: str, role_passwords: dict[str, str], role: str
) -> None:
    with psycopg.connect(pg_server.dsn(db, user=role, password=role_passwords[role])) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (role,)
