"""What a hostile review of bo1_app broke, attacked again as bo1_app over TCP (issue #11).

Each attack runs on a database at the latest migration, where it must fail, and the
ones that 0005_tenancy_hardening closes also run on a database left at 0004, where
they must succeed: the control shows the attack is real and the fix is what stops it.
"""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from bootstrap.errors import TenancyError
from bootstrap.migrate.files import discover
from bootstrap.migrate.lock import MIGRATION_LOCK_KEY
from bootstrap.migrate.runner import Migrator
from bootstrap.paths import MIGRATIONS_DIR
from bootstrap.postgres.tenancy import APP_ROLE, tenant_transaction
from tests.conftest import connect_as
from tests.support.cli import assert_one_line_error, run_cli
from tests.support.databases import temp_database
from tests.support.postgres_server import PostgresServer
from tests.test_row_level_security import MARK, seed


@pytest.fixture
def old_db(pg_server: PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """A database at 0004, as the previous release left it."""
    with temp_database(pg_server, request.node.name) as name:
        with psycopg.connect(pg_server.dsn(name), autocommit=True) as conn:
            Migrator(conn, discover(MIGRATIONS_DIR), say=lambda _: None).up(to=4)
        yield name


def seeded(server: PostgresServer, db: str) -> None:
    with psycopg.connect(server.dsn(db), autocommit=True) as conn:
        seed(conn)


def attack(
    server: PostgresServer, db: str, passwords: dict[str, str], statement: str
) -> psycopg.Error | None:
    """``statement`` as bo1_app, tenant u1; the error it raised, if any."""
    with connect_as(server, db, APP_ROLE, passwords) as app:
        try:
            with app.transaction():
                app.execute("SELECT set_config('app.current_user_id', 'u1', true)")
                app.execute(statement)  # type: ignore[arg-type]
        except psycopg.Error as exc:
            return exc
    return None


# 1. tenant_transaction on connections that are not autocommit ----------------------------


def test_tenant_transaction_owns_its_transaction_on_a_plain_connection(
    pg_server: PostgresServer, db: str, role_passwords: dict[str, str]
) -> None:
    seeded(pg_server, db)
    with connect_as(pg_server, db, APP_ROLE, role_passwords) as app:
        app.autocommit = False  # psycopg's default, which the tests used to avoid
        with tenant_transaction(app, "u1"):
            app.execute(
                "INSERT INTO sessions (id, user_id, problem_statement) VALUES ('s1x', 'u1', 'p')"
            )
        # After the block: committed, and no tenant any more.
        assert app.execute("SELECT current_setting('app.current_user_id', true)").fetchone() in (
            (None,),
            ("",),
        )
        assert app.execute("SELECT count(*) FROM sessions").fetchone() == (0,)
        app.rollback()
    with psycopg.connect(pg_server.dsn(db)) as su:
        assert su.execute("SELECT count(*) FROM sessions WHERE id = 's1x'").fetchone() == (1,)


def test_tenant_transaction_refuses_inside_a_transaction_and_when_nested(
    pg_server: PostgresServer, db: str, role_passwords: dict[str, str]
) -> None:
    seeded(pg_server, db)
    with connect_as(pg_server, db, APP_ROLE, role_passwords) as app:
        app.autocommit = False
        app.execute("SELECT 1")  # psycopg opened a transaction
        with (
            pytest.raises(TenancyError, match="outside any transaction"),
            tenant_transaction(app, "u2"),
        ):
            pass
        app.rollback()
        with tenant_transaction(app, "u1"):
            with pytest.raises(TenancyError, match="do not nest"), tenant_transaction(app, "u2"):
                pass
            # the outer block still acts as u1 only
            assert app.execute("SELECT DISTINCT user_id FROM sessions").fetchall() == [("u1",)]


# 2. cross-tenant reads through INSERT ... ON CONFLICT DO UPDATE ... WHERE ---------------

ON_CONFLICT_ATTACKS = {
    "a session by its id": (
        "INSERT INTO sessions (id, user_id, problem_statement) VALUES ('s2', 'u1', 'x')"
        " ON CONFLICT (id) DO UPDATE SET phase = 'x' WHERE sessions.problem_statement::int = 1"
    ),
    "a user by e-mail": (
        f"INSERT INTO users (id, email, auth_provider) VALUES ('u1', '{MARK}@x.io', 'email')"
        " ON CONFLICT (email) DO UPDATE SET auth_provider = 'x' WHERE users.id::int = 1"
    ),
    "a contribution by a sequential id": (
        "INSERT INTO contributions (id, session_id, persona_code, content, round_number)"
        " VALUES (2, 's1', 'cfo', 'x', 1) ON CONFLICT (id) DO UPDATE SET content = 'x'"
        " WHERE contributions.content::int = 1"
    ),
}


@pytest.mark.parametrize("kind", ON_CONFLICT_ATTACKS)
def test_on_conflict_never_reaches_another_tenants_row(
    pg_server: PostgresServer, db: str, role_passwords: dict[str, str], kind: str
) -> None:
    seeded(pg_server, db)
    error = attack(pg_server, db, role_passwords, ON_CONFLICT_ATTACKS[kind])
    assert error is not None and MARK not in str(error) and "u2" not in str(error)
    # Refused before ON CONFLICT reaches the row: a bare unique violation (the trigger),
    # or, for ids, the app may not choose one at all (identity, column privileges).
    assert isinstance(error, psycopg.errors.UniqueViolation | psycopg.errors.GeneratedAlways)
    assert error.diag.message_detail is None or "identity" in error.diag.message_detail


@pytest.mark.parametrize("kind", ON_CONFLICT_ATTACKS)
def test_control_before_0005_on_conflict_reached_the_other_tenants_row(
    pg_server: PostgresServer, old_db: str, role_passwords: dict[str, str], kind: str
) -> None:
    """Without 0005, ON CONFLICT finds the other tenant's row and takes it to the update.

    On PostgreSQL 15.20 (Debian 12 today) the row-level-security check of that row
    runs before the DO UPDATE ... WHERE, so the WHERE never sees it; the hostile
    review's leak needs a server that evaluates the WHERE first. 0005 stops the
    statement before ON CONFLICT looks at the row, whatever the server's order.
    """
    seeded(pg_server, old_db)
    error = attack(pg_server, old_db, role_passwords, ON_CONFLICT_ATTACKS[kind])
    assert isinstance(error, psycopg.errors.InsufficientPrivilege), error
    assert "row-level security policy (USING expression)" in str(error)


def test_the_service_role_and_the_app_upsert_their_own_rows_as_before(
    pg_server: PostgresServer, db: str, role_passwords: dict[str, str]
) -> None:
    seeded(pg_server, db)
    own = (
        "INSERT INTO sessions (id, user_id, problem_statement) VALUES ('s1', 'u1', 'x')"
        " ON CONFLICT (id) DO UPDATE SET phase = 'debate'"
    )
    assert attack(pg_server, db, role_passwords, own) is None
    with connect_as(pg_server, db, "bo1_service", role_passwords) as service:
        service.execute(
            "INSERT INTO users (id, email, auth_provider) VALUES ('u2', 'new@x.io', 'email')"
            " ON CONFLICT (id) DO UPDATE SET email = EXCLUDED.email"
        )
        assert service.execute("SELECT email FROM users WHERE id = 'u2'").fetchone() == (
            "new@x.io",
        )


# 6. the migration lock, and columns the server owns --------------------------------------


def test_the_app_cannot_take_the_migration_lock(
    pg_server: PostgresServer, db: str, role_passwords: dict[str, str]
) -> None:
    error = attack(pg_server, db, role_passwords, f"SELECT pg_advisory_lock({MIGRATION_LOCK_KEY})")
    assert isinstance(error, psycopg.errors.InsufficientPrivilege), error


def test_control_before_0005_the_app_could_stall_migrations(
    pg_server: PostgresServer, old_db: str, role_passwords: dict[str, str]
) -> None:
    with connect_as(pg_server, old_db, APP_ROLE, role_passwords) as app:
        app.execute("SELECT pg_advisory_lock(%s)", [MIGRATION_LOCK_KEY])
        stalled = run_cli("migrate", "up", "--lock-timeout", "1", env=pg_server.libpq_env(old_db))
        assert_one_line_error(stalled, "timed out", "migration lock")


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE users SET subscription_tier = 'enterprise' WHERE id = 'u1'",
        "INSERT INTO audit_log (user_id, action, \"timestamp\") VALUES ('u1', 'x', '2001-01-01')",
        "UPDATE sessions SET created_at = '2001-01-01' WHERE id = 's1'",
        "INSERT INTO votes (id, session_id, persona_code, vote_choice) VALUES (99, 's1', 'cfo', 'y')",
    ],
)
def test_the_app_cannot_set_server_owned_columns(
    pg_server: PostgresServer, db: str, role_passwords: dict[str, str], statement: str
) -> None:
    seeded(pg_server, db)
    error = attack(pg_server, db, role_passwords, statement)
    refused = psycopg.errors.InsufficientPrivilege | psycopg.errors.GeneratedAlways
    assert isinstance(error, refused), error


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE users SET subscription_tier = 'enterprise' WHERE id = 'u1'",
        "INSERT INTO audit_log (user_id, action, \"timestamp\") VALUES ('u1', 'x', '2001-01-01')",
    ],
)
def test_control_before_0005_the_app_set_them(
    pg_server: PostgresServer, old_db: str, role_passwords: dict[str, str], statement: str
) -> None:
    seeded(pg_server, old_db)
    assert attack(pg_server, old_db, role_passwords, statement) is None


def test_the_app_still_writes_its_own_columns(
    pg_server: PostgresServer, db: str, role_passwords: dict[str, str]
) -> None:
    seeded(pg_server, db)
    writes = (
        "INSERT INTO audit_log (user_id, action, details) VALUES ('u1', 'login', '{}');"
        " UPDATE users SET email = 'u1-new@x.io', gdpr_consent_at = now() WHERE id = 'u1';"
        " INSERT INTO contributions (session_id, persona_code, content, round_number)"
        " VALUES ('s1', 'cfo', 'more', 2);"
        " UPDATE sessions SET status = 'completed', total_cost = 1.5 WHERE id = 's1'"
    )
    assert attack(pg_server, db, role_passwords, writes) is None


# 7. side channels ---------------------------------------------------------------------------

SIDE_CHANNELS = {
    "per-index counters": (
        "SELECT pg_stat_get_xact_tuples_returned('idx_sessions_user_id'::regclass)"
    ),
    "per-table counters": "SELECT n_tup_ins FROM pg_stat_user_tables",
    "other sessions' queries": "SELECT query FROM pg_stat_activity",
    "sequence positions": "SELECT last_value FROM pg_sequences WHERE last_value IS NOT NULL",
}


@pytest.mark.parametrize("kind", SIDE_CHANNELS)
def test_statistics_side_channels_are_closed(
    pg_server: PostgresServer, db: str, role_passwords: dict[str, str], kind: str
) -> None:
    seeded(pg_server, db)
    with connect_as(pg_server, db, APP_ROLE, role_passwords) as app:
        try:
            rows = app.execute(SIDE_CHANNELS[kind]).fetchall()
        except psycopg.errors.InsufficientPrivilege:
            return
    assert rows == [], rows  # pg_sequences hides last_value of sequences the app may not use


def test_monitoring_keeps_the_statistics(
    pg_server: PostgresServer, db: str, role_passwords: dict[str, str]
) -> None:
    with psycopg.connect(pg_server.dsn(db), autocommit=True) as su:
        su.execute("GRANT pg_read_all_stats TO bo1_service")
    try:
        with connect_as(pg_server, db, "bo1_service", role_passwords) as monitor:
            assert monitor.execute("SELECT count(*) FROM pg_stat_user_tables").fetchone()
            assert monitor.execute("SELECT count(*) FROM pg_stat_activity").fetchone()
    finally:
        with psycopg.connect(pg_server.dsn(db), autocommit=True) as su:
            su.execute("REVOKE pg_read_all_stats FROM bo1_service")


# 8. session state on a reused connection (what carries over; SECURITY.md) ------------------


def test_what_a_reused_connection_carries_into_the_next_transaction(
    pg_server: PostgresServer, db: str, role_passwords: dict[str, str]
) -> None:
    seeded(pg_server, db)
    with connect_as(pg_server, db, APP_ROLE, role_passwords) as app:
        with tenant_transaction(app, "u1"):
            app.execute("CREATE TEMP TABLE scratch AS SELECT problem_statement FROM sessions")
            app.execute("DECLARE held CURSOR WITH HOLD FOR SELECT id FROM sessions")
            app.execute("PREPARE mine AS SELECT count(*) FROM sessions")
        # Next transaction, no tenant: the tenant is gone, but a temp table and a WITH HOLD
        # cursor made under it still hold its rows.
        assert app.execute("SELECT count(*) FROM sessions").fetchone() == (0,)
        assert app.execute("SELECT * FROM scratch").fetchall() == [("mine-u1",)]
        assert app.execute("FETCH ALL FROM held").fetchall() == [("s1",)]
        assert app.execute("EXECUTE mine").fetchone() == (0,)  # the statement, not the tenant
        # A session-level set_config (false) outlives every transaction: never use it.
        app.execute("SELECT set_config('app.current_user_id', 'u1', false)")
        assert app.execute("SELECT count(*) FROM sessions").fetchone() == (1,)
        app.execute("DISCARD ALL")  # what a pool must run before lending the connection on
        assert app.execute("SELECT count(*) FROM sessions").fetchone() == (0,)
        with pytest.raises(psycopg.errors.UndefinedTable):
            app.execute("SELECT * FROM scratch")


# What bo1_app can still do to availability (accepted and watched; SECURITY.md) ------------


def test_what_the_app_can_still_do_to_availability(
    pg_server: PostgresServer, db: str, role_passwords: dict[str, str]
) -> None:
    with connect_as(pg_server, db, APP_ROLE, role_passwords) as app:
        # A setting of its own role, for every later connection (verify reports it).
        app.execute(f"ALTER ROLE bo1_app IN DATABASE {db} SET work_mem = '64kB'")
        # A table lock that stalls every other writer until its transaction ends.
        with app.transaction():
            app.execute("LOCK TABLE sessions IN ACCESS EXCLUSIVE MODE")
    with psycopg.connect(pg_server.dsn(db), autocommit=True) as su:
        rows = su.execute(
            "SELECT count(*) FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole"
            " WHERE r.rolname = 'bo1_app'"
        ).fetchone()
        su.execute(f"ALTER ROLE bo1_app IN DATABASE {db} RESET ALL")
    assert rows == (1,)
