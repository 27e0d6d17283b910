"""bo1-infra's own clients follow the leader: a libpq multi-host DSN for Postgres, a
``redis+sentinel://`` URL for Redis, before and after a failover, on the real clusters of
tests/support/ha.py (Patroni 4.1.5 + etcd + PostgreSQL 15; Redis + Sentinel)."""

from __future__ import annotations

import json
import time
from pathlib import Path

from bootstrap.ha import sentinel
from bootstrap.redisdb.connect import connect
from bootstrap.redisdb.users import OPS_USER
from tests.support.cli import assert_one_line_error, run_cli
from tests.support.ha import (
    REQUIRES,
    Cluster,
    RedisCluster,
    ha_cluster,
    redis_failover,
    redis_sentinel_cluster,
)

pytestmark = REQUIRES


def _sentinel_url(cluster: RedisCluster, password: str | None = None) -> str:
    hosts = ",".join(f"{n.address}:{sentinel.SENTINEL_PORT}" for n in cluster.nodes)
    password = password or cluster.values["redisOpsPassword"]
    return f"redis+sentinel://{OPS_USER}:{password}@{hosts}/{sentinel.MASTER_NAME}"


def _connected_to(cluster: RedisCluster) -> str:
    client = connect(_sentinel_url(cluster))
    try:
        assert client.execute_command("ROLE")[0] == "master"
        return str(client.connection_pool.connection_kwargs["host"])
    finally:
        client.close()


def test_the_redis_cleanup_follows_the_master_through_sentinel(scratch_root: Path) -> None:
    with redis_sentinel_cluster(scratch_root / "clients-redis") as cluster:
        url = _sentinel_url(cluster)
        assert _connected_to(cluster) == cluster.master().address
        before = run_cli("redis-cleanup", "--json", "--redis-url", url)
        assert before.returncode == 0, before.stderr
        failover = redis_failover(cluster)
        assert _connected_to(cluster) == failover.new.address != failover.old.address
        after = run_cli("redis-cleanup", "--json", "--redis-url", url)
        assert after.returncode == 0, after.stderr
        assert json.loads(after.stdout)["scanned"] >= failover.acked - len(failover.lost)
        wrong = run_cli("redis-cleanup", "--redis-url", _sentinel_url(cluster, "wrong-pw"))
        message = assert_one_line_error(wrong, "refused the login")
        assert cluster.values["redisOpsPassword"] not in message + after.stdout + after.stderr


def _dsn(cluster: Cluster) -> str:
    hosts = ",".join(f"{n.address}:5432" for n in cluster.nodes)
    return (
        f"postgresql://postgres:{cluster.password}@{hosts}/postgres"
        "?target_session_attrs=read-write&connect_timeout=3"
    )


def test_migrations_follow_the_postgres_leader(scratch_root: Path) -> None:
    with ha_cluster(scratch_root / "clients-pg", synchronous=True) as cluster:
        cluster.complete()
        up = run_cli("migrate", "up", "--dsn", _dsn(cluster), "--wait", "60")
        assert up.returncode == 0, up.stderr
        old = cluster.leader()
        cluster.kill_postgres(old)
        deadline = time.monotonic() + 60
        while cluster.leader() == old and time.monotonic() < deadline:
            time.sleep(0.5)
        status = run_cli("migrate", "status", "--dsn", _dsn(cluster), "--wait", "60")
        again = run_cli("migrate", "up", "--dsn", _dsn(cluster), "--wait", "60")
        new = cluster.leader()
    assert new != old
    assert status.returncode == 0, status.stderr
    assert ", 0 pending" in status.stdout  # the new leader has every migration the old took
    assert again.returncode == 0, again.stderr
    assert again.stdout.startswith("Nothing to migrate")
    for result in (up, status, again):
        assert cluster.password not in result.stdout + result.stderr
