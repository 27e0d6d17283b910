"""The ha topology in the real Pulumi program, under mocks (the example stack prod-ha):
every resource on its node's own Docker provider, what runs where, the rendered files
the failover tests prove, and no secret in a plain input."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pulumi.runtime import rpc

from bootstrap.ha import sentinel
from infra.settings import from_config
from infra.specs.ha import NODE_TLS
from tests.support.pulumi_harness import (
    ProgramFailed,
    ProgramRun,
    generated_password,
    generated_private_key,
    plain_strings,
    resolve,
    run_program,
    stack_config,
    unwrap,
)

STACK = "prod-ha"
CONTAINER = "docker:index/container:Container"


@pytest.fixture(scope="module")
def run() -> ProgramRun:
    return run_program(STACK, stack_config(STACK))


def _containers(run: ProgramRun) -> list[Any]:
    return run.of_type(CONTAINER)


def _by_name(run: ProgramRun, name: str) -> Any:
    (match,) = [c for c in _containers(run) if unwrap(c.inputs)["name"] == name]
    return match


def _upload(box: Any, path: str) -> str:
    (content,) = [u["content"] for u in unwrap(box.inputs["uploads"]) if u["file"] == path]
    return str(content)


def test_each_node_runs_what_its_roles_say(run: ProgramRun) -> None:
    names = sorted(unwrap(c.inputs)["name"] for c in _containers(run))
    expected = sorted(
        [f"bo1-{STACK}-{c}-{node}" for node in ("db-a", "db-b")
         for c in ("etcd", "postgres", "haproxy", "pooler", "pgbackrest", "redis", "sentinel")]
        + [f"bo1-{STACK}-{c}-witness" for c in ("etcd", "sentinel", "backup")]
    )  # fmt: skip
    assert names == expected


def test_every_docker_resource_is_created_on_its_own_nodes_provider(run: ProgramRun) -> None:
    providers = {r.name: r.urn for r in run.of_type("pulumi:providers:docker")}
    assert sorted(providers) == [f"bo1-{STACK}-{n}-docker" for n in ("db-a", "db-b", "witness")]
    docker_resources = [
        r for r in run.registrations if r.custom and r.type.startswith("docker:index")
    ]
    assert docker_resources
    for resource in docker_resources:
        node = next(n for n in ("db-a", "db-b", "witness") if f"-{n}-" in f"{resource.name}-")
        assert resource.provider.startswith(providers[f"bo1-{STACK}-{node}-docker"] + "::"), (
            resource.name, resource.provider
        )  # fmt: skip


def test_every_container_listens_on_its_host_network(run: ProgramRun) -> None:
    for box in _containers(run):
        inputs = unwrap(box.inputs)
        assert inputs["networkMode"] == "host", inputs["name"]
        assert not inputs.get("ports") and not inputs.get("networksAdvanced"), inputs["name"]


def test_the_rendered_files_name_every_node_and_synchronous_mode(run: ProgramRun) -> None:
    settings = from_config(STACK, stack_config(STACK))
    patroni = json.loads(
        _upload(_by_name(run, f"bo1-{STACK}-postgres-db-b"), "/etc/patroni/patroni.yml")
    )
    assert patroni["etcd3"]["hosts"] == "10.0.0.11:2379,10.0.0.12:2379,10.0.0.13:2379"
    assert patroni["postgresql"]["connect_address"] == f"10.0.0.12:{settings.postgres_port}"
    assert patroni["bootstrap"]["dcs"]["synchronous_mode"] is True
    assert (patroni["etcd3"]["protocol"], patroni["etcd3"]["key"]) == ("https", NODE_TLS.key)
    etcd_box_resource = _by_name(run, f"bo1-{STACK}-etcd-witness")
    etcd_box = unwrap(etcd_box_resource.inputs)
    etcd = etcd_box["command"]
    assert (
        "--initial-cluster=db-a=https://10.0.0.11:2380,db-b=https://10.0.0.12:2380,"
        "witness=https://10.0.0.13:2380" in etcd
    )
    # mutual TLS on both ports; started as root only to hand the key to nobody
    assert {"--client-cert-auth", "--peer-client-cert-auth", f"--key-file={NODE_TLS.key}"} <= set(
        etcd
    )
    assert etcd[etcd.index("key-handover") + 1 :][:2] == ["nobody", "nogroup"]
    # through the entry point that rejoins a rebuilt node (tests/test_ha_patroni.py)
    assert etcd[etcd.index("key-handover") + 5 :][:3] == ["sh", "/etc/bo1/etcd-member", "etcd"]
    entry = _upload(etcd_box_resource, "/etc/bo1/etcd-member").splitlines()
    assert "name=witness" in entry and "data_dir=/var/lib/bo1-etcd" in entry
    assert "others=https://10.0.0.11:2379,https://10.0.0.12:2379" in entry
    assert etcd_box.get("user", "") == ""
    replica = _upload(
        _by_name(run, f"bo1-{STACK}-redis-db-b"), "/usr/local/etc/redis/replication.conf"
    )
    assert f"replicaof 10.0.0.11 {settings.redis_port}" in replica.splitlines()
    primary = _upload(
        _by_name(run, f"bo1-{STACK}-redis-db-a"), "/usr/local/etc/redis/replication.conf"
    )
    assert "replicaof" not in primary
    sentinel_conf = _upload(
        _by_name(run, f"bo1-{STACK}-sentinel-witness"), "/usr/local/etc/redis/sentinel.conf"
    )
    assert f"sentinel monitor bo1 10.0.0.11 {settings.redis_port} 2" in sentinel_conf.splitlines()
    pooler_ini = _upload(_by_name(run, f"bo1-{STACK}-pooler-db-a"), "/etc/pgbouncer/pgbouncer.ini")
    assert "listen_addr = 10.0.0.11,127.0.0.1" in pooler_ini.splitlines()
    assert f"listen_port = {settings.pooler_port}" in pooler_ini.splitlines()
    # the pooler's server connections go to its node's HAProxy, which finds the leader
    assert "bo1 = host=127.0.0.1 port=5000 dbname=bo1" in pooler_ini.splitlines()
    haproxy_cfg = _upload(_by_name(run, f"bo1-{STACK}-haproxy-db-b"), "/etc/haproxy/haproxy.cfg")
    assert "    bind 127.0.0.1:5000" in haproxy_cfg.splitlines()
    assert [line for line in haproxy_cfg.splitlines() if line.startswith("    server ")] == [
        f"    server db-a 10.0.0.11:{settings.postgres_port} check port 8008",
        f"    server db-b 10.0.0.12:{settings.postgres_port} check port 8008",
    ]  # the Postgres nodes only, checked on Patroni's REST API
    assert patroni["bootstrap"]["post_bootstrap"].endswith("""-c 'CREATE DATABASE "bo1"'""")


def test_no_secret_is_in_a_plain_input(run: ProgramRun) -> None:
    keys = [r.name.removeprefix(f"bo1-{STACK}-secrets-")
            for r in run.of_type("random:index/randomPassword:RandomPassword")]  # fmt: skip
    assert {"postgresReplicationPassword", "redisReplicaPassword", "redisSentinelPassword"} <= set(
        keys
    )
    values = [generated_password(f"bo1-{STACK}-secrets-{key}") for key in keys]
    for resource in run.registrations:
        for value in values:
            assert not any(value in text for text in plain_strings(resource.inputs)), resource.name
    for box in _containers(run):
        if any(u["file"].endswith((".yml", ".acl", "sentinel.conf", "replication.conf"))
               for u in unwrap(box.inputs["uploads"])):  # fmt: skip
            assert rpc.is_rpc_secret(box.inputs["uploads"]), box.name


def test_clients_get_a_multi_host_url_and_the_sentinels(run: ProgramRun) -> None:
    settings = from_config(STACK, stack_config(STACK))
    url, secret = resolve(run.outputs["databaseUrl"])
    assert secret
    hosts = f"10.0.0.11:{settings.pooler_port},10.0.0.12:{settings.pooler_port}"
    assert f"@{hosts}/bo1?connect_timeout=5&tcp_user_timeout=5000" in url
    assert run.outputs["poolerHosts"] == [f"10.0.0.1{i}:{settings.pooler_port}" for i in (1, 2)]
    assert run.outputs["redisSentinels"] == [
        f"10.0.0.1{i}:{sentinel.SENTINEL_PORT}" for i in (1, 2, 3)
    ]
    assert run.outputs["redisSentinelMaster"] == "bo1"


@pytest.mark.parametrize(
    ("change", "says"),
    [
        (lambda nodes: nodes[:2], "odd number of haNodes, at least 3"),
        (lambda nodes: [*nodes, {**nodes[0], "name": "db-d"}], "odd number"),
        (lambda nodes: [nodes[0], {**nodes[1], "address": nodes[0]["address"]}, nodes[2]],
         "address 10.0.0.11 is used twice"),
        (lambda nodes: [nodes[0], {**nodes[1], "postgres": False}, nodes[2]],
         "at least 2 nodes need postgres: true"),
    ],
)  # fmt: skip
def test_a_bad_node_list_stops_the_run_before_any_resource(change: Any, says: str) -> None:
    config = stack_config(STACK)
    nodes = json.loads(config["bo1-infra:haNodes"])
    config["bo1-infra:haNodes"] = json.dumps(change(nodes))
    with pytest.raises(ProgramFailed) as failed:
        run_program(STACK, config)
    assert says in str(failed.value)
    assert failed.value.registrations == []


def test_a_docker_host_setting_on_an_ha_stack_is_refused() -> None:
    with pytest.raises(ProgramFailed) as failed:
        run_program(STACK, {**stack_config(STACK), "docker:host": "ssh://x@y"})
    assert "names each node's Docker host in haNodes" in str(failed.value)


def test_single_stacks_get_no_ha_secret(run: ProgramRun) -> None:
    single = run_program("prod", stack_config("prod"))
    keys = {r.name for r in single.of_type("random:index/randomPassword:RandomPassword")}
    assert not any("Replication" in k or "Sentinel" in k or "Replica" in k for k in keys)


def test_the_app_env_names_every_pooler_and_the_sentinels(run: ProgramRun) -> None:
    settings = from_config(STACK, stack_config(STACK))
    env, secret = resolve(run.outputs["appEnv"])
    assert secret
    pooled = f"10.0.0.11:{settings.pooler_port},10.0.0.12:{settings.pooler_port}"
    direct = f"10.0.0.11:{settings.postgres_port},10.0.0.12:{settings.postgres_port}"
    # any node's pooler reaches the leader: no target_session_attrs (HIGH_AVAILABILITY.md)
    assert f"@{pooled}/bo1?connect_timeout=5&tcp_user_timeout=5000" in env["DATABASE_URL"]
    assert f"@{direct}/bo1?target_session_attrs=read-write" in env["DATABASE_DIRECT_URL"]
    assert f"@{direct}/bo1?" in env["DATABASE_SERVICE_URL"]
    assert env["REDIS_SENTINELS"] == ",".join(f"10.0.0.1{i}:26379" for i in (1, 2, 3))
    assert env["REDIS_SENTINEL_MASTER"] == "bo1"
    # no fixed Redis address: the master moves
    assert env["REDIS_HOST"] == env["REDIS_PORT"] == env["REDIS_URL"] == ""
    assert env["REDIS_PASSWORD"] == generated_password(f"bo1-{STACK}-secrets-redisAppPassword")


def test_the_bootstrap_hook_finds_the_leader_and_the_master_itself(run: ProgramRun) -> None:
    settings = from_config(STACK, stack_config(STACK))
    (hook,) = run.of_type("command:local:Command")
    environment = unwrap(hook.inputs)["environment"]
    # every Postgres node (libpq keeps the leader) and the Sentinels, no single server
    assert environment["PGHOST"] == "10.0.0.11,10.0.0.12"
    assert environment["PGPORT"] == str(settings.postgres_port)
    sentinels = ",".join(f"10.0.0.1{i}:{sentinel.SENTINEL_PORT}" for i in (1, 2, 3))
    ops_password = generated_password(f"bo1-{STACK}-secrets-redisOpsPassword")
    assert environment["REDIS_URL"] == f"redis+sentinel://bo1_ops:{ops_password}@{sentinels}/bo1"
    assert "DOCKER_HOST" not in environment
    # a rotated superuser password is re-keyed on the leader: each node's own Patroni container
    local = json.loads(environment["BO1_POSTGRES_LOCAL_PSQL"])
    names = {unwrap(c.inputs)["name"] for c in _containers(run)}
    assert sorted(local) == ["10.0.0.11", "10.0.0.12"]
    for address, node in (("10.0.0.11", "db-a"), ("10.0.0.12", "db-b")):
        argv = local[address].split()
        assert argv[:3] == ["docker", "-H", f"ssh://deploy@{address}"], argv
        assert argv[3:7] == ["exec", "-i", "-u", "postgres"] and argv[7] in names, argv
        assert argv[7] == f"bo1-{STACK}-postgres-{node}"
    assert rpc.is_rpc_secret(hook.inputs["environment"]) or rpc.is_rpc_secret(
        hook.inputs["environment"]["REDIS_URL"]
    )
    ready = {unwrap(c.inputs)["name"]: c.urn for c in _containers(run)}
    for node in ("db-a", "db-b"):  # after each node's Postgres, pooler and Redis
        for component in ("postgres", "pooler", "redis"):
            assert ready[f"bo1-{STACK}-{component}-{node}"] in hook.dependencies
    assert ready[f"bo1-{STACK}-sentinel-witness"] in hook.dependencies


def test_backups_archive_from_every_postgres_node_to_the_witness_over_tls(run: ProgramRun) -> None:
    settings = from_config(STACK, stack_config(STACK))
    cipher = generated_password(f"bo1-{STACK}-secrets-pgbackrestCipherPassword")
    patroni = json.loads(
        _upload(_by_name(run, f"bo1-{STACK}-postgres-db-a"), "/etc/patroni/patroni.yml")
    )
    local = patroni["postgresql"]["parameters"]
    assert local["archive_mode"] == "on"
    assert local["archive_command"].startswith(
        "pgbackrest --config=/etc/pgbackrest/pgbackrest.conf"
    )
    node_conf = _upload(
        _by_name(run, f"bo1-{STACK}-postgres-db-a"), "/etc/pgbackrest/pgbackrest.conf"
    )
    lines = node_conf.splitlines()
    assert "repo1-host=10.0.0.13" in lines and "repo1-host-type=tls" in lines
    assert f"repo1-cipher-pass={cipher}" in lines
    assert "tls-server-auth=witness=bo1" in lines  # only the repository host may ask
    assert f"pg1-port={settings.postgres_port}" in lines
    # the node's TLS server reads the same data volume Patroni writes
    pgbackrest = _by_name(run, f"bo1-{STACK}-pgbackrest-db-b")
    server = unwrap(pgbackrest.inputs)
    volumes = {v["containerPath"]: v["volumeName"] for v in server["volumes"]}
    assert volumes["/var/lib/postgresql/patroni"] == f"bo1-{STACK}-pgdata-db-b"
    # the daily drill: cron on every Postgres node, the wrapper runs it on the leader's only
    cron = _upload(pgbackrest, "/etc/cron.d/bo1-backups").splitlines()
    assert cron[-1].startswith(
        "45 4 * * * root runuser -u postgres -- /etc/pgbackrest/bo1-leader-drill"
    )
    wrapper = _upload(pgbackrest, "/etc/pgbackrest/bo1-leader-drill")
    assert "drill=/etc/pgbackrest/bo1-drill" in wrapper.splitlines()
    drill = _upload(pgbackrest, "/etc/pgbackrest/bo1-drill").splitlines()
    assert "drill_dir=/var/lib/postgresql/patroni/drill" in drill  # on the data volume
    assert f"source_port={settings.postgres_port}" in drill
    assert server["command"][:3] == ["sh", "-c", 'cron && exec "$@"'] and server["init"] is True
    assert server["memory"] == settings.postgres_memory_mb
    repo = _upload(_by_name(run, f"bo1-{STACK}-backup-witness"), "/etc/pgbackrest/pgbackrest.conf")
    lines = repo.splitlines()
    assert [line for line in lines if line.startswith("pg") and "-host=" in line] == [
        "pg1-host=10.0.0.11",
        "pg2-host=10.0.0.12",
    ]
    assert {"tls-server-auth=db-a=bo1", "tls-server-auth=db-b=bo1"} <= set(lines)
    # the Redis snapshot: a job per Redis node, the daily one runs the master's, as the
    # Sentinels (every node's) name it
    backup_box = _by_name(run, f"bo1-{STACK}-backup-witness")
    schedule = _upload(backup_box, "/etc/cron.d/bo1-backups")
    assert "/etc/pgbackrest/bo1-redis-snapshot >>" in schedule
    daily = set(_upload(backup_box, "/etc/pgbackrest/bo1-redis-snapshot").splitlines())
    assert {
        "sources='10.0.0.11=/etc/pgbackrest/bo1-redis-snapshot-db-a"
        " 10.0.0.12=/etc/pgbackrest/bo1-redis-snapshot-db-b'",
        "sentinels='10.0.0.11:26379 10.0.0.12:26379 10.0.0.13:26379'",
        "agree=2",
        "user=bo1_ops",
    } <= daily, daily
    job = _upload(backup_box, "/etc/pgbackrest/bo1-redis-snapshot-db-b").splitlines()
    assert {"redis_host=10.0.0.12", f"redis_port={settings.redis_port}"} <= set(job)
    assert run.outputs["backupRepositoryHost"] == "witness"


def test_every_private_key_reaches_its_node_only_and_only_as_a_secret(run: ProgramRun) -> None:
    keys = {
        node: generated_private_key(f"bo1-{STACK}-tls-{node}-key")
        for node in ("db-a", "db-b", "witness")
    }
    ca_key = generated_private_key(f"bo1-{STACK}-tls-ca-key")  # signs, and goes nowhere else
    for resource in run.registrations:
        for key in [*keys.values(), ca_key]:
            assert not any(key in text for text in plain_strings(resource.inputs)), resource.name
    for box in _containers(run):
        inputs = unwrap(box.inputs)
        node = next(n for n in keys if inputs["name"].endswith(n))
        uploaded = "".join(str(u["content"]) for u in inputs.get("uploads", []))
        assert ca_key not in uploaded, inputs["name"]
        for other, key in keys.items():
            assert (key in uploaded) == (
                other == node
                and any(c in inputs["name"] for c in ("etcd", "postgres", "pgbackrest", "backup"))
            ), (inputs["name"], other)


def test_backups_on_an_ha_stack_need_a_node_without_postgres() -> None:
    config = stack_config(STACK)
    nodes = json.loads(config["bo1-infra:haNodes"])
    config["bo1-infra:haNodes"] = json.dumps([{**n, "postgres": True} for n in nodes])
    with pytest.raises(ProgramFailed) as failed:
        run_program(STACK, config)
    assert "keep their repository on a node without Postgres" in str(failed.value)
    assert failed.value.registrations == []


def test_nodes_roll_one_after_another_except_etcd(run: ProgramRun) -> None:
    """Each rolling service's container waits for the previous node's (created, and on a
    replacement recreated, healthy first); etcd's members do not wait for each other (a
    member is healthy only with a majority)."""

    def deps(component: str, node: str) -> set[str]:
        return set(_by_name(run, f"bo1-{STACK}-{component}-{node}").dependencies)

    def urn(component: str, node: str) -> str:
        return str(_by_name(run, f"bo1-{STACK}-{component}-{node}").urn)

    containers = {str(c.urn) for c in _containers(run)}
    for component in ("postgres", "haproxy", "pooler", "pgbackrest", "redis"):
        own_etcd = {urn("etcd", n) for n in ("db-a", "db-b")}
        assert deps(component, "db-b") & containers - own_etcd == {urn(component, "db-a")}
        assert not deps(component, "db-a") & containers - own_etcd, component
    # Sentinel runs on all three: the witness's waits for db-b's, which waits for db-a's
    assert deps("sentinel", "witness") & containers == {urn("sentinel", "db-b")}
    assert deps("sentinel", "db-b") & containers == {urn("sentinel", "db-a")}
    for node in ("db-a", "db-b", "witness"):
        assert not deps("etcd", node) & containers, node
    # each Patroni also waits for its own node's etcd (a majority answering)
    for node in ("db-a", "db-b"):
        assert urn("etcd", node) in deps("postgres", node), node
    patroni = unwrap(_by_name(run, f"bo1-{STACK}-postgres-db-b").inputs)
    assert patroni["healthcheck"]["startPeriod"] == "1h0m0s"  # a replica's clone first
    # the gates: Patroni's readiness (streaming, within the failover lag), Redis's link
    assert patroni["healthcheck"]["tests"][-1] == "http://10.0.0.12:8008/readiness"
    redis = unwrap(_by_name(run, f"bo1-{STACK}-redis-db-b").inputs)
    assert "master_link_status:up" in redis["healthcheck"]["tests"][-1]


@pytest.mark.parametrize(("key", "port", "owner"), [
    ("bo1-infra:redisPort", "26379", "Sentinel"), ("bo1-infra:poolerPort", "5000", "HAProxy"),
    ("bo1-infra:postgresPort", "2379", "etcd (clients)"),
])  # fmt: skip
def test_a_port_an_ha_node_already_uses_is_refused(key: str, port: str, owner: str) -> None:
    with pytest.raises(ProgramFailed) as failed:
        run_program(STACK, {**stack_config(STACK), key: port})
    assert f"{port} is {owner}'s on every ha node; use another" in str(failed.value)
    assert failed.value.registrations == []


def test_a_single_host_stack_may_use_those_ports() -> None:
    # published from containers of their own: nothing else listens there
    settings = from_config("prod", {**stack_config("prod"), "bo1-infra:poolerPort": "5000"})
    assert settings.pooler_port == 5000
