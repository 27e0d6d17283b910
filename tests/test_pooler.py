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

    @property
    def stats_password(self) -> str:
        return self.secrets["poolerStatsPassword"]

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
        "poolerStatsPassword": secrets.token_urlsafe(18),
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


def test_only_the_app_reaches_the_database_and_the_stats_user_only_shows(
    stack: Stack, pooler: Pooler
) -> None:
    """No superuser gets in at all (its verifier is not in the auth file); bo1_service
    neither; the app not to the console; the stats user only to the console, SHOW only."""
    superuser, service = stack.server.password, stack.secrets["postgresServicePassword"]
    for user, password, db in (
        (SUPERUSER, superuser, DATABASE),
        (SUPERUSER, superuser, config.CONSOLE_DATABASE),
        (SERVICE_ROLE, service, DATABASE),
        (APP_ROLE, stack.app_password, config.CONSOLE_DATABASE),
        (config.STATS_USER, stack.stats_password, DATABASE),
    ):
        with pytest.raises(psycopg.OperationalError):
            psycopg.connect(pooler.dsn(user, password, db), connect_timeout=5).close()
    state = console.read((pooler.host, pooler.port), DATABASE, stack.stats_password)
    assert state.pool_mode == "transaction" and state.reset_always
    assert state.default_pool_size == stack.pool.default_pool_size
    assert state.max_client_conn == stack.pool.max_client_conn
    stats = f"{pooler.dsn(config.STATS_USER, stack.stats_password, config.CONSOLE_DATABASE)}"
    with psycopg.connect(stats, autocommit=True) as conn:
        for command in (b"PAUSE", b"SHUTDOWN", b"RELOAD", f"KILL {DATABASE}".encode()):
            with pytest.raises(psycopg.Error, match="admin access needed"):
                psycopg.ClientCursor(conn).execute(command)


def test_the_healthcheck_command_answers_without_a_password(pooler: Pooler) -> None:
    from infra.specs import pooler as pooler_spec

    argv = list(pooler_spec.healthcheck(pooler.port).test[1:])
    argv[0] = str(PG_BINDIR / "pg_isready")
    assert subprocess.run(argv, capture_output=True).returncode == 0


def test_a_thousand_clients_against_max_connections_100(stack: Stack, pooler: Pooler) -> None:
    """1,000 concurrent client connections, each running a tenant transaction held open a
    moment: no errors, and Postgres never sees more than the pool plus its reserve."""
    clients, errors, opened = 1000, [], []
    lock, go, done = threading.Lock(), threading.Event(), threading.Event()
    peak = [0]

    def client(n: int) -> None:
        try:
            conn = app(pooler, stack.app_password)
            with lock:
                opened.append(conn)
            go.wait(120)
            tenant = f"user-{1 + n % TENANTS}"
            with conn.transaction():
                conn.execute("SELECT set_config('app.current_user_id', %s, true)", [tenant])
                conn.execute("SELECT pg_sleep(0.05)")
                rows = {r[0] for r in conn.execute("SELECT user_id FROM sessions")}
            assert rows == {tenant}
        except Exception as exc:  # every failure is counted, none is lost
            with lock:
                errors.append(repr(exc))

    def watch() -> None:
        with psycopg.connect(stack.server.dsn(), autocommit=True) as admin:
            while not done.is_set():
                row = admin.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE usename = %s", [APP_ROLE]
                ).fetchone()
                peak[0] = max(peak[0], row[0] if row else 0)
                time.sleep(0.02)

    watcher = threading.Thread(target=watch)
    watcher.start()

    threads = [threading.Thread(target=client, args=(n,)) for n in range(clients)]
    for t in threads:
        t.start()
    deadline = time.monotonic() + 180
    while len(opened) + len(errors) < clients and time.monotonic() < deadline:
        time.sleep(0.1)
    held = len(opened)
    go.set()
    for t in threads:
        t.join(120)
    done.set()
    watcher.join(30)
    for conn in opened:
        conn.close()
    assert errors == [] and held == clients
    # the transactions overlapped (each sleeps), so the pool was full, and never more
    assert stack.pool.default_pool_size <= peak[0] <= stack.pool.server_connections, peak


def _interleave(pooler: Pooler, password: str) -> tuple[list[tuple[str, set[str]]], list[str]]:
    """24 clients, 125 transactions each, over the pooler: 70% as a random tenant, 20%
    naming no tenant (must see nothing), 10% a careless session-level set_config of the
    client's tenant (which a pooler without a reset hands to whoever comes next)."""
    import random

    seen: list[tuple[str, set[str]]] = []
    errors: list[str] = []
    lock = threading.Lock()

    def worker(seed: int) -> None:
        rng = random.Random(seed)
        try:
            with app(pooler, password) as conn:
                for _ in range(125):
                    tenant, roll = f"user-{rng.randint(1, TENANTS)}", rng.random()
                    if roll < 0.1:
                        conn.execute("SELECT set_config('app.current_user_id', %s, false)",
                                     [tenant])  # fmt: skip
                        conn.commit()
                        continue
                    if roll < 0.3:
                        with conn.transaction():
                            rows = {r[0] for r in conn.execute("SELECT user_id FROM sessions")}
                        tenant = ""
                    else:
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
    return seen, errors


@pytest.mark.parametrize("stock", [False, True], ids=["stack", "stock"])
def test_interleaved_tenants_over_three_server_connections(
    stack: Stack, scratch_root: Path, stock: bool
) -> None:
    """Every transaction sees its own tenant's rows, or none without a tenant; a stock
    pooler, with no reset, lets the careless session-level tenants through."""
    small = config.Pool(default_pool_size=3, reserve_pool_size=0)
    with running_pgbouncer(
        scratch_root / f"pooler-bleed-{stock}", stack.server, stack.auth_file(),
        database=DATABASE, pool=small, stock=stock,
    ) as narrow:  # fmt: skip
        seen, errors = _interleave(narrow, stack.app_password)
    assert errors == []
    assert len(seen) > 2000 and sum(t == "" for t, _ in seen) > 300
    bled = [(t, rows) for t, rows in seen if rows != ({t} if t else set())]
    if stock:
        assert bled, "a pooler without a reset leaked nothing: the probe has no teeth"
    else:
        assert bled == []


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


def test_the_app_role_can_become_no_other_role(stack: Stack) -> None:
    """Why the reset's SET SESSION AUTHORIZATION DEFAULT is belt and braces: no SET ROLE."""
    with psycopg.connect(stack.server.dsn(DATABASE), autocommit=True) as admin:
        member_of = admin.execute(
            "SELECT count(*) FROM pg_auth_members m JOIN pg_roles r ON r.oid = m.member"
            " WHERE r.rolname = %s",
            [APP_ROLE],
        ).fetchone()
    assert member_of == (0,)


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
