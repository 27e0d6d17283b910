"""Benchmark: how long writes stop when a Postgres leader or the Redis master fails.

Run on purpose, as root (network namespaces), never part of the test suite:

    .venv/bin/python bench/bench_ha.py [--runs 3]

Each run starts a fresh three-node cluster of network namespaces with the rendered
configuration (tests/support/ha.py: etcd, Patroni 4.1.5 and PostgreSQL 15 in
synchronous mode; Redis primary and replica under three Sentinels), puts a writer on
it that records every acknowledged write, and then:
  - postgres: kill -9 of the leader's postmaster;
  - node: kill -9 of the leader's Patroni and Postgres (the host is gone);
  - pooled: as postgres, the writer being the application (bo1_app) through its
    DATABASE_URL, every node's PgBouncer behind the node's HAProxy;
  - redis: kill -9 of the Redis master, the writer asking Sentinel for the master.
Reported: the seconds from the kill to the end of the longest stretch without an
acknowledged write (median and each run), and acknowledged writes missing afterwards.
Targets (issue #14): Postgres 15 s (a killed leader), Redis 10 s.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from collections.abc import Callable
from pathlib import Path

import common  # noqa: F401  (puts the project root on sys.path)

from tests.support.ha import (
    POSTGRES_RESUME_S,
    REDIS_RESUME_S,
    Failover,
    app_through_poolers,
    ha_cluster,
    postgres_failover,
    redis_failover,
    redis_sentinel_cluster,
)

TARGETS = {"postgres": POSTGRES_RESUME_S, "pooled": POSTGRES_RESUME_S, "redis": REDIS_RESUME_S}


def postgres_case(workdir: Path, loss: str) -> Failover:
    with ha_cluster(workdir, synchronous=True) as cluster:
        return postgres_failover(cluster, loss)


def pooled_case(workdir: Path) -> Failover:
    with ha_cluster(workdir, synchronous=True) as cluster, app_through_poolers(cluster) as url:
        return postgres_failover(cluster, "postgres", url, "bo1")


def redis_case(workdir: Path) -> Failover:
    with redis_sentinel_cluster(workdir) as cluster:
        return redis_failover(cluster)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    cases: dict[str, Callable[[Path], Failover]] = {
        "postgres": lambda d: postgres_case(d, "postgres"),
        "node": lambda d: postgres_case(d, "node"),
        "pooled": pooled_case,
        "redis": redis_case,
    }
    root = Path(tempfile.mkdtemp(prefix="bo1-bench-ha-"))
    root.chmod(0o755)
    results: dict[str, list[Failover]] = {name: [] for name in cases}
    try:
        for run in range(args.runs):
            for name, case in cases.items():
                results[name].append(case(root / f"{name}-{run}"))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"HA failover benchmark: {args.runs} runs, fresh three-node cluster each")
    code = 0
    for name, samples in results.items():
        times = [s.resumed for s in samples]
        median = statistics.median(times)
        target = TARGETS.get(name)
        verdict = f" (target {target:.0f} s)" if target else " (no target: the 20 s ttl first)"
        print(
            f"  {name:<8} writes resumed after median {median:5.1f} s{verdict};"
            f" runs {', '.join(f'{t:.1f}' for t in times)};"
            f" acknowledged {sum(s.acked for s in samples)}, lost {sum(len(s.lost) for s in samples)}"
        )
        if target and median > target:
            code = 1
    return code


if __name__ == "__main__":
    raise SystemExit(main())
