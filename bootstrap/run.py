"""``bo1-infra bootstrap``: from two healthy containers to a ready, configured data layer.

Steps, each idempotent: wait for Postgres and Redis; apply migrations; seed the
personas; give the roles their passwords; write the app's env file. Inputs
come from the environment (the Pulumi hook sets them): PG* for the server,
REDIS_URL for Redis as bo1_ops, and the catalogue's BO1_* secrets. Nothing
this command prints contains a secret.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from urllib.parse import urlsplit

import psycopg

from bootstrap import app_env, pg, redis_conn, roles, scram, secret_catalogue, secret_inputs
from bootstrap.env_file import write_secret_file
from bootstrap.errors import AuthenticationFailed, UsageError
from bootstrap.migrate.files import discover, resolve_dir
from bootstrap.migrate.runner import Migrator
from bootstrap.personas import catalogue as persona_catalogue
from bootstrap.personas import seed

ENV_DIR = Path(__file__).resolve().parents[1] / "secrets"


def env_file_path(args: argparse.Namespace) -> Path:
    return Path(args.env_file) if args.env_file else ENV_DIR / f".env.{args.stack}"


def app_settings(raw: str) -> dict[str, str]:
    """BO1_APP_SETTINGS: a JSON object of plain app settings (stack config appSettings)."""
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise UsageError(f"BO1_APP_SETTINGS is not valid JSON: {exc.msg}") from None
    if not isinstance(data, dict):
        raise UsageError("BO1_APP_SETTINGS must be a JSON object of NAME: value")
    settings = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}
    app_env.check_overrides(settings)
    return settings


def superuser_login(dsn: str, password: str | None) -> dict[str, str]:
    """libpq overrides for the superuser: the stack's password when given, and the
    user `postgres` unless --dsn or PGUSER names one (libpq would take the OS user)."""
    login = {"password": password} if password else {}
    if "user" not in pg.conn_params(dsn) and not os.environ.get("PGUSER"):
        login["user"] = roles.SUPERUSER
    return login


def connect_as_superuser(dsn: str, wait: float) -> psycopg.Connection:
    """For verify and status: BO1_POSTGRES_SUPERUSER_PASSWORD if set, else PGPASSWORD / --dsn."""
    login = superuser_login(dsn, os.environ.get("BO1_POSTGRES_SUPERUSER_PASSWORD"))
    return pg.connect(dsn, wait=wait, overrides=login)


def connect_superuser(dsn: str, password: str, wait: float) -> psycopg.Connection:
    """The superuser, with the stack's current password; re-keyed over the socket if rotated."""
    login = superuser_login(dsn, password)
    try:
        return pg.connect(dsn, wait=wait, overrides=login)
    except AuthenticationFailed:
        local_psql = os.environ.get("BO1_POSTGRES_LOCAL_PSQL", "")
        if not local_psql:
            raise
    # The volume was initialized with an older password: set the new one locally, then retry.
    roles.rekey_superuser_locally(local_psql, password)
    print("Postgres superuser: password re-keyed over the local socket")
    return pg.connect(dsn, wait=0, overrides=login)


def bootstrap(args: argparse.Namespace) -> int:
    # Validate every input before touching either service.
    catalogue = secret_catalogue.load()
    secrets = secret_inputs.read(catalogue, os.environ)
    for role, key in roles.ROLE_SECRETS.items():
        scram.check_password(secrets[key], f"{catalogue.by_key(key).env} (password of {role})")
    overrides = app_settings(os.environ.get("BO1_APP_SETTINGS", ""))
    redis_url = redis_conn.resolve_url(args.redis_url)
    migrations = discover(resolve_dir(args.migrations_dir))
    personas = persona_catalogue.load(
        Path(args.personas_file) if args.personas_file else persona_catalogue.DEFAULT_FILE
    )

    conn = connect_superuser(args.dsn, secrets["postgresSuperuserPassword"], args.wait)
    redis_conn.connect(redis_url, wait=args.wait).close()
    changes = 0
    with conn:
        applied = Migrator(conn, migrations, say=lambda line: print(f"  {line}")).up()
        version = max((m.version for m in migrations), default=0)
        print(f"Migrations: {len(applied)} applied; database at version {version}.")
        plan = seed.apply(conn, personas)
        print(plan.summary())
        states = roles.sync_passwords(
            conn, {role: secrets[key] for role, key in roles.ROLE_SECRETS.items()}
        )
        print(
            "Role passwords: "
            + ", ".join(f"{role} {state}" for role, state in states.items())
            + "."
        )
        redis_at = urlsplit(redis_url)
        endpoints = app_env.Endpoints(
            postgres_host=_tcp_host(conn.info.host),
            postgres_port=conn.info.port,
            database=conn.info.dbname,
            redis_host=redis_at.hostname or "127.0.0.1",
            redis_port=redis_at.port or 6379,
        )
    changes += len(applied) + plan.changes + sum(s == "set" for s in states.values())
    path = env_file_path(args)
    text = app_env.env_file_text(
        args.stack, app_env.render(args.stack, secrets, endpoints, overrides)
    )
    written = write_secret_file(path, text)
    changes += written
    print(f"App env file {path}: {'written' if written else 'unchanged'} (mode 0600).")
    verdict = f"{changes} change(s)" if changes else "nothing changed"
    print(f"Bootstrap of stack {args.stack}: done, {verdict}.")
    return 0


def _tcp_host(host: str) -> str:
    # A socket directory is no address for the app; it reaches the published port.
    return "127.0.0.1" if host.startswith("/") else host
