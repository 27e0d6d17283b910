"""Benchmark: backup and restore speed of a 1 GB database, and the RPO at the shipped policy.

Run on purpose (never part of the test suite); it needs about 4 GB of disk and
a few minutes:

    .venv/bin/python bench/bench_backup.py [--gb 1.0] [--rpo]

One PostgreSQL 15 archiving through the rendered archive_command into a
pgBackRest repository with the rendered pgbackrest.conf (lz4, process-max 2,
aes-256-cbc). Measured in one run, each case once after one warm-up read of
the data directory, so the page cache treats them alike:

- backup: `bo1-infra backup run --type full` against `tar -cf` of the same
  data directory onto the same disk (target: at least 0.5x tar's throughput);
- restore: `bo1-infra backup restore --latest` into a new directory against
  `cp -a` of the data directory (target: at most 2x the copy's time);
- with --rpo: a writer commits a row every 100 ms at the shipped
  archive_timeout (60 s); the server is killed at a random instant and its
  data directory deleted; restore --latest; the loss window is the kill
  instant minus the newest restored row.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

from common import verdict  # also puts the project root on sys.path

from bootstrap.backup.policy import Policy
from tests.support.backup_stack import BackedUp, backed_up_postgres, own_dirs
from tests.support.cli import run_cli
from tests.support.postgres_server import running_postgres

ROW_BYTES = 1000


def fill(stack: BackedUp, gigabytes: float) -> int:
    """Rows of text that compress about as well as real rows do (md5 hex + repeats)."""
    rows = int(gigabytes * 1e9 / (ROW_BYTES + 40))
    with stack.conn() as conn:
        conn.execute(
            "CREATE TABLE filler AS SELECT g AS id,"
            " string_agg(md5((g * 31 + k)::text), '') AS body"
            f" FROM generate_series(1, {rows}) g, generate_series(1, {ROW_BYTES // 32}) k"
            " GROUP BY g"
        )
        conn.execute("CHECKPOINT")
        size = conn.execute("SELECT pg_database_size(current_database())").fetchone()
    return int(size[0]) if size else 0


def timed(argv: list[str]) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, capture_output=True)
    return time.perf_counter() - started


def cli(stack: BackedUp, *args: str) -> float:
    started = time.perf_counter()
    done = run_cli("backup", *args, *stack.cli_args(), env=stack.cli_env(), timeout=3600)
    if done.returncode != 0:
        raise SystemExit(f"backup {' '.join(args)}: {done.stderr.strip()}")
    return time.perf_counter() - started


def speed(work: Path, gigabytes: float) -> None:
    with backed_up_postgres(work / "speed", Policy()) as stack:
        size = fill(stack, gigabytes)
        data = stack.server.datadir
        timed(["sh", "-c", f"find {data} -type f -exec cat {{}} + > /dev/null"])  # warm-up read
        tar_s = timed(["tar", "-cf", str(work / "data.tar"), "-C", str(data.parent), data.name])
        (work / "data.tar").unlink()
        backup_s = cli(stack, "run", "--type", "full")
        copy_s = timed(["cp", "-a", str(data), str(work / "copy")])
        shutil.rmtree(work / "copy")
        target = work / "restored"
        own_dirs(target)
        restore_s = cli(stack, "restore", "--latest", "--target-dir", str(target / "data"))
    print(f"database: {size / 1e9:.2f} GB")
    throughput = tar_s / backup_s
    print(
        f"backup:  {backup_s:.1f} s; tar {tar_s:.1f} s; throughput {throughput:.2f}x tar's"
        f" (target >= 0.5x): {'meets' if throughput >= 0.5 else 'MISSES'}"
    )
    ratio = restore_s / copy_s
    print(
        f"restore: {restore_s:.1f} s; cp -a {copy_s:.1f} s; {ratio:.2f}x the copy"
        f" (target <= 2x): {verdict(ratio, 2.0)}"
    )


def rpo(work: Path) -> None:
    import threading

    import psycopg

    policy = Policy()  # the shipped archive_timeout
    with backed_up_postgres(work / "rpo", policy) as stack:
        with stack.conn() as conn:
            conn.execute(
                "CREATE TABLE probe (id bigint GENERATED ALWAYS AS IDENTITY,"
                " written_at timestamptz NOT NULL DEFAULT clock_timestamp())"
            )
        cli(stack, "run", "--type", "full")
        stop = threading.Event()

        def write() -> None:
            try:
                with psycopg.connect(stack.server.dsn("bo1"), autocommit=True) as conn:
                    while not stop.wait(0.1):
                        conn.execute("INSERT INTO probe DEFAULT VALUES")
            except psycopg.OperationalError:
                pass

        writer = threading.Thread(target=write, daemon=True)
        writer.start()
        time.sleep(random.uniform(2 * policy.archive_timeout_s, 3 * policy.archive_timeout_s))
        pid = int((stack.server.datadir / "postmaster.pid").read_text().split()[0])
        lost_at = time.time()
        os.kill(pid, signal.SIGKILL)
        shutil.rmtree(stack.server.datadir)
        stop.set()
        writer.join()
    target = work / "rpo-restored"
    own_dirs(target)
    cli(stack, "restore", "--latest", "--target-dir", str(target / "data"))
    with (
        running_postgres(target, restored=stack.server) as copy,
        psycopg.connect(copy.dsn("bo1"), autocommit=True) as conn,
    ):
        while conn.execute("SELECT pg_is_in_recovery()").fetchone() == (True,):
            time.sleep(0.1)
        newest = conn.execute("SELECT extract(epoch FROM max(written_at)) FROM probe").fetchone()
    loss = lost_at - float(newest[0]) if newest and newest[0] is not None else float("inf")
    print(
        f"RPO: {loss:.1f} s lost at archive_timeout={policy.archive_timeout_s} s"
        f" (bound: archive_timeout + archive latency)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gb", type=float, default=1.0, help="database size (default 1.0)")
    parser.add_argument("--rpo", action="store_true", help="also measure the RPO (~3 min)")
    args = parser.parse_args()
    if shutil.which("pgbackrest") is None:
        raise SystemExit("pgbackrest is not installed: run scripts/setup-debian.sh")
    work = Path(tempfile.mkdtemp(prefix="bo1-bench-backup-"))
    work.chmod(0o755)
    try:
        speed(work, args.gb)
        if args.rpo:
            rpo(work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
