"""Benchmark: whole-process wall time of `bo1-infra bootstrap` against a psycopg + redis floor.

Run on purpose (never part of the test suite):

    .venv/bin/python bench/bench_bootstrap.py [--rounds 15]

Starts its own PostgreSQL 15 and a redis-server 7 with the stack's rendered
config, then measures, interleaved in one run:
  - `bo1-infra bootstrap` on an empty database (the first bootstrap);
  - `bo1-infra bootstrap` when nothing has changed;
  - the floor: `python -c` importing psycopg and redis, one query, one PING.
Targets (issue #6): no-op <= 1.5x the floor; first bootstrap <= 2 s.
"""

from __future__ import annotations

import argparse
import secrets
import shutil
import tempfile
from pathlib import Path

from common import VENV_BIN, database_factory, interleaved, report, timed_run, verdict

from bootstrap.stack_secrets.catalogue import load as load_catalogue
from infra.settings import from_config
from tests.support.postgres_server import running_postgres
from tests.support.redis_server import running_stack_redis

FLOOR = (
    "import psycopg, redis, os; psycopg.connect('').execute('select 1');"
    " redis.Redis.from_url(os.environ['REDIS_URL']).ping()"
)
NOOP_TARGET, FIRST_TARGET_S = 1.5, 2.0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    rounds = parser.parse_args().rounds
    workdir = Path(tempfile.mkdtemp(prefix="bo1-bench-boot-"))
    workdir.chmod(0o755)
    catalogue = load_catalogue()
    try:
        with running_postgres(workdir / "pg") as server:
            values = {s.key: secrets.token_urlsafe(18) for s in catalogue.secrets}
            values["postgresSuperuserPassword"] = server.password
            with running_stack_redis(
                workdir / "redis", from_config("dev", {}), values
            ) as redis_proc:
                base = {
                    "PGHOST": server.host, "PGPORT": str(server.port), "PGUSER": "postgres",
                    "REDIS_URL": redis_proc.server.url("bo1_ops", values["redisOpsPassword"]),
                    **{s.env: values[s.key] for s in catalogue.secrets},
                }  # fmt: skip
                new_database = database_factory(server, "bench_boot")

                def empty_db() -> dict[str, str]:
                    return {**base, "PGDATABASE": new_database()}

                env_file = workdir / "app.env"
                boot = [str(VENV_BIN / "bo1-infra"), "bootstrap", "--env-file", str(env_file)]
                noop_env = empty_db()
                timed_run(boot, noop_env)  # the first run; later ones on this database are no-ops
                floor_env = {**noop_env, "PGPASSWORD": server.password}
                samples = interleaved(
                    rounds,
                    {
                        "bootstrap (empty database)": lambda: timed_run(boot, empty_db()),
                        "bootstrap (nothing changed)": lambda: timed_run(boot, noop_env),
                        "floor: psycopg+redis, 1 query, 1 PING": lambda: timed_run(
                            [str(VENV_BIN / "python"), "-c", FLOOR], floor_env
                        ),
                    },
                )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"bo1-infra bootstrap benchmark, {rounds} interleaved rounds:")
    medians = report(samples)
    ratio = (
        medians["bootstrap (nothing changed)"] / medians["floor: psycopg+redis, 1 query, 1 PING"]
    )
    first = medians["bootstrap (empty database)"]
    print(
        f"  no-op bootstrap / floor = {ratio:.2f}x ({verdict(ratio, NOOP_TARGET)} the {NOOP_TARGET}x target)"
    )
    print(
        f"  first bootstrap = {first:.2f} s ({verdict(first, FIRST_TARGET_S)} the {FIRST_TARGET_S} s target)"
    )
    return 0 if ratio <= NOOP_TARGET and first <= FIRST_TARGET_S else 1


if __name__ == "__main__":
    raise SystemExit(main())
