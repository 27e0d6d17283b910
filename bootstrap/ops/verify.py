"""``bo1-infra verify``: the data layer's validation list as one command, one table, one exit code.

Postgres is checked as the superuser (PG* / --dsn), PgBouncer through its console
as its stats user ($BO1_POOLER_STATS_PASSWORD), and Redis as bo1_ops
(REDIS_URL / --redis-url), against the settings of the stack's own file
(``Pulumi.<stack>.yaml``). The application's own credentials are read from the
env file bootstrap wrote, so verify proves what the app will actually use.
"""

from __future__ import annotations

import argparse
import os
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import psycopg
import redis

from bootstrap.appenv import env_file
from bootstrap.backup import archiving, last_drill
from bootstrap.errors import Bo1Error, ConnectionFailed, UsageError
from bootstrap.ha import leader
from bootstrap.migrate.files import discover, resolve_dir
from bootstrap.migrate.runner import Migrator
from bootstrap.ops.bootstrap import env_file_path
from bootstrap.pooler import console
from bootstrap.postgres.connect import conn_params, connect, connect_superuser, targets
from bootstrap.postgres.tenancy import APP_ROLE, POLICIES, SERVICE_ROLE
from bootstrap.redisdb import connect as redis_connect
from bootstrap.redisdb.keys import FAMILIES
from bootstrap.redisdb.releases import MODULE_NAMES
from bootstrap.redisdb.sizes import redis_bytes
from bootstrap.remote.reach import address_of, reach, url_at
from bootstrap.stack import stack_settings

if TYPE_CHECKING:
    from infra.settings import StackSettings

TABLES = {
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
    "idx_sessions_user_id", "idx_sessions_status", "idx_sessions_created_at",
    "idx_contributions_session_id", "idx_contributions_round_number", "idx_votes_session_id",
    "idx_audit_log_user_id", "idx_audit_log_timestamp", "idx_audit_log_resource",
}  # fmt: skip
PERSONAS = 45


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str


def _one(conn: psycopg.Connection, query: str, params: list[object] | None = None) -> object:
    row = conn.execute(query, params).fetchone()
    return row[0] if row else None


def postgres_checks(conn: psycopg.Connection, migrations_dir: str | None) -> list[Check]:
    tables = {
        r[0]
        for r in conn.execute(
            "SELECT table_name FROM information_schema.tables"
            " WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
        )
    }
    indexes = {
        r[0] for r in conn.execute("SELECT indexname FROM pg_indexes WHERE schemaname = 'public'")
    }
    missing_idx = sorted(NAMED_INDEXES - indexes)
    policies = {
        (r[0], r[1]): (r[2], r[3])
        for r in conn.execute(
            "SELECT c.relname, p.polname, c.relrowsecurity, c.relforcerowsecurity"
            " FROM pg_policy p JOIN pg_class c ON c.oid = p.polrelid"
        )
    }
    wrong = [f"{t}.{p}" for t, p in POLICIES.items() if policies.get((t, p)) != (True, True)]
    personas = _one(conn, "SELECT count(*) FROM personas WHERE is_active")
    vector = _one(conn, "SELECT extversion FROM pg_extension WHERE extname = 'vector'")
    rows = Migrator(conn, discover(resolve_dir(migrations_dir)), say=lambda _: None).status()
    behind = [f"{r.version}:{r.state}" for r in rows if r.state != "applied"]
    return [
        Check(
            "tables", tables == TABLES, f"{len(tables)} of {len(TABLES)}" + _diff(TABLES, tables)
        ),
        Check(
            "indexes",
            not missing_idx and len(indexes) >= 18,
            f"{len(indexes)} (>= 18), the 9 named "
            + (f"missing {', '.join(missing_idx)}" if missing_idx else "present"),
        ),
        Check(
            "row-level security",
            not wrong,
            f"{len(POLICIES)} policies enabled and forced"
            if not wrong
            else f"not enforced: {', '.join(wrong)}",
        ),
        Check("personas", personas == PERSONAS, f"{personas} active (want {PERSONAS})"),
        Check(
            "pgvector", vector is not None, f"vector {vector}" if vector else "extension missing"
        ),
        Check(
            "migrations",
            not behind,
            "all applied" if not behind else f"not applied: {', '.join(behind)}",
        ),
        role_settings_check(conn),
    ]


def role_settings_check(conn: psycopg.Connection) -> Check:
    """No login role carries settings of its own: bo1_app may ALTER ROLE itself SET ...
    (a search_path, a statement_timeout of 0), which would then apply to every new
    connection of the app. Nothing of bo1-infra sets any."""
    rows = conn.execute(
        "SELECT r.rolname, array_to_string(s.setconfig, ', ') FROM pg_db_role_setting s"
        " JOIN pg_roles r ON r.oid = s.setrole WHERE r.rolname = ANY(%s) ORDER BY 1",
        [[APP_ROLE, SERVICE_ROLE]],
    ).fetchall()
    found = "; ".join(f"{role}: {settings}" for role, settings in rows)
    return Check("role settings", not rows, found or "none on bo1_app or bo1_service")


def _diff(want: set[str], have: set[str]) -> str:
    missing, extra = sorted(want - have), sorted(have - want)
    return (f"; missing {', '.join(missing)}" if missing else "") + (
        f"; extra {', '.join(extra)}" if extra else ""
    )


def redis_checks(ops: redis.Redis, settings: StackSettings) -> list[Check]:
    """The live server against the stack's own settings, never against constants."""
    config = {
        k: v
        for k, v in ops.config_get("*").items()
        if k in ("appendonly", "maxmemory", "maxmemory-policy")
    }
    appendonly = "yes" if settings.redis_appendonly else "no"
    maxmemory = str(redis_bytes(settings.redis_maxmemory))
    policy = settings.redis_maxmemory_policy
    return [
        Check(
            "redis appendonly",
            config.get("appendonly") == appendonly,
            f"appendonly {config.get('appendonly')} (want {appendonly})",
        ),
        Check(
            "redis maxmemory",
            config.get("maxmemory") == maxmemory,
            f"{config.get('maxmemory')} bytes (want {maxmemory}: {settings.redis_maxmemory})",
        ),
        Check(
            "redis eviction",
            config.get("maxmemory-policy") == policy,
            f"maxmemory-policy {config.get('maxmemory-policy')} (want {policy})",
        ),
    ]


def anonymous_redis_check(ops_url: str) -> Check:
    """Nobody gets in without a password: the app's `default` user has one."""
    parts = urlsplit(ops_url)
    anonymous = redis.Redis(
        host=parts.hostname or "127.0.0.1", port=parts.port or 6379, socket_timeout=5
    )
    try:
        with anonymous:
            anonymous.get("session:bo1-verify")
    except redis.AuthenticationError:
        return Check("redis anonymous access", True, "refused without a password")
    except redis.ResponseError as exc:
        refused = "NOAUTH" in str(exc) or "NOPERM" in str(exc)
        return Check("redis anonymous access", refused, str(exc))
    return Check("redis anonymous access", False, "an anonymous GET was allowed")


def modules_check(ops: redis.Redis, settings: StackSettings) -> Check:
    """JSON and Search where the stack's line has them; else say what that costs."""
    loaded = {str(m.get("name")) for m in ops.module_list()}
    name = "redis modules"
    if not settings.redis_modules:
        return Check(
            name,
            True,
            f"none on line {settings.redis_line}: LangGraph checkpoints unavailable on this stack",
        )
    missing = sorted(MODULE_NAMES - loaded)
    detail = f"{', '.join(sorted(loaded)) or 'none'} loaded (line {settings.redis_line})"
    return Check(name, not missing, detail + (f"; missing {', '.join(missing)}" if missing else ""))


def app_checks(database_url: str, redis_url: str) -> list[Check]:
    return [_app_postgres(database_url), _app_redis(redis_url)]


def _app_postgres(database_url: str) -> Check:
    name = "app role login + RLS"
    if not database_url:  # an empty DSN would silently mean "whatever PG* says"
        return Check(name, False, "DATABASE_URL is missing from the env file")
    try:
        with connect(database_url) as app:
            who = _one(app, "SELECT current_user")
            bypass = _one(
                app, "SELECT rolbypassrls OR rolsuper FROM pg_roles WHERE rolname = current_user"
            )
            active = _one(app, "SELECT row_security_active('sessions')")
            visible = _one(app, "SELECT count(*) FROM sessions")  # no tenant set: must be 0
    except Bo1Error as exc:
        return Check(name, False, exc.message)
    ok = who == APP_ROLE and bypass is False and active is True and visible == 0
    return Check(
        name,
        ok,
        f"logged in as {who}; bypasses RLS: {bypass}; RLS active: {active};"
        f" rows without a tenant: {visible}",
    )


def _app_redis(redis_url: str) -> Check:
    name = "redis app user confined"
    if not redis_url:
        return Check(name, False, "REDIS_URL is missing from the env file")
    probe = f"{FAMILIES[0].prefix}bo1-verify-{secrets.token_hex(4)}"
    try:
        app = redis_connect.connect(redis_url)
    except Bo1Error as exc:
        return Check(name, False, exc.message)
    refused = []
    with app:
        inside = bool(app.set(probe, "1", ex=10)) and app.delete(probe) == 1
        for attempt in (
            lambda: app.set("bo1-verify-outside", "1"),
            app.flushall,
            lambda: app.config_get("maxmemory"),
        ):
            refused.append(_refused(attempt))
    ok = inside and all(refused)
    return Check(
        name,
        ok,
        f"own pattern writable: {inside}; outside key, FLUSHALL, CONFIG refused: {all(refused)}",
    )


def pooler_check(
    at: tuple[str, int], database: str, published: tuple[str, int], name: str = "pooler"
) -> Check:
    """Reachable, transaction mode, session state reset; the pools' use right now."""
    try:
        state = console.read(at, database)
    except Bo1Error as exc:
        return Check(name, False, f"{published[0]}:{published[1]}: {exc.message}")
    ok = state.pool_mode == "transaction" and state.reset_always
    return Check(name, ok, f"PgBouncer {state.version.split()[-1]}: {state.summary()}")


def app_url_check(database_url: str, poolers: list[tuple[str, int]]) -> Check:
    """The env file sends the app through the pooler(s), never straight to Postgres."""
    try:
        at = targets(database_url, {}) if database_url else []
    except UsageError as exc:
        at, where = [], exc.message
    else:
        where = ", ".join(f"{h}:{p}" for h, p in at) or "missing"
    return Check(
        "app through pooler",
        sorted(at) == sorted(poolers),
        f"DATABASE_URL points at {where}; the pooler"
        f"{'s are' if len(poolers) > 1 else ' is'} {', '.join(f'{h}:{p}' for h, p in poolers)}",
    )


def _refused(attempt: Callable[[], object]) -> bool:
    try:
        attempt()
    except redis.exceptions.NoPermissionError:
        return True
    return False


def verify(args: argparse.Namespace) -> int:
    settings = stack_settings(args.stack)
    env = env_file.read(env_file_path(args))
    ops_url = redis_connect.resolve_url(args.redis_url)
    database_url = env.get("DATABASE_URL", "")
    app_redis_url = env.get("REDIS_URL", "") or leader.app_redis_url(env)
    where = leader.resolve(args.dsn, ops_url, args.docker_host, args.wait)
    # Every address as the Docker host publishes it; reach() says where to connect from here.
    pg_at, ops_at = where.postgres, address_of(where.redis_url, 6379)
    poolers = where.poolers(console.port(args))
    apps = {url: port for url, port in ((database_url, 5432), (app_redis_url, 6379)) if url}
    app_at = [] if where.ha else [address_of(url, port) for url, port in apps.items()]
    with reach(args.docker_host, [pg_at, ops_at, *poolers, *app_at]) as here:
        checks = _checks(args, settings, here[pg_at], url_at(where.redis_url, here[ops_at]))
        database = conn_params(args.dsn).get("dbname") or os.environ.get("PGDATABASE")
        database = database or settings.postgres_database
        for at in poolers:
            name = f"pooler {at[0]}" if where.ha else "pooler"
            checks.append(pooler_check(here[at], database, at, name))
        checks.append(app_url_check(database_url, poolers))
        # ha: the app's own multi-host and Sentinel URLs, as it uses them (no tunnel there)
        reached = {
            url: url if where.ha else url_at(url, here[address_of(url, port)])
            for url, port in apps.items()
        }
        checks += app_checks(reached.get(database_url, ""), reached.get(app_redis_url, ""))
    print(render_table(checks))
    return 1 if any(not c.ok for c in checks) else 0


def _checks(
    args: argparse.Namespace, settings: StackSettings, pg_at: tuple[str, int], ops_url: str
) -> list[Check]:
    with connect_superuser(args.dsn, wait=args.wait, at=pg_at) as conn:
        checks = postgres_checks(conn, args.migrations_dir)
        ha = settings.topology == "ha"
        drill = last_drill.check(last_drill.newest(conn), settings.backups, ha)
        checks.append(Check("backup drill", *drill))
        checks.append(
            Check("WAL archiving", *archiving.check(archiving.read(conn), settings.backups))
        )
    with redis_connect.connect(ops_url, wait=args.wait) as ops:
        try:
            checks += redis_checks(ops, settings)
            checks.append(modules_check(ops, settings))
        except redis.exceptions.NoPermissionError as exc:
            raise ConnectionFailed(
                f"the Redis user cannot read the config ({exc}); use bo1_ops"
            ) from None
    checks.append(anonymous_redis_check(ops_url))
    return checks


def render_table(checks: list[Check]) -> str:
    width = max(len(c.name) for c in checks)
    lines = [f"{'check':<{width}}  result  detail"]
    lines += [f"{c.name:<{width}}  {'ok' if c.ok else 'FAIL':<6}  {c.detail}" for c in checks]
    failed = [c.name for c in checks if not c.ok]
    lines.append(
        f"{len(checks) - len(failed)} of {len(checks)} checks passed"
        + (f"; failed: {', '.join(failed)}" if failed else ".")
    )
    return "\n".join(lines)
