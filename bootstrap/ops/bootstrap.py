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
import sys
from pathlib import Path

import psycopg

from bootstrap import paths
from bootstrap.appenv import env_file
from bootstrap.appenv import model as app_env
from bootstrap.errors import AuthenticationFailed, UsageError
from bootstrap.ha import leader
from bootstrap.migrate.files import Migration, discover, resolve_dir
from bootstrap.migrate.runner import Migrator
from bootstrap.personas import catalogue as persona_catalogue
from bootstrap.personas import seed
from bootstrap.personas.catalogue import Persona
from bootstrap.personas.seed import SeedPlan
from bootstrap.pooler import console
from bootstrap.postgres import roles, scram
from bootstrap.postgres.connect import connect_superuser
from bootstrap.redisdb import connect as redis_connect
from bootstrap.remote.reach import address_of, reach, tcp_host, url_at
from bootstrap.stack_secrets import catalogue as secret_catalogue
from bootstrap.stack_secrets import inputs as secret_inputs

LOCAL_PSQL_ENV = "BO1_POSTGRES_LOCAL_PSQL"


def env_file_path(args: argparse.Namespace) -> Path:
    return Path(args.env_file) if args.env_file else paths.env_file(args.stack)


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


def connect_rekeying(
    dsn: str, password: str, salt_key: str, wait: float, at: tuple[str, int]
) -> psycopg.Connection:
    """The superuser with the stack's current password; re-keyed over the socket if rotated."""
    try:
        return connect_superuser(dsn, wait=wait, password=password, at=at)
    except AuthenticationFailed:
        local_psql = _local_psql(os.environ.get(LOCAL_PSQL_ENV, ""), at[0])
        if not local_psql:
            raise
    # The volume was initialized with an older password: set the new one locally, then retry.
    roles.rekey_superuser_locally(local_psql, password, salt_key)
    print("Postgres superuser: password re-keyed over the local socket")
    return connect_superuser(dsn, wait=0, password=password, at=at)


def _local_psql(raw: str, host: str) -> str:
    """BO1_POSTGRES_LOCAL_PSQL: one command (a single-host stack), or on an ha stack a JSON
    object of node address to that node's command, of which the leader's (``host``) is used:
    only the primary can take the new password."""
    if not raw.lstrip().startswith("{"):
        return raw
    try:
        table = json.loads(raw)
    except ValueError:
        raise UsageError(
            f"{LOCAL_PSQL_ENV} is not valid JSON: give one command, or an object of node"
            " address to command"
        ) from None
    return str(table.get(host, ""))  # JSON that starts with "{" is an object


def bootstrap(args: argparse.Namespace) -> int:
    # Validate every input before touching either service.
    catalogue = secret_catalogue.load()
    secrets = secret_inputs.read(catalogue, os.environ, args.stack)
    for role, key in roles.ROLE_SECRETS.items():
        scram.check_password(secrets[key], f"{catalogue.by_key(key).env} (password of {role})")
    overrides = app_settings(os.environ.get("BO1_APP_SETTINGS", ""))
    redis_url = redis_connect.resolve_url(args.redis_url)
    migrations = discover(resolve_dir(args.migrations_dir))
    personas = persona_catalogue.load(
        Path(args.personas_file) if args.personas_file else paths.PERSONAS_FILE
    )
    pooler_port = console.port(args)

    # Targets as the Docker host publishes them; the env file names these, not a tunnel's end.
    # On an ha stack: the leader and master now, and the env file names every node.
    where = leader.resolve(args.dsn, redis_url, args.docker_host, args.wait)
    pg_at, redis_at = where.postgres, address_of(where.redis_url, 6379)
    with reach(args.docker_host, [pg_at, redis_at]) as here:
        redis_connect.connect(url_at(where.redis_url, here[redis_at]), wait=args.wait).close()
        salt_key = secrets[roles.SALT_KEY_SECRET]
        conn = connect_rekeying(
            args.dsn, secrets["postgresSuperuserPassword"], salt_key, args.wait, here[pg_at]
        )
        result = _bootstrap_database(conn, migrations, personas, secrets)
    applied, plan, states, database = result
    endpoints = _endpoints(where, database, pooler_port)
    changes = len(applied) + plan.changes + sum(s == "set" for s in states.values())
    path = env_file_path(args)
    values = app_env.render(secrets, endpoints, overrides)
    written = env_file.write_secret_file(path, env_file.render(args.stack, values))
    changes += written
    print(f"App env file {path}: {'written' if written else 'unchanged'} (mode 0600).")
    for spec in secret_inputs.unset(catalogue, secrets):
        print(
            f"bo1-infra: warning: {spec.env} is not set for stack {args.stack}, so the app's"
            f" env file leaves it empty; set it with `bash scripts/pulumi.sh {args.stack}"
            f" config set --secret {spec.key}`, then `bash scripts/up.sh {args.stack}` again",
            file=sys.stderr,
        )
    verdict = f"{changes} change(s)" if changes else "nothing changed"
    print(f"Bootstrap of stack {args.stack}: done, {verdict}.")
    return 0


def _endpoints(where: leader.Where, database: str, pooler_port: int) -> app_env.Endpoints:
    """Where the env file sends the app: the servers used, or on ha every node."""
    pg_at, redis_at = where.postgres, address_of(where.redis_url, 6379)
    return app_env.Endpoints(
        postgres_host=tcp_host(pg_at[0]),
        postgres_port=pg_at[1],
        database=database,
        pooler_port=pooler_port,
        redis_host=redis_at[0],
        redis_port=redis_at[1],
        postgres_hosts=tuple(host for host, _ in where.nodes),
        sentinels=tuple(f"{host}:{port}" for host, port in where.sentinels),
        sentinel_master=where.master_name,
    )


def _bootstrap_database(
    conn: psycopg.Connection,
    migrations: list[Migration],
    personas: list[Persona],
    secrets: dict[str, str],
) -> tuple[list[Migration], SeedPlan, dict[str, str], str]:
    """Migrate, seed, set role passwords; returns what changed and the database's name."""
    with conn:
        applied = Migrator(conn, migrations, say=lambda line: print(f"  {line}")).up()
        version = max((m.version for m in migrations), default=0)
        print(f"Migrations: {len(applied)} applied; database at version {version}.")
        plan = seed.apply(conn, personas)
        print(plan.summary())
        states = roles.sync_passwords(
            conn,
            {role: secrets[key] for role, key in roles.ROLE_SECRETS.items()},
            secrets[roles.SALT_KEY_SECRET],
        )
        print("Role passwords: " + ", ".join(f"{r} {s}" for r, s in states.items()) + ".")
        return applied, plan, states, conn.info.dbname
