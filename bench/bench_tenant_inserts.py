"""Benchmark: what 0005_tenancy_hardening costs the app's inserts.

Run on purpose (never part of the test suite):

    .venv/bin/python bench/bench_tenant_inserts.py [--rounds 11] [--rows 1000]

Two databases on one PostgreSQL 15, one left at migration 0004 and one at the
latest; as bo1_app with a tenant set, each round inserts --rows sessions (the
table with the guard trigger) and as many contributions (identity ids), one
statement per row in one transaction, as an application does. Rounds alternate
between the two databases; the medians and their ratio are printed.
"""

from __future__ import annotations

import argparse
import itertools
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import psycopg
from common import verdict  # also puts the project root on sys.path
from psycopg import sql

from bootstrap.migrate.files import discover
from bootstrap.migrate.runner import Migrator
from bootstrap.paths import MIGRATIONS_DIR
from bootstrap.postgres.tenancy import APP_ROLE
from tests.support.postgres_server import PostgresServer, running_postgres

TARGET = 1.25  # the guard may cost at most a quarter more per inserted row
PASSWORD = "bench-only-password"
_rounds = itertools.count()


def prepare(server: PostgresServer, name: str, to: int | None) -> None:
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    with psycopg.connect(server.dsn(name), autocommit=True) as conn:
        Migrator(conn, discover(MIGRATIONS_DIR), say=lambda _: None).up(to=to)
        conn.execute(
            "INSERT INTO personas (code, name, category, expertise, system_prompt)"
            " VALUES ('cfo', 'Casey', 'finance', 'finance', 'You are a CFO.')"
        )
        conn.execute(
            "INSERT INTO users (id, email, auth_provider)"
            " SELECT 'user-' || i, 'user' || i || '@x.io', 'email' FROM generate_series(1, 1000) i"
        )
        conn.execute(
            sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(APP_ROLE), PASSWORD)
        )


def insert_round(server: PostgresServer, name: str, rows: int) -> float:
    n = next(_rounds)
    with psycopg.connect(server.dsn(name, APP_ROLE, PASSWORD)) as app:
        started = time.perf_counter()
        with app.transaction():
            app.execute("SELECT set_config('app.current_user_id', 'user-7', true)")
            for i in range(rows):
                session = f"r{n}-s{i}"
                app.execute(
                    "INSERT INTO sessions (id, user_id, problem_statement) VALUES (%s, 'user-7', 'p')",
                    [session],
                )
                app.execute(
                    "INSERT INTO contributions (session_id, persona_code, content, round_number)"
                    " VALUES (%s, 'cfo', 'words', 1)",
                    [session],
                )
        return time.perf_counter() - started


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=11)
    parser.add_argument("--rows", type=int, default=1000)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bo1-bench-inserts-"))
    workdir.chmod(0o755)
    try:
        with running_postgres(workdir / "pg") as server:
            prepare(server, "before", 4)
            prepare(server, "after", None)
            for name in ("before", "after"):
                insert_round(server, name, 100)  # warm both
            runs: dict[str, list[float]] = {"before": [], "after": []}
            for _ in range(args.rounds):
                for name in runs:
                    runs[name].append(insert_round(server, name, args.rows))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    before, after = statistics.median(runs["before"]), statistics.median(runs["after"])
    per_row = {k: v / (2 * args.rows) * 1e6 for k, v in (("before", before), ("after", after))}
    ratio = after / before
    print(f"Tenant inserts as bo1_app: {args.rows} sessions + {args.rows} contributions per round,")
    print(f"  {args.rounds} alternating rounds, one statement per row, one transaction per round:")
    print(
        f"  at 0004 (no guard):      median {before * 1000:8.1f} ms  ({per_row['before']:.1f} us per row)"
    )
    print(
        f"  at 0005 (guard, ids):    median {after * 1000:8.1f} ms  ({per_row['after']:.1f} us per row)"
    )
    print(f"  after / before = {ratio:.2f}x ({verdict(ratio, TARGET)} the {TARGET}x target)")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
