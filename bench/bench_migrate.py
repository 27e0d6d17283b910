"""Benchmark: whole-process wall time of `bo1-infra migrate up` against the psycopg floor.

Run on purpose (never part of the test suite):

    .venv/bin/python bench/bench_migrate.py [--rounds 21]

Starts its own PostgreSQL 15 (as the test suite does) and measures, interleaved
in one run on the same server:
  - `bo1-infra migrate up` on an empty database (every migration applied)
  - `bo1-infra migrate up` with nothing pending
  - the floor: `python -c "import psycopg; psycopg.connect(DSN).execute('select 1')"`
Target (issue #2): no-op migrate up <= 1.3x the floor.
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
from pathlib import Path

from common import VENV_BIN, database_factory, interleaved, report, timed_run, verdict

from tests.support.postgres_server import running_postgres

FLOOR = "import psycopg; psycopg.connect('').execute('select 1')"
TARGET = 1.3


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    rounds = parser.parse_args().rounds
    workdir = Path(tempfile.mkdtemp(prefix="bo1-bench-"))
    workdir.chmod(0o755)
    try:
        with running_postgres(workdir / "pg") as server:
            new_database = database_factory(server, "bench_empty")

            def empty_db() -> dict[str, str]:
                return server.libpq_env(new_database())

            noop_env = empty_db()
            bo1 = [str(VENV_BIN / "bo1-infra"), "migrate", "up"]
            timed_run(bo1, noop_env)  # migrate once; later runs are no-ops
            samples = interleaved(
                rounds,
                {
                    "migrate up (empty database)": lambda: timed_run(bo1, empty_db()),
                    "migrate up (nothing pending)": lambda: timed_run(bo1, noop_env),
                    "floor: import psycopg + select 1": lambda: timed_run(
                        [str(VENV_BIN / "python"), "-c", FLOOR], noop_env
                    ),
                },
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"bo1-infra migrate benchmark, {rounds} interleaved rounds:")
    medians = report(samples)
    ratio = medians["migrate up (nothing pending)"] / medians["floor: import psycopg + select 1"]
    print(
        f"  no-op migrate up / floor = {ratio:.2f}x ({verdict(ratio, TARGET)} the {TARGET}x target)"
    )
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
