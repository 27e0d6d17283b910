"""Benchmark: the stack's PgBouncer against a stock one and against direct connections.

Run on purpose (never part of the test suite):

    .venv/bin/python bench/bench_pooling.py [--rounds 3] [--seconds 10] [--shared-cpus]

pgbench runs on CPU 0 and the servers on the others, as when the application's
workers run on other machines; --shared-cpus lets them all share every core.

Starts its own PostgreSQL 15 (max_connections 100), loads 1,000 tenants (10k
sessions, 100k contributions), and runs the RLS benchmark's tenant transaction
(bench/bench_rls.py: BEGIN, set_config(..., true), count + latest 20, END) as
bo1_app with pgbench -M simple, in interleaved rounds:
  - 50 clients through the stack's pooler (the rendered pgbouncer.ini: transaction
    mode, the reset after every transaction, Postgres reached over its socket
    directory as the container does), through a stock PgBouncer (transaction
    mode, same auth and pool size, everything else default) reaching Postgres
    over TCP as a stock pooler container does, through the same stock PgBouncer
    over the socket (what the reset alone costs), and directly;
  - 500 clients through the stack's pooler and directly.
Then Postgres is restarted behind the stack's pooler (fast shutdown, start) under a
light load, several times: the time from Postgres accepting connections again to
the first transaction through the pooler.
Targets (issue #18): stack / stock >= 0.9 at 50 clients; the stack's pooler at
500 clients >= 0.9x its own 50-client throughput; recovery <= 2 s. Also
reported: the ratio to direct and p50/p99 latency from pgbench's log.
"""

from __future__ import annotations

import argparse
import os
import resource
import secrets
import shutil
import statistics
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg
from bench_rls import load_statements, tenant_script  # also puts the root on sys.path
from psycopg import sql

from bootstrap.migrate.files import discover
from bootstrap.migrate.runner import Migrator
from bootstrap.paths import MIGRATIONS_DIR
from bootstrap.pooler import config
from bootstrap.postgres import roles
from bootstrap.postgres.tenancy import APP_ROLE
from infra.specs.postgres_server import render_hba
from tests.support.pooler import TenantLoad, running_pgbouncer, stack_auth_file
from tests.support.postgres_server import PostgresServer, running_postgres

TENANTS, SESSIONS, CONTRIBUTIONS = 1_000, 10_000, 100_000
DATABASE = "bench"
STOCK_TARGET, SCALE_TARGET, RECOVERY_TARGET = 0.9, 0.9, 2.0


@dataclass(frozen=True)
class Run:
    tps: float
    p50_ms: float
    p99_ms: float
    client_cpu_us: float = 0.0  # pgbench's own CPU per transaction: the load generator's share
    failed: str = ""  # pgbench's own error when it could not run


def pgbench(
    server: PostgresServer, host: str, port: int, password: str, clients: int, seconds: int,
    script: Path, logdir: Path, client_cpu: int | None,
) -> Run:  # fmt: skip
    for old in logdir.glob("tx*"):
        old.unlink()
    env = {
        **os.environ,
        "PGHOST": host,
        "PGPORT": str(port),
        "PGUSER": APP_ROLE,
        "PGPASSWORD": password,
        "PGDATABASE": DATABASE,
    }
    pin = ["taskset", "-c", str(client_cpu)] if client_cpu is not None else []
    argv = [*pin,
        server.bin("pgbench"), "-n", "-M", "simple", "-c", str(clients), "-j", "2",
        "-T", str(seconds), "-f", str(script), "-l", "--log-prefix", str(logdir / "tx"),
    ]  # fmt: skip
    before = _children_cpu()
    proc = subprocess.run(argv, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        lines = [ln for ln in proc.stderr.splitlines() if "FATAL" in ln or "error" in ln.lower()]
        return Run(0.0, 0.0, 0.0, failed=(lines or proc.stderr.splitlines() or ["?"])[0])
    cpu = _children_cpu() - before
    tps = float(next(ln for ln in proc.stdout.splitlines() if ln.startswith("tps")).split()[2])
    latencies = sorted(int(line.split()[2]) / 1000 for f in logdir.glob("tx*") for line in f.open())
    per_tx = cpu / max(len(latencies), 1) * 1e6
    return Run(tps, _pct(latencies, 0.50), _pct(latencies, 0.99), per_tx)


def split_cpus() -> int:
    """Pin this process, and so the servers it starts, off CPU 0; pgbench gets CPU 0.

    The load generator's own cost grows with its connection count (it polls each one on
    every wakeup): on shared cores that cost, not the pooler, decides the 500-client
    figure. Clients on a core of their own measure the pooler and Postgres alone."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        raise SystemExit("bench_pooling: one CPU only; run with --shared-cpus")
    os.sched_setaffinity(0, cpus[1:])
    return cpus[0]


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def drain(server: PostgresServer) -> None:
    """Close the poolers' idle server connections, so a direct run finds its slots free."""
    with psycopg.connect(server.dsn(), autocommit=True) as admin:
        while admin.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE usename = %s",
            [APP_ROLE],
        ).fetchone() != (0,):
            time.sleep(0.1)


def _pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else 0.0


def prepare(
    server: PostgresServer,
    password: str,
    salt_key: str,
    sizes: tuple[int, int, int] = (TENANTS, SESSIONS, CONTRIBUTIONS),
) -> None:
    """The bench database: migrated, loaded, and bo1_app's verifier the auth file carries."""
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(DATABASE)))
    with psycopg.connect(server.dsn(DATABASE), autocommit=True) as conn:
        Migrator(conn, discover(MIGRATIONS_DIR), say=lambda _: None).up()
        for statement in load_statements(*sizes):
            conn.execute(statement)  # type: ignore[arg-type]
        # bootstrap's own step; the superuser is not in the auth file, so only bo1_app
        roles.sync_passwords(conn, {APP_ROLE: password}, salt_key)


def recovery_after_restarts(workdir: Path, restarts: int) -> list[float]:
    """Seconds from Postgres accepting connections again to a transaction through the pooler."""
    password, salt_key = secrets.token_urlsafe(18), secrets.token_urlsafe(36)
    pgdir, seconds = workdir / "restart-pg", []
    running = running_postgres(pgdir, settings={"max_connections": "100"}, hba=render_hba())
    server = running.__enter__()
    try:
        prepare(server, password, salt_key, sizes=(10, 100, 1000))
        auth = stack_auth_file(
            {"postgresAppPassword": password, "poolerStatsPassword": secrets.token_urlsafe(18),
             "postgresScramSaltKey": salt_key}
        )  # fmt: skip
        with (
            running_pgbouncer(workdir / "restart-pooler", server, auth, database=DATABASE) as pb,
            TenantLoad(pb, password, clients=4) as load,
        ):
            for _ in range(restarts):
                load.first_commit_after(time.monotonic())
                running.__exit__(None, None, None)
                running = running_postgres(
                    pgdir, restored=server, port=server.port, hba=render_hba()
                )
                running.__enter__()
                ready = time.monotonic()
                seconds.append(load.first_commit_after(ready) - ready)
    finally:
        running.__exit__(None, None, None)
    return seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--restarts", type=int, default=5)
    parser.add_argument(
        "--shared-cpus", action="store_true",
        help="let pgbench share every core with PgBouncer and Postgres (default: pgbench on"
        " CPU 0, the servers on the others, as when the clients run on other machines)",
    )  # fmt: skip
    args = parser.parse_args()
    client_cpu = None if args.shared_cpus else split_cpus()
    workdir = Path(tempfile.mkdtemp(prefix="bo1-bench-pool-"))
    workdir.chmod(0o755)
    password, salt_key = secrets.token_urlsafe(18), secrets.token_urlsafe(36)
    pool = config.Pool()
    script = workdir / "tenant.sql"
    script.write_text(tenant_script(TENANTS))
    logdir = workdir / "logs"
    logdir.mkdir()
    settings = {"max_connections": "100", "shared_buffers": "256MB"}
    try:
        with running_postgres(workdir / "pg", settings=settings, hba=render_hba()) as server:
            prepare(server, password, salt_key)
            verifiers = stack_auth_file(
                {
                    "postgresAppPassword": password,
                    "poolerStatsPassword": secrets.token_urlsafe(18),
                    "postgresScramSaltKey": salt_key,
                }
            )
            with (
                running_pgbouncer(
                    workdir / "stack", server, verifiers, database=DATABASE, pool=pool
                ) as stack,
                running_pgbouncer(
                    workdir / "stock", server, verifiers, database=DATABASE, pool=pool,
                    stock=True, over_tcp=True,
                ) as stock,
                running_pgbouncer(
                    workdir / "stock-socket", server, verifiers, database=DATABASE, pool=pool,
                    stock=True,
                ) as stock_socket,
            ):  # fmt: skip
                targets = {
                    "stack": (stack.host, stack.port),
                    "stock": (stock.host, stock.port),
                    "stock-socket": (stock_socket.host, stock_socket.port),
                    "direct": (server.host, server.port),
                }
                runs: dict[tuple[str, int], list[Run]] = {}
                for _ in range(args.rounds):
                    for clients, names in ((50, ("stack", "stock", "stock-socket", "direct")),
                                           (500, ("stack", "direct"))):  # fmt: skip
                        for name in names:
                            host, port = targets[name]
                            if name == "direct":
                                drain(server)
                            run = pgbench(
                                server, host, port, password, clients, args.seconds, script,
                                logdir, client_cpu,
                            )  # fmt: skip
                            runs.setdefault((name, clients), []).append(run)
        recovery = recovery_after_restarts(workdir, args.restarts)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    code = summarize(runs, args)
    print(
        f"  Postgres restarted behind the pooler {len(recovery)} times: serving again"
        f" {statistics.median(recovery):.2f} s (median; max {max(recovery):.2f} s) after"
        f" Postgres accepted connections (target <= {RECOVERY_TARGET} s)"
    )
    return code if statistics.median(recovery) <= RECOVERY_TARGET else 1


def summarize(runs: dict[tuple[str, int], list[Run]], args: argparse.Namespace) -> int:
    print(
        f"Pooling benchmark: {TENANTS} tenants, {CONTRIBUTIONS} contributions; RLS tenant"
        f" transaction as bo1_app, pgbench -M simple -j 2, {args.rounds} interleaved rounds"
        f" of {args.seconds} s; pool size {config.Pool().default_pool_size}, Postgres"
        " max_connections 100; pgbench "
        + ("on the servers' cores" if args.shared_cpus else "on a core of its own")
    )
    tps: dict[tuple[str, int], float] = {}
    for (name, clients), samples in runs.items():
        failed = [r.failed for r in samples if r.failed]
        if failed:
            print(f"  {name:<12} {clients:>3} clients: FAILED in {len(failed)} of"
                  f" {len(samples)} runs: {failed[0]}")  # fmt: skip
            continue
        tps[(name, clients)] = statistics.median(r.tps for r in samples)
        p50 = statistics.median(r.p50_ms for r in samples)
        p99 = statistics.median(r.p99_ms for r in samples)
        client = statistics.median(r.client_cpu_us for r in samples)
        print(
            f"  {name:<12} {clients:>3} clients: median {tps[(name, clients)]:8.0f} tps,"
            f" p50 {p50:6.2f} ms, p99 {p99:7.2f} ms, pgbench CPU {client:4.0f} us/tx"
            f"   (tps runs: {', '.join(f'{r.tps:.0f}' for r in samples)})"
        )
    stock = tps[("stack", 50)] / tps[("stock", 50)]
    scale = tps.get(("stack", 500), 0.0) / tps[("stack", 50)]
    direct = tps[("stack", 50)] / tps[("direct", 50)]
    same = tps[("stack", 50)] / tps[("stock-socket", 50)]
    print(f"  stack / stock at 50 clients = {stock:.2f} (target >= {STOCK_TARGET})")
    print(f"  stack / stock over the same socket = {same:.2f} (what the reset costs)")
    print(f"  stack at 500 / stack at 50 = {scale:.2f} (target >= {SCALE_TARGET})")
    print(f"  stack / direct at 50 clients = {direct:.2f}")
    return 0 if stock >= STOCK_TARGET and scale >= SCALE_TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
