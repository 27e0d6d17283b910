"""``bo1-infra status``: one screen on the data layer: migrations, personas, backups, the
pooler's pools, Redis memory."""

from __future__ import annotations

import argparse
import os

import redis

from bootstrap.backup import last_drill
from bootstrap.errors import Bo1Error, ConnectionFailed
from bootstrap.ha import leader
from bootstrap.migrate.files import Migration, discover, resolve_dir
from bootstrap.migrate.runner import Migrator
from bootstrap.pooler import console
from bootstrap.postgres.connect import connect_superuser
from bootstrap.redisdb import connect as redis_connect
from bootstrap.redisdb.releases import MODULE_NAMES
from bootstrap.remote.reach import address_of, reach, url_at


def _mb(n: int) -> str:
    return f"{n / 2**20:.1f} MB"


def stack_status(args: argparse.Namespace) -> int:
    migrations = discover(resolve_dir(args.migrations_dir))
    redis_url = redis_connect.resolve_url(args.redis_url)
    where = leader.resolve(args.dsn, redis_url, args.docker_host, args.wait)
    pg_at, redis_at = where.postgres, address_of(where.redis_url, 6379)
    poolers = where.poolers(console.port(args))
    with reach(args.docker_host, [pg_at, redis_at, *poolers]) as here:
        reached = (here[pg_at], url_at(where.redis_url, here[redis_at]))
        code = _show(args, migrations, redis_url, reached, where)
        for at in poolers:
            print(f"Pooler {at[0]}:{at[1]}")
            print(f"  pools       {_pools(args, here[at])}")
        return code


def _pools(args: argparse.Namespace, at: tuple[str, int]) -> str:
    from bootstrap.postgres.connect import conn_params
    from bootstrap.stack import stack_settings

    database = conn_params(args.dsn).get("dbname") or os.environ.get("PGDATABASE")
    database = database or stack_settings(args.stack).postgres_database
    try:
        return console.read(at, database).summary()
    except Bo1Error as exc:
        return f"UNREACHABLE: {exc.message}"


def _show(
    args: argparse.Namespace,
    migrations: list[Migration],
    redis_url: str,
    reached: tuple[tuple[str, int], str],
    where: leader.Where,
) -> int:
    """The screen; ``where`` and ``redis_url`` as published, ``reached`` where to connect."""
    with connect_superuser(args.dsn, wait=args.wait, at=reached[0]) as conn:
        rows = Migrator(conn, migrations, say=lambda _: None).status()
        counts = conn.execute(
            "SELECT count(*) FILTER (WHERE is_active), count(*) FILTER (WHERE NOT is_active)"
            " FROM personas"
        ).fetchone()
        pg_at = f"{where.postgres[0]}:{where.postgres[1]}/{conn.info.dbname}"
        drill = last_drill.newest(conn)
    with redis_connect.connect(reached[1], wait=args.wait) as r:
        try:
            memory = r.info("memory")
            persistence = r.info("persistence")
            keys = r.dbsize()
            modules = sorted(str(m.get("name")) for m in r.module_list())
        except redis.exceptions.NoPermissionError:
            raise ConnectionFailed(
                "the Redis user in REDIS_URL may not run INFO; status needs bo1_ops"
            ) from None
    applied = [r for r in rows if r.state != "pending"]
    pending = [r for r in rows if r.state == "pending"]
    latest = f"{applied[-1].version:04d}_{applied[-1].name}" if applied else "none"
    print(f"Postgres {'leader ' if where.ha else ''}{pg_at}")
    print(f"  migrations  {len(applied)} applied (latest {latest}), {len(pending)} pending")
    changed = [r for r in rows if r.state in ("changed", "file missing")]
    if changed:
        print(f"  WARNING     {', '.join(f'{r.version}: {r.state}' for r in changed)}")
    print(
        f"  personas    {counts[0]} active, {counts[1]} inactive"
        if counts
        else "  personas    none"
    )
    print(f"  backups     {drill.summary() if drill else 'no restore drill recorded'}")
    used, limit = int(memory["used_memory"]), int(memory.get("maxmemory", 0))
    share = f" ({used / limit:.1%})" if limit else ""
    master = ":".join(map(str, address_of(where.redis_url, 6379)))
    master = f", now {master}" if where.ha else ""
    print(f"Redis {redis_connect.describe(redis_url)}{master}")
    print(
        f"  memory      {_mb(used)} of {_mb(limit) if limit else 'no limit'}{share},"
        f" policy {memory.get('maxmemory_policy')}"
    )
    print(f"  keys        {keys}; AOF {'on' if persistence.get('aof_enabled') else 'OFF'}")
    usable = set(modules) >= MODULE_NAMES
    print(
        f"  modules     {', '.join(modules) or 'none'}"
        + ("" if usable else "; LangGraph checkpoints unavailable (no JSON and Search)")
    )
    return 0
