"""Benchmark: the cost of row-level security at scale, measured with pgbench.

Run on purpose (never part of the test suite):

    .venv/bin/python bench/bench_rls.py [--rounds 5] [--seconds 6]

Starts its own PostgreSQL 15, migrates, and loads 10k users, 100k sessions and
1M contributions. Then it times a random tenant's "count my contributions +
my latest 20" two ways, alternating pgbench runs in one session of the server:
  - through RLS: as bo1_app, tenant set with set_config(..., true), no WHERE;
  - by hand:     as bo1_service (BYPASSRLS), WHERE user_id = <tenant>.
Both transactions have the same shape (BEGIN, one set_config, the two queries,
END) and use prepared statements; pgbench's per-command latencies (-r) give the
cost of the two queries alone.
Target (issue #3): RLS / by hand <= 1.2x. (The original design measured 156x.)
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import psycopg
from common import verdict  # also puts the project root on sys.path
from psycopg import sql

from bootstrap.migrate.files import discover
from bootstrap.migrate.runner import Migrator
from bootstrap.paths import MIGRATIONS_DIR
from bootstrap.postgres.tenancy import APP_ROLE, SERVICE_ROLE
from tests.support.postgres_server import PostgresServer, running_postgres

USERS, SESSIONS, CONTRIBUTIONS = 10_000, 100_000, 1_000_000
TARGET = 1.2


def load_statements(users: int, sessions: int, contributions: int) -> list[str]:
    """The benchmark's data: ``users`` tenants, their sessions and contributions."""
    return [
        "INSERT INTO personas (code, name, category, expertise, system_prompt)"
        " SELECT 'persona_' || i, 'Persona ' || i, 'research', 'expertise', 'prompt'"
        " FROM generate_series(1, 45) i",
        f"INSERT INTO users (id, email, auth_provider) SELECT 'user-' || i,"
        f" 'user' || i || '@example.com', 'email' FROM generate_series(1, {users}) i",
        f"INSERT INTO sessions (id, user_id, problem_statement, created_at)"
        f" SELECT 'sess-' || i, 'user-' || (1 + i % {users}), 'problem ' || i,"
        f" now() - make_interval(secs => i) FROM generate_series(1, {sessions}) i",
        # session k belongs to user 1 + k % users; contribution i goes to session 1 + i % sessions
        f"INSERT INTO contributions (session_id, user_id, persona_code, content, round_number,"
        f" tokens, created_at) SELECT 'sess-' || (1 + i % {sessions}),"
        f" 'user-' || (1 + (1 + i % {sessions}) % {users}),"
        f" 'persona_' || (1 + i % 45), repeat('insight ', 30), i % 10, 500,"
        f" now() - make_interval(secs => i) FROM generate_series(1, {contributions}) i",
        "VACUUM ANALYZE",
        "CREATE EXTENSION IF NOT EXISTS pg_prewarm",
        "SELECT pg_prewarm('contributions'), pg_prewarm('idx_contributions_user_id_created_at')",
    ]


LATEST = "SELECT id, session_id, persona_code, round_number, created_at FROM contributions"


def tenant_script(users: int) -> str:
    """A random tenant's "count my contributions + my latest 20", through RLS."""
    return f"""\\set uid random(1, {users})
BEGIN;
SELECT set_config('app.current_user_id', 'user-' || :uid, true);
SELECT count(*) FROM contributions;
{LATEST} ORDER BY created_at DESC LIMIT 20;
END;
"""


LOAD = load_statements(USERS, SESSIONS, CONTRIBUTIONS)
SCRIPTS = {
    "rls": tenant_script(USERS),
    "hand": f"""\\set uid random(1, {USERS})
BEGIN;
SELECT set_config('bench.same_shape', 'user-' || :uid, true);
SELECT count(*) FROM contributions WHERE user_id = 'user-' || :uid;
{LATEST} WHERE user_id = 'user-' || :uid ORDER BY created_at DESC LIMIT 20;
END;
""",
}
QUERY_LINE = re.compile(r"^\s+([\d.]+)\s+\S+\s+(SELECT count|SELECT id)", re.M)


def load(server: PostgresServer) -> float:
    started = time.perf_counter()
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.execute("CREATE DATABASE bench")
    with psycopg.connect(server.dsn("bench"), autocommit=True) as conn:
        Migrator(conn, discover(MIGRATIONS_DIR), say=lambda _: None).up()
        for statement in LOAD:
            conn.execute(statement)  # type: ignore[arg-type]
    return time.perf_counter() - started


def pgbench(server: PostgresServer, role: str, password: str, script: Path, seconds: int) -> float:
    """Mean latency in ms of the two queries per transaction, from pgbench -r."""
    env = {
        **os.environ,
        "PGHOST": server.host,
        "PGPORT": str(server.port),
        "PGUSER": role,
        "PGPASSWORD": password,
        "PGDATABASE": "bench",
    }
    out = subprocess.run(
        [
            server.bin("pgbench"),
            "-n",
            "-M",
            "prepared",
            "-c",
            "1",
            "-T",
            str(seconds),
            "-r",
            "-f",
            str(script),
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    latencies = [float(m.group(1)) for m in QUERY_LINE.finditer(out)]
    assert len(latencies) == 2, out
    return sum(latencies)


def check_same_answers(server: PostgresServer, password: str) -> None:
    """Both ways must see the same rows, or the comparison means nothing."""
    with (
        psycopg.connect(server.dsn("bench", APP_ROLE, password)) as app,
        psycopg.connect(server.dsn("bench", SERVICE_ROLE, password)) as service,
    ):
        for uid in (1, 777, USERS):
            app.execute("SELECT set_config('app.current_user_id', %s, true)", [f"user-{uid}"])
            rls = app.execute("SELECT count(*) FROM contributions").fetchone()
            hand = service.execute(
                "SELECT count(*) FROM contributions WHERE user_id = %s", [f"user-{uid}"]
            ).fetchone()
            assert rls == hand == (CONTRIBUTIONS // USERS,), (uid, rls, hand)
            app.rollback()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=int, default=6)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bo1-bench-rls-"))
    workdir.chmod(0o755)
    try:
        with running_postgres(workdir / "pg", settings={"shared_buffers": "512MB"}) as server:
            load_s = load(server)
            password = "bench-only-password"  # the migrations created the roles, passwordless
            with psycopg.connect(server.dsn(), autocommit=True) as conn:
                for role in (APP_ROLE, SERVICE_ROLE):
                    conn.execute(
                        sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), password)
                    )
            check_same_answers(server, password)
            scripts = {}
            for name, text in SCRIPTS.items():
                scripts[name] = workdir / f"{name}.sql"
                scripts[name].write_text(text)
            runs: dict[str, list[float]] = {"rls": [], "hand": []}
            for _ in range(args.rounds):
                runs["hand"].append(
                    pgbench(server, SERVICE_ROLE, password, scripts["hand"], args.seconds)
                )
                runs["rls"].append(
                    pgbench(server, APP_ROLE, password, scripts["rls"], args.seconds)
                )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    m_rls, m_hand = statistics.median(runs["rls"]), statistics.median(runs["hand"])
    ratio = m_rls / m_hand
    print(
        f"RLS benchmark: {USERS} users, {SESSIONS} sessions, {CONTRIBUTIONS} contributions (loaded in {load_s:.1f} s)"
    )
    print(
        f"  'count my contributions + my latest 20' ({CONTRIBUTIONS // USERS} rows per tenant), pgbench -M prepared,"
    )
    print(
        f"  {args.rounds} alternating runs of {args.seconds} s each; median of the per-run mean latency of both queries:"
    )
    print(
        f"  by hand (bo1_service, WHERE user_id = ...): {m_hand:.3f} ms   runs: {', '.join(f'{x:.3f}' for x in runs['hand'])}"
    )
    print(
        f"  through RLS (bo1_app, no WHERE):          {m_rls:.3f} ms   runs: {', '.join(f'{x:.3f}' for x in runs['rls'])}"
    )
    print(f"  RLS / by hand = {ratio:.2f}x ({verdict(ratio, TARGET)} the {TARGET}x target)")
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
