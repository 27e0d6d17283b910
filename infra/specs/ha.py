"""The containers of an ``ha`` stack, node by node (pure): etcd, Patroni with Postgres,
HAProxy and PgBouncer, Redis and Sentinel.

Every one runs on its Docker host's own network and listens on its node's address (and
loopback): the addresses the other nodes and the clients use are the ones the
processes bind and announce, exactly as in the failover tests, which run these same
renderings (bootstrap/ha/) on the real binaries with one network namespace per node.
Each Postgres node's PgBouncer reaches the leader through the node's HAProxy, which asks
Patroni who leads (bootstrap/ha/haproxy.py): every pooler serves writes, before and after
a failover.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from dataclasses import replace

from bootstrap.backup import policy as backup_policy
from bootstrap.ha import backup, config, haproxy, sentinel, tls
from bootstrap.pooler import config as pooler_config
from bootstrap.redisdb.users import OPS_USER
from infra.settings import HaNodeSetting, StackSettings
from infra.specs import backup as backup_spec
from infra.specs import pooler, postgres_server, redis_server
from infra.specs.image import ha_image_build
from infra.specs.model import ContainerSpec, File, Healthcheck, Mount, SecretFile

PATRONI = "/opt/patroni/bin/patroni"  # infra/images/postgres-ha/Dockerfile
PATRONI_PYTHON = "/opt/patroni/bin/python3"  # Patroni's venv, in the same image
PATRONI_CONF = "/etc/patroni/patroni.yml"
PATRONI_HOME = "/var/lib/postgresql/patroni"  # the data volume; Postgres's data below it
ETCD_DATA = "/var/lib/bo1-etcd"
REPLICATION_CONF = "/usr/local/etc/redis/replication.conf"
SENTINEL_TEMPLATE = "/usr/local/etc/redis/sentinel.conf"
SENTINEL_DATA = "/data"
HAPROXY_CFG = "/etc/haproxy/haproxy.cfg"
NODE_TLS = tls.Tls()  # the node's certificate, in every container that speaks TLS
REPOSITORY_ENTRY = "/etc/pgbackrest/bo1-repository"
CRONTAB = "/etc/cron.d/bo1-backups"
TLS_CA = "tls:ca"  # the names infra/components/ha_tls.py gives its values


def tls_cert(node: str) -> str:
    return f"tls:{node}.crt"


def tls_key(node: str) -> str:
    return f"tls:{node}.key"


def _node(me: HaNodeSetting) -> config.Node:
    return config.Node(me.name, me.address)


def nodes(settings: StackSettings) -> tuple[config.Node, ...]:
    return tuple(_node(n) for n in settings.ha_nodes)


def redis_primary(settings: StackSettings) -> config.Node:
    """Where Redis starts as primary: the first node marked redis (Sentinel moves it)."""
    return _node(next(n for n in settings.ha_nodes if n.redis))


def _labels(settings: StackSettings, component: str, me: HaNodeSetting) -> dict[str, str]:
    return {"com.bo1.stack": settings.stack, "com.bo1.component": component,
            "com.bo1.node": me.name}  # fmt: skip


def container_name(settings: StackSettings, component: str, me: HaNodeSetting) -> str:
    return f"{settings.prefix}-{component}-{me.name}"


def _base(settings: StackSettings, component: str, me: HaNodeSetting) -> dict[str, object]:
    return {
        "name": container_name(settings, component, me),
        "alias": component,
        "env": {},
        "port": None,
        "labels": _labels(settings, component, me),
        "host_network": True,
    }


# Services whose containers are created, and replaced, one node after another: each waits
# until the previous node's is healthy (the provider's wait), so one `pulumi up` that
# changes them all (a new image, a renewed certificate) never takes every Patroni or Redis
# down at once. Not etcd: a member is healthy only once a majority runs, so a chain would
# never start; its members go together, and Patroni's failsafe mode keeps the leader
# (bootstrap/ha/config.py).
ROLLING = frozenset({"postgres", "haproxy", "pooler", "pgbackrest", "redis", "sentinel"})
# ...and Patroni also waits for its own node's etcd to be healthy (a majority answering):
# one `up` that replaces every etcd member and the first node's Patroni together would
# leave the leader neither etcd nor every member's REST API, and failsafe mode no ground.
AFTER_OWN_ETCD = frozenset({"postgres"})
# A new replica clones the leader (pg_basebackup) before it answers: the provider waits
# this long for its first healthy check (start period + 60 s) before failing the `up`.
CLONE_WAIT_S = 3600


def tls_files(me: HaNodeSetting) -> tuple[SecretFile, ...]:
    """The stack CA's certificate and the node's own, its key as an upload for key_handover
    (a secret; the certificates are files of the stack's state like the rest)."""

    def one(key: str) -> Callable[[Mapping[str, str]], str]:
        return lambda values: values[key]

    return (
        SecretFile(NODE_TLS.ca, (TLS_CA,), one(TLS_CA)),
        SecretFile(NODE_TLS.cert, (tls_cert(me.name),), one(tls_cert(me.name))),
        SecretFile(tls.KEY_UPLOAD, (tls_key(me.name),), one(tls_key(me.name)), mode="0400"),
    )


def _as(user: str, argv: list[str], group: str = "") -> tuple[str, ...]:
    """``argv`` run as ``user`` once the node's key is theirs (the container starts as root)."""
    return tuple(tls.key_handover(tls.KEY_UPLOAD, NODE_TLS.key, argv, user, group))


ETCD_ENTRY = "/etc/bo1/etcd-member"


def etcd(settings: StackSettings, me: HaNodeSetting) -> ContainerSpec:
    args = config.etcd_args(_node(me), nodes(settings), ETCD_DATA, settings.prefix, NODE_TLS)
    # its own place again in a running cluster when the node comes back with no data
    entry = config.etcd_member_script(_node(me), nodes(settings), ETCD_DATA, NODE_TLS)
    health = ("CMD", "etcdctl", f"--endpoints={config.etcd_url(_node(me))}",
              *config.etcdctl_tls(NODE_TLS), "endpoint", "health")  # fmt: skip
    return ContainerSpec(
        **_base(settings, "etcd", me),  # type: ignore[arg-type]
        image=ha_image_build(settings).tag,
        # the image's data directory is nobody's
        command=_as("nobody", ["sh", ETCD_ENTRY, *args], "nogroup"),
        files=(*tls_files(me), File(ETCD_ENTRY, entry, mode="0555")),
        healthcheck=Healthcheck(test=health),
        volume_name=f"{settings.prefix}-etcd-{me.name}",
        data_path=ETCD_DATA,
        memory_mb=256,
        stop_grace_s=30,
        user=None,  # root first: _as becomes nobody before etcd starts
    )


def _patroni_yml(settings: StackSettings, me: HaNodeSetting, values: Mapping[str, str]) -> str:
    pg = config.PostgresNode(
        data_dir=f"{PATRONI_HOME}/data",
        bin_dir="/usr/lib/postgresql/15/bin",
        port=settings.postgres_port,
        socket_dir=postgres_server.SOCKET_DIR,
        parameters=postgres_server.server_settings(settings),
        database=settings.postgres_database,
        archive=(
            backup_policy.archive_settings(settings.backup_policy(), backup_policy.Paths())
            if settings.backups
            else {}
        ),
    )
    passwords = {
        "superuser": values["postgresSuperuserPassword"],
        "replication": values["postgresReplicationPassword"],
        "rest": values["patroniRestPassword"],
    }
    return config.patroni_config(
        settings.prefix, _node(me), nodes(settings), pg, passwords,
        synchronous=settings.ha_synchronous, tls=NODE_TLS,
    )  # fmt: skip


def patroni(settings: StackSettings, me: HaNodeSetting) -> ContainerSpec:
    secrets = ("postgresSuperuserPassword", "postgresReplicationPassword", "patroniRestPassword")
    render = functools.partial(_patroni_yml, settings, me)
    # the node's key: Patroni's to reach etcd, and pgBackRest's in archive_command
    archiving = (backup_conf(settings, me),) if settings.backups else ()
    return ContainerSpec(
        **_base(settings, "postgres", me),  # type: ignore[arg-type]
        image=ha_image_build(settings).tag,
        command=_as("postgres", [PATRONI, PATRONI_CONF]),
        files=(SecretFile(PATRONI_CONF, secrets, render), *tls_files(me), *archiving),
        # the leader, or a replica streaming close enough to take over: the next node's
        # Patroni (the rolling order) restarts only then
        healthcheck=Healthcheck(
            test=("CMD", *config.readiness_probe(_node(me), PATRONI_PYTHON)),
            start_period_s=CLONE_WAIT_S,
        ),
        volume_name=_data_volume(settings, me),
        data_path=PATRONI_HOME,
        memory_mb=settings.postgres_memory_mb,
        # Patroni stops Postgres itself on SIGTERM (fast shutdown), then exits.
        stop_grace_s=120,
        shm_size_mb=max(64, settings.postgres_memory_mb // 4),
        mounts=(postgres_server.socket_mount(settings),),
        user=None,  # root first: _as becomes postgres before Patroni starts
    )


def postgres_nodes(settings: StackSettings) -> tuple[config.Node, ...]:
    return tuple(_node(n) for n in settings.ha_nodes if n.postgres)


def haproxy_for(settings: StackSettings, me: HaNodeSetting) -> ContainerSpec:
    """The node's HAProxy: loopback only, to whichever Postgres node Patroni calls primary."""
    # maxconn: the node's pooler is its only client, and never opens more than Postgres allows
    rendered = haproxy.haproxy_cfg(
        postgres_nodes(settings), postgres_port=settings.postgres_port,
        max_conn=settings.postgres_max_connections,
    )  # fmt: skip
    # Healthy while it has a leader to send connections to: pg_isready through it.
    health = ("CMD", "pg_isready", "-h", "127.0.0.1", "-p", str(haproxy.HAPROXY_PORT))
    return ContainerSpec(
        **_base(settings, "haproxy", me),  # type: ignore[arg-type]
        image=ha_image_build(settings).tag,
        command=("haproxy", "-db", "-f", HAPROXY_CFG),
        files=(File(HAPROXY_CFG, rendered),),
        healthcheck=Healthcheck(test=health),
        volume_name=None,
        data_path="/var/lib/haproxy",
        memory_mb=64,
        stop_grace_s=30,
        user="haproxy",
    )


def pooler_for(settings: StackSettings, me: HaNodeSetting) -> ContainerSpec:
    """The node's PgBouncer, its server connections through the node's HAProxy to the
    leader: any node's pooler serves the application, whichever node leads."""
    spec = pooler.container(settings)
    layout = replace(
        pooler.layout(settings), listen_addr=f"{me.address},127.0.0.1",
        listen_port=settings.pooler_port, server_host="127.0.0.1",
        server_port=haproxy.HAPROXY_PORT,
    )  # fmt: skip
    return replace(
        spec,
        **_base(settings, "pooler", me),  # type: ignore[arg-type]
        files=(
            File(layout.ini, pooler_config.render_ini(settings.pool(), layout)),
            File(layout.hba_file, pooler_config.render_hba(layout.database)),
            pooler.auth_file(layout),
        ),
        healthcheck=pooler.healthcheck(settings.pooler_port),
        mounts=(),  # TCP to HAProxy, not the node's socket
    )


HA_REDIS_SECRETS = ("redisReplicaPassword", "redisSentinelPassword")


def redis(settings: StackSettings, me: HaNodeSetting) -> ContainerSpec:
    spec = redis_server.container(settings)
    primary = redis_primary(settings)
    node = _node(me)
    conf = redis_server.render_conf(
        settings, include=REPLICATION_CONF, port=settings.redis_port,
        bind=f"{me.address} 127.0.0.1",
    )  # fmt: skip
    acl = functools.partial(redis_server.render_acl, families=settings.key_families(), ha=True)
    replication = functools.partial(
        sentinel.replication_conf, node, primary, port=settings.redis_port
    )
    return replace(
        spec,
        **_base(settings, "redis", me),  # type: ignore[arg-type]
        files=(
            File(redis_server.CONF_PATH, conf),
            SecretFile(redis_server.ACL_PATH, (*redis_server.ACL_SECRETS, *HA_REDIS_SECRETS), acl),
            # its own file: it holds masterauth, the replica's password in the clear
            SecretFile(REPLICATION_CONF, ("redisReplicaPassword",), replication),
            redis_server.health_password_file(),
        ),
        healthcheck=redis_server.replicated_healthcheck(
            me.address, settings.redis_port, sentinel.SENTINEL_PORT, sentinel.MASTER_NAME
        ),
        volume_name=f"{settings.prefix}-redisdata-{me.name}",
    )


def sentinel_for(settings: StackSettings, me: HaNodeSetting) -> ContainerSpec:
    secrets = ("redisSentinelPassword", "redisAppPassword", "redisOpsPassword",
               "redisHealthPassword")  # fmt: skip

    def render(values: Mapping[str, str]) -> str:
        return sentinel.sentinel_conf(
            settings.prefix, _node(me), redis_primary(settings), values,
            redis_port=settings.redis_port, data_dir=SENTINEL_DATA,
        )  # fmt: skip

    # Sentinel rewrites its file as it learns: it runs a copy in its volume, re-seeded from
    # the rendered one at each start (what it learned comes back from its peers).
    start = (
        f"cp {SENTINEL_TEMPLATE} {SENTINEL_DATA}/sentinel.conf && exec redis-server"
        f" {SENTINEL_DATA}/sentinel.conf --sentinel"
    )
    return ContainerSpec(
        **_base(settings, "sentinel", me),  # type: ignore[arg-type]
        image=settings.redis_image_ref,
        command=("sh", "-c", start),
        files=(
            SecretFile(SENTINEL_TEMPLATE, secrets, render),
            redis_server.health_password_file(),
        ),
        healthcheck=redis_server.healthcheck(port=sentinel.SENTINEL_PORT),
        volume_name=f"{settings.prefix}-sentinel-{me.name}",
        data_path=SENTINEL_DATA,
        memory_mb=64,
        stop_grace_s=30,
        # `sh` as the command: the image's entrypoint would keep root (it drops to redis
        # only for redis-server); /data is redis's in the image.
        user="redis",
    )


def repository_node(settings: StackSettings) -> HaNodeSetting | None:
    """Where the backup repository lives: the first node without Postgres (a lost Postgres
    node then loses no backup); settings validation requires one when backups are on."""
    return next((n for n in settings.ha_nodes if not n.postgres), None)


def _node_paths(settings: StackSettings) -> backup_policy.Paths:
    """pgBackRest's view of a Postgres node: Patroni's data directory, the node's socket."""
    return replace(
        backup_policy.Paths(), pg_data=f"{PATRONI_HOME}/data",
        socket=postgres_server.SOCKET_DIR, port=settings.postgres_port,
    )  # fmt: skip


def backup_conf(settings: StackSettings, me: HaNodeSetting) -> SecretFile:
    """pgbackrest.conf (the passphrase in it) of ``me``: a Postgres node's or the
    repository host's."""
    chosen, node = settings.backup_policy(), _node(me)
    repo = repository_node(settings)
    assert repo is not None  # settings validation: backups on ha need a repository node

    def render(values: Mapping[str, str]) -> str:
        cipher = values["pgbackrestCipherPassword"]
        if me.postgres:
            return backup.postgres_node_conf(
                chosen, _node_paths(settings), node, _node(repo), NODE_TLS, cipher
            )
        there = tuple((n, _node_paths(settings)) for n in postgres_nodes(settings))
        return backup.repository_conf(chosen, backup_policy.Paths(), node, there, NODE_TLS, cipher)

    return SecretFile(backup_policy.Paths().config, ("pgbackrestCipherPassword",), render)


DRILL = backup_policy.Paths().drill  # where `backup drill` runs it
LEADER_DRILL = f"{backup_policy.Paths().config_dir}/bo1-leader-drill"


def pgbackrest_for(settings: StackSettings, me: HaNodeSetting) -> ContainerSpec:
    """A Postgres node's pgBackRest: its TLS server, through which the repository host
    backs up, and the daily restore drill, which runs on the leader's node only (it
    compares with and records into the primary over the node's socket)."""
    chosen, paths = settings.backup_policy(), _node_paths(settings)
    database = settings.postgres_database
    # the scratch copy on the node's data volume: the repository node may have no room
    scratch = f"{PATRONI_HOME}/drill"
    drill = backup_policy.drill_script(chosen, paths, database, scratch)
    # cron as root (its jobs become postgres), then the TLS server as postgres, in front
    start = ("sh", "-c", 'cron && exec "$@"', "start-cron")
    wrapper = backup_policy.leader_drill_script(paths, database, DRILL, scratch)
    schedule = backup_policy.leader_drill_crontab(chosen, LEADER_DRILL)
    spec = ContainerSpec(
        **_base(settings, "pgbackrest", me),  # type: ignore[arg-type]
        image=ha_image_build(settings).tag,
        command=(*start, *_as("postgres", ["pgbackrest", "server"])),
        files=(
            backup_conf(settings, me),
            *tls_files(me),
            File(DRILL, drill, mode="0555"),
            File(LEADER_DRILL, wrapper, mode="0555"),
            File(CRONTAB, schedule, mode="0644"),
        ),
        healthcheck=Healthcheck(test=("CMD", "pgbackrest", "server-ping", me.address)),
        volume_name=None,
        data_path=PATRONI_HOME,
        # The drill runs a scratch copy of the database: as much memory as Postgres.
        memory_mb=settings.postgres_memory_mb,
        stop_grace_s=30,
        # the node's data, as Patroni's container has it, and its socket
        mounts=(
            Mount(_data_volume(settings, me), PATRONI_HOME),
            postgres_server.socket_mount(settings),
        ),
        init=True,  # cron's jobs write to PID 1's output: Docker's init, the container log
    )
    return replace(spec, env={"TZ": "UTC"})  # the schedule is in UTC


def repository_for(settings: StackSettings, me: HaNodeSetting) -> ContainerSpec:
    """The backup repository host: pgBackRest's TLS server and the backup schedule."""
    chosen, paths = settings.backup_policy(), backup_policy.Paths()
    entry = backup_policy.repository_script(paths, tls.KEY_UPLOAD, NODE_TLS.key)
    schedule = backup_policy.crontab(chosen, paths, redis=True, drill=False)
    # healthy once the stanza exists and the TLS server answers
    info = f"{paths.repo}/backup/{backup_policy.STANZA}/backup.info"
    ready = f"test -s {info} && pgbackrest server-ping {me.address}"
    spec = ContainerSpec(
        **_base(settings, "backup", me),  # type: ignore[arg-type]
        image=ha_image_build(settings).tag,
        command=(REPOSITORY_ENTRY,),
        files=(
            backup_conf(settings, me),
            *tls_files(me),
            File(REPOSITORY_ENTRY, entry, mode="0555"),
            File(CRONTAB, schedule, mode="0644"),
            backup_spec.ops_password_file(),
            *redis_snapshot_files(settings, paths),
        ),
        healthcheck=Healthcheck(test=("CMD-SHELL", ready), start_period_s=120),
        volume_name=f"{settings.prefix}-pgbackrest",
        data_path=paths.repo,
        memory_mb=512,
        stop_grace_s=30,
        init=True,
    )
    return replace(spec, env={"TZ": "UTC"})  # the schedule is in UTC


def redis_snapshot_files(
    settings: StackSettings,
    paths: backup_policy.Paths,
    password_file: str = backup_spec.REDIS_PASSWORD_FILE,
) -> tuple[File, ...]:
    """The repository node's Redis snapshot: a job per Redis node, and the one cron runs
    (``bo1-redis-snapshot``, as on a single host), which runs the job of the node the
    Sentinels name as master. ``password_file``: bo1_ops's password
    (backup_spec.ops_password_file), which the Sentinels accept too."""
    chosen, jobs = settings.backup_policy(), {}
    for node in (n for n in settings.ha_nodes if n.redis):
        source = backup_policy.RedisSource(node.address, settings.redis_port, OPS_USER,
                                           password_file)  # fmt: skip
        script = backup_policy.redis_snapshot_script(chosen, paths, source)
        jobs[node.address] = File(f"{paths.config_dir}/bo1-redis-snapshot-{node.name}", script,
                                  "0555")  # fmt: skip
    sentinels = backup_policy.Sentinels(
        [f"{n.address}:{sentinel.SENTINEL_PORT}" for n in settings.ha_nodes],
        len(settings.ha_nodes) // 2 + 1, sentinel.MASTER_NAME, OPS_USER, password_file,
    )  # fmt: skip
    by_master = backup_policy.redis_snapshot_master_script(
        {address: job.path for address, job in jobs.items()}, sentinels
    )
    return (*jobs.values(), File(f"{paths.config_dir}/bo1-redis-snapshot", by_master, "0555"))


def _data_volume(settings: StackSettings, me: HaNodeSetting) -> str:
    return f"{settings.prefix}-pgdata-{me.name}"


def node_containers(settings: StackSettings, me: HaNodeSetting) -> list[ContainerSpec]:
    """What runs on one node, in start order."""
    specs = [etcd(settings, me)]
    if me.postgres:
        specs += [patroni(settings, me), haproxy_for(settings, me), pooler_for(settings, me)]
        if settings.backups:
            specs.append(pgbackrest_for(settings, me))
    if me.redis:
        specs.append(redis(settings, me))
    specs.append(sentinel_for(settings, me))
    if settings.backups and me == repository_node(settings):
        specs.append(repository_for(settings, me))
    return specs
