"""Redis under Sentinel on real binaries: Debian's redis-server and redis-sentinel, each
node a host of its own (tests/support/ha.py), every file rendered by the program's code:
the stack's redis.conf and ACL file, the replication settings and sentinel.conf
(bootstrap/ha/sentinel.py).
"""

from __future__ import annotations

import json
import subprocess
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
import redis

from bootstrap.backup.policy import Paths
from bootstrap.ha import config, sentinel
from bootstrap.redisdb.users import APP_USER, HEALTH_USER, OPS_USER
from infra.settings import StackSettings, from_config
from infra.specs import ha, redis_server
from tests.support.ha import (
    REDIS_RESUME_S,
    REQUIRES,
    RedisCluster,
    redis_failover,
    redis_sentinel_cluster,
)
from tests.support.pulumi_harness import stack_config
from tests.support.redis_server import NO_RETRY, running_redis

pytestmark = REQUIRES


def _client(address: str, user: str | None, password: str) -> redis.Redis:
    return redis.Redis(
        host=address, port=6379, username=user, password=password, socket_timeout=2,
        retry=NO_RETRY, decode_responses=True,
    )  # fmt: skip


def _assert_serves_as_the_stack(cluster: RedisCluster, address: str) -> None:
    """The stack's settings and users, on whichever node is master now."""
    values = cluster.values
    with _client(address, OPS_USER, values["redisOpsPassword"]) as ops:
        settings = {
            k: ops.config_get(k)[k] for k in ("appendonly", "maxmemory", "maxmemory-policy")
        }
        assert ops.info("replication")["role"] == "master"
    assert settings == {
        "appendonly": "yes", "maxmemory": str(256 * 1024 * 1024),
        "maxmemory-policy": "allkeys-lru",
    }  # fmt: skip
    with _client(address, None, values["redisAppPassword"]) as app:
        assert app.acl_whoami() == APP_USER  # the application's password-only login
        app.set("session:after-failover", "1", ex=60)
        with pytest.raises(redis.exceptions.NoPermissionError):
            app.flushall()
    with _client(address, HEALTH_USER, values["redisHealthPassword"]) as health:
        assert health.ping()
        with pytest.raises(redis.exceptions.NoPermissionError):
            health.get("session:after-failover")


def test_sentinel_answers_clients_and_refuses_them_admin(scratch_root: Path) -> None:
    with redis_sentinel_cluster(scratch_root / "sentinel-acl") as cluster:
        node = cluster.nodes[2]  # a Sentinel on a node without Redis
        app_password = cluster.values["redisAppPassword"]
        with redis.Redis(
            host=node.address, port=sentinel.SENTINEL_PORT, password=app_password,
            socket_timeout=2, retry=NO_RETRY, decode_responses=True,
        ) as app:  # fmt: skip
            master = app.execute_command(
                "SENTINEL", "GET-MASTER-ADDR-BY-NAME", sentinel.MASTER_NAME
            )
            assert master == [cluster.nodes[0].address, "6379"]
            for command in (("SENTINEL", "FAILOVER", sentinel.MASTER_NAME),
                            ("SENTINEL", "REMOVE", sentinel.MASTER_NAME),
                            ("SENTINEL", "SET", sentinel.MASTER_NAME, "quorum", "1"),
                            ("SENTINEL", "RESET", "*"), ("ACL", "LIST")):  # fmt: skip
                with pytest.raises(redis.exceptions.NoPermissionError):
                    app.execute_command(*command)
        with pytest.raises(redis.exceptions.AuthenticationError):
            redis.Redis(
                host=node.address, port=sentinel.SENTINEL_PORT, password="wrong",
                socket_timeout=2, retry=NO_RETRY,
            ).ping()  # fmt: skip
        # The replica refuses the application's writes; it serves only through Sentinel.
        replica = cluster.nodes[1].address
        with (
            _client(replica, None, app_password) as app,
            pytest.raises(redis.exceptions.ReadOnlyError),
        ):
            app.set("session:x", "1")


def test_a_killed_master_is_replaced_and_clients_follow_through_sentinel(
    scratch_root: Path,
) -> None:
    with redis_sentinel_cluster(scratch_root / "sentinel-kill") as cluster:
        failover = redis_failover(cluster)
        old, new, resumed = failover.old, failover.new, failover.resumed
        assert new != old
        assert resumed <= REDIS_RESUME_S, f"writes resumed after {resumed:.1f} s"
        _assert_serves_as_the_stack(cluster, new.address)
        # The old master comes back from its own rendered config, which says "primary":
        # Sentinel turns it into a replica of the new master.
        cluster.data[old.name].start()
        deadline = time.monotonic() + 30
        role: list[object] = []
        while time.monotonic() < deadline:
            with cluster.data[old.name].server.client(decode_responses=True) as ops:
                role = ops.execute_command("ROLE")
            if role[0] == "slave" and role[1] == new.address and role[3] == "connected":
                break
            time.sleep(0.2)
        assert role[:2] == ["slave", new.address], role
    print(
        f"writes resumed {resumed:.1f} s after the master was killed; {failover.acked}"
        f" acked, {len(failover.lost)} lost with the old master (asynchronous replication)"
    )


def test_a_redis_node_is_healthy_only_where_it_could_serve(scratch_root: Path) -> None:
    """The ha Redis container's healthcheck (redis_server.replicated_healthcheck), the
    gate of the rolling order, run inside each node's namespace: the master and a synced
    replica pass; the replica fails once its master is gone and passes when Sentinel has
    made it the master; the old master, back from its rendered file calling itself
    master, fails until Sentinel has made it a synced replica."""
    work = scratch_root / "sentinel-health"
    with redis_sentinel_cluster(work) as cluster:
        cluster.ready()
        password_file = work / "health-password"
        password_file.write_text(cluster.values["redisHealthPassword"])

        def healthy(node: config.Node) -> bool:
            check = redis_server.replicated_healthcheck(
                node.address, 6379, sentinel.SENTINEL_PORT, sentinel.MASTER_NAME,
                str(password_file),
            )  # fmt: skip
            assert check.test[0] == "CMD-SHELL"
            host = cluster.lan.hosts[cluster.nodes.index(node)]
            argv = host.run("sh", "-c", check.test[1])
            return subprocess.run(argv, capture_output=True, timeout=30).returncode == 0

        def until(node: config.Node, want: bool, timeout: float) -> float:
            start = time.monotonic()
            while healthy(node) != want:
                assert time.monotonic() - start < timeout, f"{node.name} never became {want}"
                time.sleep(0.1)
            return time.monotonic() - start

        old, replica = cluster.nodes[0], cluster.nodes[1]
        assert healthy(old) and healthy(replica)
        cluster.data[old.name].kill()
        failed_after = until(replica, False, timeout=5)
        promoted_after = until(replica, True, timeout=30)
        with cluster.data[replica.name].server.client(decode_responses=True) as ops:
            assert ops.execute_command("ROLE")[0] == "master"
        cluster.data[old.name].start()  # its rendered file: "primary"
        with cluster.data[old.name].server.client(decode_responses=True) as ops:
            back_as = ops.execute_command("ROLE")[0]
        stale = not healthy(old)
        rejoined_after = until(old, True, timeout=60)
        with cluster.data[old.name].server.client(decode_responses=True) as ops:
            role = ops.execute_command("ROLE")
    assert back_as == "master" and stale, (back_as, stale)
    assert role[0] == "slave" and role[1] == replica.address, role
    print(
        f"replica unhealthy {failed_after:.1f} s after its master was killed, healthy again"
        f" (promoted) {promoted_after:.1f} s later; the old master back as a stale master,"
        f" unhealthy until a synced replica {rejoined_after:.1f} s later"
    )


def _ha_settings(cluster: RedisCluster) -> StackSettings:
    """prod-ha's settings, its nodes the cluster's, the third listed first: Redis on all
    three (the cluster runs Redis on the first two; the tests may start one on the third),
    Postgres on the first two (the third keeps the backup repository)."""
    nodes = [
        {"name": n.name, "address": n.address, "dockerHost": f"ssh://ops@{n.address}",
         "postgres": n != cluster.nodes[2], "redis": True}
        for n in (cluster.nodes[2], *cluster.nodes[:2])
    ]  # fmt: skip
    config = {**stack_config("prod-ha"), "bo1-infra:haNodes": json.dumps(nodes)}
    return from_config("prod-ha", config)


def test_the_repository_node_snapshots_redis_from_the_master_the_sentinels_name(
    scratch_root: Path,
) -> None:
    """The repository node's snapshot job as the program renders it (a job per Redis node,
    the one run the master's as the Sentinels name it), run from outside the Redis nodes,
    before and after the master dies. The node listed first runs an empty Redis that
    calls itself master, as a node rebuilt empty does until Sentinel turns it into a
    replica, and its Sentinel, asked first, names it (a stale Sentinel): the others
    outvote it, and the empty dataset is never taken."""
    work = scratch_root / "sentinel-snapshot"
    with redis_sentinel_cluster(work / "redis") as cluster, ExitStack() as impostor:
        cluster.ready()
        with cluster.sentinel_client().master_for(sentinel.MASTER_NAME) as app:
            app.set("session:kept", "1")
            app.set("cache:x", "2")
            app.wait(1, 5000)  # on the replica too
        settings = _ha_settings(cluster)
        acl = work / "impostor" / "users.acl"
        acl.parent.mkdir(parents=True)
        acl.write_text(redis_server.render_acl(cluster.values, settings.key_families(), ha=True))
        empty = impostor.enter_context(running_redis(
            acl.parent, f"aclfile {acl}\n", cluster.values["redisOpsPassword"], OPS_USER,
            netns=cluster.lan.hosts[2],
        ))  # fmt: skip
        with empty.server.client(decode_responses=True) as ops:
            assert ops.execute_command("ROLE")[0] == "master" and ops.dbsize() == 0
        with redis.Redis(
            host=cluster.nodes[2].address, port=sentinel.SENTINEL_PORT,
            username=sentinel.SENTINEL_USER, password=cluster.values["redisSentinelPassword"],
            socket_timeout=2, retry=NO_RETRY, decode_responses=True,
        ) as stale:  # fmt: skip
            stale.execute_command("SENTINEL", "REMOVE", sentinel.MASTER_NAME)
            stale.execute_command("SENTINEL", "MONITOR", sentinel.MASTER_NAME,
                                  cluster.nodes[2].address, "6379", "2")  # fmt: skip
            named = stale.sentinel_get_master_addr_by_name(sentinel.MASTER_NAME)
        assert named[0] == cluster.nodes[2].address
        paths = Paths(config_dir=str(work / "conf"), repo=str(work / "repo"))
        password = work / "ops-password"
        password.write_text(cluster.values["redisOpsPassword"])
        jobs = ha.redis_snapshot_files(settings, paths, str(password))
        for job in jobs:
            Path(job.path).parent.mkdir(parents=True, exist_ok=True)
            Path(job.path).write_text(job.content)
            Path(job.path).chmod(int(job.mode, 8))
        snapshot = f"{paths.config_dir}/bo1-redis-snapshot"
        first = subprocess.run([snapshot], capture_output=True, text=True, timeout=120)
        cluster.data[cluster.nodes[0].name].kill()  # the master
        second = subprocess.run([snapshot], capture_output=True, text=True, timeout=120)
    outputs = first.stdout + first.stderr + second.stdout + second.stderr
    assert cluster.values["redisOpsPassword"] not in outputs
    assert first.returncode == 0 and second.returncode == 0, outputs
    reports = [json.loads(line) for line in second.stdout.splitlines()]
    # the Sentinels still name node0, gone, until they promote node1, which then gives it
    assert reports[-1]["ok"] and not any(r["ok"] for r in reports[:-1]), reports
    assert "Connection refused" in reports[0]["detail"], reports
    assert all(json.loads(line)["ok"] for line in first.stdout.splitlines()), first.stdout
    kept = sorted(Path(paths.redis_dir).glob("dump-*.rdb"))
    assert len(kept) == 2
    for rdb in kept:  # each one a whole, readable dataset
        check = subprocess.run(["redis-check-rdb", str(rdb)], capture_output=True, text=True)
        assert check.returncode == 0 and "2 keys read" in check.stdout, check.stdout
