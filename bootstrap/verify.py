"""``bo1-infra verify``: the data layer's validation list as one command, one table, one exit code.

Postgres is checked as the superuser (PG* / --dsn) and Redis as bo1_ops
(REDIS_URL / --redis-url). The application's own credentials are read from the
env file bootstrap wrote, so verify proves what the app will actually use.
"""

from __future__ import annotations

import argparse
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import psycopg
import redis

from bootstrap import pg, redis_conn
from bootstrap.errors import Bo1Error, ConnectionFailed
from bootstrap.migrate.files import discover, resolve_dir
from bootstrap.migrate.plan import status as migration_status
from bootstrap.migrate.runner import Migrator
from bootstrap.redis_keys import PATTERNS
from bootstrap.run import connect_as_superuser, env_file_path
from bootstrap.sizes import redis_bytes
from bootstrap.tenancy import APP_ROLE, POLICIES

TABLES = {
    "users",
    "personas",
    "sessions",
    "contributions",
    "votes",
    "audit_log",
    "schema_migrations",
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
    rows = migration_status(
        discover(resolve_dir(migrations_dir)), Migrator(conn, [], say=lambda _: None).applied()
    )
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
    ]


def _diff(want: set[str], have: set[str]) -> str:
    missing, extra = sorted(want - have), sorted(have - want)
    return (f"; missing {', '.join(missing)}" if missing else "") + (
        f"; extra {', '.join(extra)}" if extra else ""
    )


def redis_checks(ops: redis.Redis, maxmemory: str) -> list[Check]:
    config = {
        k: v
        for k, v in ops.config_get("*").items()
        if k in ("appendonly", "maxmemory", "maxmemory-policy")
    }
    want = str(redis_bytes(maxmemory))
    return [
        Check(
            "redis appendonly",
            config.get("appendonly") == "yes",
            f"appendonly {config.get('appendonly')}",
        ),
        Check(
            "redis maxmemory",
            config.get("maxmemory") == want,
            f"{config.get('maxmemory')} bytes (want {want})",
        ),
        Check(
            "redis eviction",
            config.get("maxmemory-policy") == "allkeys-lru",
            f"maxmemory-policy {config.get('maxmemory-policy')}",
        ),
    ]


def anonymous_redis_check(ops_url: str) -> Check:
    """Nobody gets in without a user and password: the default user is disabled."""
    parts = urlsplit(ops_url)
    anonymous = redis.Redis(
        host=parts.hostname or "127.0.0.1", port=parts.port or 6379, socket_timeout=5
    )
    try:
        with anonymous:
            anonymous.get("session:bo1-verify")
    except redis.AuthenticationError:
        return Check("redis default user", True, "anonymous access refused")
    except redis.ResponseError as exc:
        return Check("redis default user", "NOAUTH" in str(exc) or "NOPERM" in str(exc), str(exc))
    return Check("redis default user", False, "anonymous GET was allowed")


def app_checks(database_url: str, redis_url: str) -> list[Check]:
    return [_app_postgres(database_url), _app_redis(redis_url)]


def _app_postgres(database_url: str) -> Check:
    name = "app role login + RLS"
    if not database_url:  # an empty DSN would silently mean "whatever PG* says"
        return Check(name, False, "DATABASE_URL is missing from the env file")
    try:
        with pg.connect(database_url) as app:
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
    probe = f"{PATTERNS[-1].prefix}bo1-verify-{secrets.token_hex(4)}"
    try:
        app = redis_conn.connect(redis_url)
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


def _refused(attempt: Callable[[], object]) -> bool:
    try:
        attempt()
    except redis.exceptions.NoPermissionError:
        return True
    return False


def read_env_file(path: Path) -> dict[str, str]:
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise Bo1Error(
            f"cannot read the app env file {path}: {exc.strerror}; run `bo1-infra bootstrap` first"
        ) from None
    return dict(
        line.split("=", 1) for line in lines if line and not line.startswith("#") and "=" in line
    )


def verify(args: argparse.Namespace) -> int:
    env = read_env_file(env_file_path(args))
    conn = connect_as_superuser(args.dsn, args.wait)
    with conn:
        checks = postgres_checks(conn, args.migrations_dir)
    ops_url = redis_conn.resolve_url(args.redis_url)
    with redis_conn.connect(ops_url, wait=args.wait) as ops:
        try:
            checks += redis_checks(ops, args.redis_maxmemory)
        except redis.exceptions.NoPermissionError as exc:
            raise ConnectionFailed(
                f"the Redis user cannot read the config ({exc}); use bo1_ops"
            ) from None
    checks.append(anonymous_redis_check(ops_url))
    checks += app_checks(env.get("DATABASE_URL", ""), env.get("REDIS_URL", ""))
    width = max(len(c.name) for c in checks)
    print(f"{'check':<{width}}  result  detail")
    for c in checks:
        print(f"{c.name:<{width}}  {'ok' if c.ok else 'FAIL':<6}  {c.detail}")
    failed = [c.name for c in checks if not c.ok]
    print(
        f"{len(checks) - len(failed)} of {len(checks)} checks passed"
        + (f"; failed: {', '.join(failed)}" if failed else ".")
    )
    return 1 if failed else 0
