"""PgBouncer as the stack renders it, on Debian's pgbouncer in front of a real PostgreSQL 15.

The auth file is the program's own rendering (infra/specs/pooler.py) and the role
verifiers are set by bootstrap's own code (roles.sync_passwords), so these tests
prove that the two meet byte for byte: SCRAM pass-through works only then.
"""

from __future__ import annotations

import secrets
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from bootstrap.migrate.files import discover
from bootstrap.migrate.runner import Migrator
from bootstrap.paths import MIGRATIONS_DIR
from bootstrap.pooler import config, console
from bootstrap.postgres import roles
from bootstrap.postgres.tenancy import APP_ROLE, SERVICE_ROLE, SUPERUSER
from infra.settings import from_config
from infra.specs import postgres_server
from tests.support.pooler import (
    Pooler,
    TenantLoad,
    app,
    restart,
    running_pgbouncer,
    stack_auth_file,
    stop,
    tenant_rows,
)
from tests.support.postgres_server import PG_BINDIR, PostgresServer, running_postgres
from tests.support.pulumi_harness import stack_config

DATABASE = "bo1"
TENANTS = 50


@dataclass(frozen=True)
class Stack:
    server: PostgresServer
    secrets: dict[str, str]  # catalogue key -> value
    pool: config.Pool

    @property
    def app_password(self) -> str:
        return self.secrets["postgresAppPassword"]

    def auth_file(self) -> str:
        return stack_auth_file(self.secrets)


def _prepare(server: PostgresServer, values: dict[str, str]) -> None:
    """The database bootstrap leaves: migrated, tenants with rows, the shared verifiers."""
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    with psycopg.connect(server.dsn(DATABASE), autocommit=True) as conn:
        Migrator(conn, discover(MIGRATIONS_DIR), say=lambda _: None).up()
        conn.execute(
            "INSERT INTO users (id, email, auth_provider) SELECT 'user-' || i,"
            " 'u' || i || '@example.com', 'email' FROM generate_series(1, %s) i",
            [TENANTS],
        )
        conn.execute(
            "INSERT INTO sessions (id, user_id, problem_statement) SELECT 's-' || i,"
            " 'user-' || (1 + i %% %s), 'p' FROM generate_series(1, %s) i",
            [TENANTS, TENANTS * 4],
        )
        passwords = {role: values[key] for role, key in roles.ROLE_SECRETS.items()}
        roles.sync_passwords(conn, passwords, values[roles.SALT_KEY_SECRET])


def _secrets(server: PostgresServer) -> dict[str, str]:
    return {
        "postgresSuperuserPassword": server.password,
        "postgresAppPassword": secrets.token_urlsafe(18),
        "postgresServicePassword": secrets.token_urlsafe(18),
        "postgresScramSaltKey": secrets.token_urlsafe(36),
    }


@pytest.fixture(scope="module")
def stack(scratch_root: Path) -> Iterator[Stack]:
    settings = from_config("dev", stack_config("dev"))
    pg_settings = {"max_connections": str(settings.postgres_max_connections)}
    with running_postgres(
        scratch_root / "pooled-pg", settings=pg_settings, hba=postgres_server.render_hba()
    ) as server:
        values = _secrets(server)
        _prepare(server, values)
        yield Stack(server, values, settings.pool())


@pytest.fixture(scope="module")
def pooler(stack: Stack, scratch_root: Path) -> Iterator[Pooler]:
    with running_pgbouncer(
        scratch_root / "pooler", stack.server, stack.auth_file(), database=DATABASE,
        pool=stack.pool,
    ) as running:  # fmt: skip
        yield running


def test_the_app_logs_in_through_the_pooler_with_the_shared_verifier(
    stack: Stack, pooler: Pooler
) -> None:
    with app(pooler, stack.app_password, autocommit=True) as conn:
        assert conn.execute("SELECT current_user").fetchone() == (APP_ROLE,)
        assert tenant_rows(conn, "user-7") == {"user-7"}
    with pytest.raises(psycopg.OperationalError, match="authentication failed"):
        app(pooler, "not-the-password").close()


def test_pass_through_needs_the_same_bytes_a_random_salt_fails(
    stack: Stack, scratch_root: Path
) -> None:
    """The fact the design rests on: same password, another salt, and the server login fails.

    A pooler of its own, so no server connection opened earlier hides the failure.
    """
    with (
        psycopg.connect(stack.server.dsn(DATABASE), autocommit=True) as admin,
        running_pgbouncer(
            scratch_root / "pooler-salt", stack.server, stack.auth_file(), database=DATABASE,
            pool=stack.pool,
        ) as fresh,
    ):  # fmt: skip
        stored = admin.execute(
            "SELECT rolpassword FROM pg_authid WHERE rolname = %s", [APP_ROLE]
        ).fetchone()
        assert stored is not None
        try:
            # a plaintext ALTER: Postgres salts it at random
            admin.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(APP_ROLE), sql.Literal(stack.app_password)
                )
            )
            psycopg.connect(stack.server.dsn(DATABASE, APP_ROLE, stack.app_password)).close()
            with pytest.raises(psycopg.OperationalError), app(fresh, stack.app_password) as conn:
                conn.execute("SELECT 1")
        finally:
            admin.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(
                    sql.Identifier(APP_ROLE), sql.Literal(stored[0])
                )
            )
        time.sleep(stack.pool.server_login_retry_s + 0.2)  # the pooler's back-off after a failure
        with app(fresh, stack.app_password) as conn:
            assert conn.execute("SELECT current_user").fetchone() == (APP_ROLE,)


def test_the_auth_file_holds_verifiers_only(stack: Stack) -> None:
    text = stack.auth_file()
    for value in stack.secrets.values():
        assert value not in text
    assert [line.split()[0] for line in text.splitlines()] == [
        f'"{r}"' for r in config.auth_roles()
    ]


def test_only_the_app_reaches_the_database_and_only_the_superuser_the_console(
    stack: Stack, pooler: Pooler
) -> None:
    superuser = stack.server.password
    service = stack.secrets["postgresServicePassword"]
    for user, password in ((SUPERUSER, superuser), (SERVICE_ROLE, service)):
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(pooler.dsn(user, password), connect_timeout=5).close()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(
            pooler.dsn(APP_ROLE, stack.app_password, config.CONSOLE_DATABASE), connect_timeout=5
        ).close()
    state = console.read(
        stack.server.dsn("postgres", SUPERUSER, superuser), (pooler.host, pooler.port), DATABASE
    )
    assert state.pool_mode == "transaction"
    assert state.default_pool_size == stack.pool.default_pool_size
    assert state.max_client_conn == stack.pool.max_client_conn


def test_the_healthcheck_command_answers_without_a_password(pooler: Pooler) -> None:
    from infra.specs import pooler as pooler_spec

    argv = list(pooler_spec.healthcheck(pooler.port).test[1:])
    argv[0] = str(PG_BINDIR / "pg_isready")
    assert subprocess.run(argv, capture_output=True).returncode == 0


def test_a_thousand_clients_against_max_connections_100(stack: Stack, pooler: Pooler) -> None:
    """1,000 concurrent client connections, each running a tenant transaction: no errors."""
    clients, errors, opened = 1000, [], []
    lock, go = threading.Lock(), threading.Event()

    def client(n: int) -> None:
        try:
            conn = app(pooler, stack.app_password)
            with lock:
                opened.append(conn)
            go.wait(120)
            tenant = f"user-{1 + n % TENANTS}"
            assert tenant_rows(conn, tenant) == {tenant}
        except Exception as exc:  # every failure is counted, none is lost
            with lock:
                errors.append(repr(exc))

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 180
    while len(opened) + len(errors) < clients and time.monotonic() < deadline:
        time.sleep(0.1)
    held = len(opened)
    with psycopg.connect(stack.server.dsn(), autocommit=True) as admin:
        backends = admin.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE usename = %s", [APP_ROLE]
        ).fetchone()
    go.set()
    for t in threads:
        t.join(120)
    for conn in opened:
        conn.close()
    assert errors == [] and held == clients
    assert backends is not None and backends[0] <= stack.pool.server_connections


def test_interleaved_tenants_over_three_server_connections_see_only_their_own_rows(
    stack: Stack, scratch_root: Path
) -> None:
    """Thousands of transactions from random tenants, 24 clients sharing 3 server connections."""
    small = config.Pool(default_pool_size=3, reserve_pool_size=0)
    seen: list[tuple[str, set[str]]] = []
    errors: list[str] = []
    lock = threading.Lock()
    with running_pgbouncer(
        scratch_root / "pooler-bleed", stack.server, stack.auth_file(), database=DATABASE,
        pool=small,
    ) as narrow:  # fmt: skip

        def worker(seed: int) -> None:
            import random

            rng = random.Random(seed)
            try:
                with app(narrow, stack.app_password) as conn:
                    for _ in range(125):
                        tenant = f"user-{rng.randint(1, TENANTS)}"
                        rows = tenant_rows(conn, tenant)
                        with lock:
                            seen.append((tenant, rows))
            except Exception as exc:
                with lock:
                    errors.append(repr(exc))

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(24)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(300)
        state = console.read(stack.server.dsn("postgres"), (narrow.host, narrow.port), DATABASE)
    assert errors == []
    assert len(seen) == 24 * 125
    assert all(rows == {tenant} for tenant, rows in seen)
    assert state.servers_active + state.servers_idle <= 3


# What one client leaves in its session, and what the next client on the same server
# connection would find: the probe returns a value only when the state leaked.
SESSION_STATE = {
    "session-level set_config": (
        "SELECT set_config('app.current_user_id', 'user-1', false)",
        "SELECT count(*) FROM sessions",  # no tenant of its own: must see nothing
    ),
    "temp table": (
        "CREATE TEMP TABLE scratch AS SELECT 'user-1' AS secret",
        "SELECT count(*) FROM pg_class WHERE relname = 'scratch'"
        " AND relnamespace = pg_my_temp_schema()",
    ),
    "WITH HOLD cursor": (
        "DECLARE held CURSOR WITH HOLD FOR SELECT 1 FROM generate_series(1, 5)",
        "SELECT count(*) FROM pg_cursors WHERE name = 'held'",
    ),
    "prepared statement": (
        "PREPARE left_behind AS SELECT 1",
        "SELECT count(*) FROM pg_prepared_statements WHERE name = 'left_behind'",
    ),
    "LISTEN": ("LISTEN tenant_events", "SELECT count(*) FROM pg_listening_channels()"),
}


def _leaks(pooler: Pooler, password: str, create: str, probe: str) -> int:
    """One client creates the state outside any transaction block; the next one probes."""
    with app(pooler, password, autocommit=True) as first:
        first.execute(create)  # type: ignore[arg-type]
        pid = first.execute("SELECT pg_backend_pid()").fetchone()
    with app(pooler, password, autocommit=True) as second:
        # one server connection: the second client is on the first one's backend
        assert second.execute("SELECT pg_backend_pid()").fetchone() == pid
        row = second.execute(probe).fetchone()  # type: ignore[arg-type]
    assert row is not None
    return int(row[0])


def test_the_reset_runs_whole_as_the_app_role(stack: Stack) -> None:
    """PgBouncer ignores a failed reset, and one refused statement rolls it all back."""
    with psycopg.connect(
        stack.server.dsn(DATABASE, APP_ROLE, stack.app_password), autocommit=True
    ) as conn:
        conn.execute("SELECT set_config('app.current_user_id', 'user-1', false)")
        conn.execute(config.RESET_QUERY.encode())
        assert conn.execute("SELECT current_setting('app.current_user_id')").fetchone() == ("",)


def test_session_advisory_locks_are_refused_through_the_pooler(
    stack: Stack, pooler: Pooler
) -> None:
    with app(pooler, stack.app_password, autocommit=True) as conn:
        for lock in ("pg_advisory_lock(4242)", "pg_try_advisory_lock(4242)"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"SELECT {lock}".encode())


def test_server_side_prepared_statements_do_not_survive_a_transaction(
    stack: Stack, pooler: Pooler
) -> None:
    """What POOLING.md tells the app: psycopg 3's automatic prepare fails through the pooler."""
    with psycopg.connect(pooler.dsn(APP_ROLE, stack.app_password), prepare_threshold=0) as conn:
        conn.execute("SELECT 1")
        conn.commit()
        with pytest.raises(psycopg.errors.InvalidSqlStatementName, match="does not exist"):
            conn.execute("SELECT 1")


@pytest.mark.parametrize("state", sorted(SESSION_STATE))
def test_session_state_never_reaches_the_next_client(
    stack: Stack, scratch_root: Path, state: str
) -> None:
    create, probe = SESSION_STATE[state]
    one = config.Pool(default_pool_size=1, reserve_pool_size=0)
    with running_pgbouncer(
        scratch_root / f"pooler-state-{state.split()[0]}", stack.server, stack.auth_file(),
        database=DATABASE, pool=one,
    ) as single:  # fmt: skip
        assert _leaks(single, stack.app_password, create, probe) == 0


def test_a_stock_pooler_leaks_that_state_so_the_probes_can_fail(
    stack: Stack, scratch_root: Path
) -> None:
    """The same probes on a stock transaction pooler (no reset): every kind leaks."""
    one = config.Pool(default_pool_size=1, reserve_pool_size=0)
    with running_pgbouncer(
        scratch_root / "pooler-stock-leak", stack.server, stack.auth_file(), database=DATABASE,
        pool=one, stock=True,
    ) as stock:  # fmt: skip
        leaked = {
            name: _leaks(stock, stack.app_password, *SESSION_STATE[name]) for name in SESSION_STATE
        }
    assert all(count > 0 for count in leaked.values()), leaked


def test_a_pooler_restart_under_load_is_a_clean_error_and_clients_reconnect(
    stack: Stack, scratch_root: Path
) -> None:
    with running_pgbouncer(
        scratch_root / "pooler-restart", stack.server, stack.auth_file(), database=DATABASE,
        pool=stack.pool,
    ) as first:  # fmt: skip
        current = first
        try:
            with TenantLoad(first, stack.app_password) as load:
                load.first_commit_after(time.monotonic())
                restarted_at = time.monotonic()
                current = restart(first)  # the same files and port, as `docker restart`
                load.first_commit_after(restarted_at)
                time.sleep(0.5)
        finally:
            stop(current)
    assert load.committed_after(restarted_at) > 10
    assert load.errors, "the restart cut no client off: nothing was tested"
    # every error was a clean connection error a client can act on, nothing else
    assert {kind for _, kind in load.errors} == {"OperationalError"}


def test_a_postgres_restart_behind_the_pooler_heals_within_2_seconds(
    scratch_root: Path,
) -> None:
    """Postgres stopped and started again under load; the pooler is never restarted."""
    workdir = scratch_root / "restarted-pg"
    running = running_postgres(
        workdir, settings={"max_connections": "100"}, hba=postgres_server.render_hba()
    )
    server = running.__enter__()
    try:
        values = _secrets(server)
        _prepare(server, values)
        with (
            running_pgbouncer(
                scratch_root / "pooler-pg-restart", server, stack_auth_file(values),
                database=DATABASE,
            ) as pooler,
            TenantLoad(pooler, values["postgresAppPassword"]) as load,
        ):  # fmt: skip
            load.first_commit_after(time.monotonic())
            running.__exit__(None, None, None)  # fast shutdown: every backend goes
            running = running_postgres(
                workdir, restored=server, port=server.port, hba=postgres_server.render_hba()
            )
            running.__enter__()  # returns once Postgres accepts direct connections
            ready = time.monotonic()
            healed = load.first_commit_after(ready) - ready
            assert pooler.proc.poll() is None  # the same pooler process throughout
    finally:
        running.__exit__(None, None, None)
    assert load.errors, "the restart cut no client off: nothing was tested"
    assert healed <= 2.0, f"the pooler took {healed:.2f} s to serve again"
