"""The rendered HA files, read as text: what the failover tests rely on without showing.

The behaviour (elections, failovers, partitions) is proven on the real binaries by
tests/test_ha_patroni.py and tests/test_ha_sentinel.py with these same renderings.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from bootstrap import paths
from bootstrap.ha import config, sentinel
from bootstrap.ha.tls import Tls
from infra.specs import redis_server
from tests.support.cli import assert_one_line_error, run_cli
from tests.support.ha import _settings

NODES = tuple(config.Node(f"node{i}", f"10.0.0.{10 + i}") for i in range(3))
VALUES = {
    key: f"pw-{key}"
    for key in ("redisAppPassword", "redisOpsPassword", "redisHealthPassword",
                "redisReplicaPassword", "redisSentinelPassword")
}  # fmt: skip


def test_setup_installs_the_patroni_release_the_code_names() -> None:
    script = (paths.ROOT / "scripts" / "setup-debian.sh").read_text()
    pinned = re.search(r"^PATRONI_VERSION=(\S+)", script, re.M)
    assert pinned is not None and pinned.group(1) == config.PATRONI_VERSION


def test_patroni_config_names_every_etcd_member_and_this_nodes_addresses() -> None:
    pg = config.PostgresNode(data_dir="/d", bin_dir="/b")
    passwords = {"superuser": "s", "replication": "r", "rest": "p"}
    rendered = json.loads(
        config.patroni_config(
            "bo1-prod", NODES[1], NODES, pg, passwords, synchronous=True, tls=Tls()
        )
    )
    assert rendered["etcd3"]["hosts"] == "10.0.0.10:2379,10.0.0.11:2379,10.0.0.12:2379"
    assert rendered["etcd3"]["protocol"] == "https"  # etcd asks each client's certificate
    assert (rendered["etcd3"]["cert"], rendered["etcd3"]["key"]) == (Tls().cert, Tls().key)
    assert rendered["postgresql"]["connect_address"] == "10.0.0.11:5432"
    assert rendered["restapi"]["connect_address"] == "10.0.0.11:8008"
    assert rendered["restapi"]["authentication"] == {"username": "patroni", "password": "p"}
    assert rendered["bootstrap"]["dcs"]["synchronous_mode"] is True
    assert rendered["bootstrap"]["dcs"]["ttl"] == 20  # Patroni's floor
    assert rendered["bootstrap"]["dcs"]["primary_start_timeout"] == 0  # sync: fail over at once


def test_only_a_replica_is_told_whom_to_follow_and_each_announces_its_node() -> None:
    primary = sentinel.replication_conf(NODES[0], NODES[0], VALUES, 6379)
    replica = sentinel.replication_conf(NODES[1], NODES[0], VALUES, 6379)
    assert "replicaof" not in primary
    assert "replicaof 10.0.0.10 6379" in replica.splitlines()
    assert "replica-announce-ip 10.0.0.11" in replica.splitlines()
    assert f"masteruser {sentinel.REPLICA_USER}" in replica.splitlines()


def test_the_replication_include_comes_before_everything_it_could_override() -> None:
    conf = redis_server.render_conf(_settings(), include="/etc/redis/replication.conf")
    assert conf.splitlines()[0] == "include /etc/redis/replication.conf"


def test_the_data_nodes_acl_adds_the_replica_and_sentinel_users_only_under_ha() -> None:
    families = _settings().key_families()
    single = redis_server.render_acl(VALUES, families)
    ha = redis_server.render_acl(VALUES, families, ha=True)
    assert sentinel.REPLICA_USER not in single and sentinel.SENTINEL_USER not in single
    assert ha.startswith(single.rstrip("\n"))
    for password in VALUES.values():  # hashes only, in either file
        assert password not in ha


def test_each_sentinel_keeps_one_identity_per_stack_and_node() -> None:
    ids = {sentinel.myid("bo1-prod", node) for node in NODES}
    assert len(ids) == 3 and all(re.fullmatch(r"[0-9a-f]{40}", i) for i in ids)
    assert sentinel.myid("bo1-prod", NODES[0]) == sentinel.myid("bo1-prod", NODES[0])
    assert sentinel.myid("bo1-staging", NODES[0]) != sentinel.myid("bo1-prod", NODES[0])


def test_sentinel_conf_monitors_the_primary_with_the_stack_timing() -> None:
    conf = sentinel.sentinel_conf(
        "bo1-prod", NODES[2], NODES[0], VALUES, redis_port=6379, data_dir="/data"
    ).splitlines()
    assert "sentinel monitor bo1 10.0.0.10 6379 2" in conf
    assert "sentinel down-after-milliseconds bo1 2000" in conf
    assert "sentinel announce-ip 10.0.0.12" in conf
    assert "bind 10.0.0.12 127.0.0.1" in conf
    # the clients' users are hashed; only the Sentinels' own login must be plaintext
    assert VALUES["redisAppPassword"] not in "\n".join(conf)
    assert VALUES["redisOpsPassword"] not in "\n".join(conf)


SENTINELS = "redis+sentinel://bo1_ops:Ops-Pw-42@10.0.0.10:26379,10.0.0.11:26379/bo1"


@pytest.mark.parametrize(
    ("dsn", "redis_url", "extra", "says"),
    [
        ("postgresql://postgres@10.0.0.10:5432,10.0.0.11:5432/bo1",
         "redis://bo1_ops:Ops-Pw-42@10.0.0.10:6379/0", (), "an ha stack needs both"),
        ("postgresql://postgres@10.0.0.10:5432/bo1", SENTINELS, (), "an ha stack needs both"),
        ("postgresql://postgres@10.0.0.10:5432,10.0.0.11:5433/bo1", SENTINELS, (),
         "listen on different ports"),
        ("postgresql://postgres@10.0.0.10:5432,10.0.0.11:5432/bo1", SENTINELS,
         ("--docker-host", "ssh://ops@10.0.0.10"), "reaches one Docker host"),
        ("host=10.0.0.10,10.0.0.11 port=1,2,3", SENTINELS, (), "2 host(s) and 3 port(s)"),
    ],
)  # fmt: skip
def test_inputs_that_mix_the_topologies_are_refused_before_connecting(
    dsn: str, redis_url: str, extra: tuple[str, ...], says: str, tmp_path: Path
) -> None:
    env_file = tmp_path / "app.env"
    env_file.write_text("")
    env_file.chmod(0o600)
    # 10.0.0.0/24 is nowhere here: a refusal that tried to connect would time out instead
    for verb, more in (
        ("status", ()),
        ("verify", ("--env-file", str(env_file))),
        ("bootstrap", ("--env-file", str(env_file))),
    ):
        result = run_cli(
            verb, "--stack", "prod-ha", "--dsn", dsn, *extra, *more,
            env={"REDIS_URL": redis_url, **({} if verb != "bootstrap" else _boot_env())},
            timeout=30,
        )  # fmt: skip
        line = assert_one_line_error(result, says)
        assert "Ops-Pw-42" not in line


def _boot_env() -> dict[str, str]:
    from tests.support.stack_values import fresh_secrets, secret_env

    return secret_env(fresh_secrets("Superuser-Pw-1"))


def test_the_rekey_command_is_the_leaders_and_bad_json_is_one_clear_line() -> None:
    from bootstrap.errors import UsageError
    from bootstrap.ops.bootstrap import _local_psql

    table = '{"10.0.0.11": "psql on a", "10.0.0.12": "psql on b"}'
    assert _local_psql(table, "10.0.0.12") == "psql on b"
    assert _local_psql(table, "10.0.0.99") == ""  # not a node of the map: no re-key
    assert _local_psql("docker exec -i x psql", "anywhere") == "docker exec -i x psql"
    with pytest.raises(UsageError) as refused:
        _local_psql('{"10.0.0.11": ', "10.0.0.11")
    assert str(refused.value).startswith("BO1_POSTGRES_LOCAL_PSQL is not valid JSON")


def test_a_multi_host_dsn_is_described_host_by_host() -> None:
    from bootstrap.postgres.connect import describe_target

    described = describe_target("postgresql://postgres:pw@a:5432,b:5433/bo1")
    assert described == "a:5432,b:5433/bo1 as postgres"
