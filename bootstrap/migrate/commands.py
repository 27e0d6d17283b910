"""``bo1-infra migrate up|down|status|new``: one function per verb, each returning an exit code."""

from __future__ import annotations

import argparse

from bootstrap.migrate.files import discover, resolve_dir
from bootstrap.migrate.runner import Migrator


def _migrator(args: argparse.Namespace) -> Migrator:
    from bootstrap.postgres.connect import connect_superuser

    migrations = discover(resolve_dir(args.migrations_dir))
    conn = connect_superuser(args.dsn, wait=args.wait)
    return Migrator(conn, migrations, lock_timeout=getattr(args, "lock_timeout", 60.0))


def _version(m: Migrator) -> int:
    return max((row.version for row in m.applied()), default=0)


def migrate_up(args: argparse.Namespace) -> int:
    m = _migrator(args)
    with m.conn:
        done = m.up(to=args.to)
        if done:
            print(f"Applied {len(done)} migration(s); database is at version {done[-1].version}.")
        else:
            print(f"Nothing to migrate; database is at version {_version(m)}.")
    return 0


def migrate_down(args: argparse.Namespace) -> int:
    m = _migrator(args)
    with m.conn:
        done = m.down(to=args.to, steps=args.steps)
        print(f"Rolled back {len(done)} migration(s); database is at version {_version(m)}.")
    return 0


def migrate_status(args: argparse.Namespace) -> int:
    m = _migrator(args)
    with m.conn:
        rows = m.status()
    print(f"{'version':<8} {'name':<32} {'state':<13} {'applied_at':<20} {'ms':>6}")
    for r in rows:
        when = r.applied.applied_at.strftime("%Y-%m-%d %H:%M:%S") if r.applied else ""
        ms = str(r.applied.execution_ms) if r.applied else ""
        print(f"{r.version:<8} {r.name:<32} {r.state:<13} {when:<20} {ms:>6}")
    counts = {s: sum(r.state == s for r in rows) for s in ("applied", "pending", "changed")}
    print(
        f"{counts['applied'] + counts['changed']} applied, {counts['pending']} pending"
        + (f", {counts['changed']} CHANGED since applied" if counts["changed"] else "")
    )
    return 0


def migrate_new(args: argparse.Namespace) -> int:
    from bootstrap.migrate.files import create_pair, display_path

    up, down = create_pair(resolve_dir(args.migrations_dir), args.name)
    print(f"Created {display_path(up)}")
    print(f"Created {display_path(down)}")
    return 0
