"""The Pulumi program: one stack is a network, Postgres 15 + pgvector, PgBouncer, Redis and
secrets (plus the backup sidecar where backups are on)."""

from __future__ import annotations

from dataclasses import dataclass

import pulumi
import pulumi_docker as docker

from bootstrap.appenv import model as app_env
from bootstrap.appenv.urls import connection_url, sentinel_url
from bootstrap.errors import Bo1Error
from bootstrap.ha import sentinel
from bootstrap.postgres.tenancy import APP_ROLE, SERVICE_ROLE, SUPERUSER
from bootstrap.redisdb import users as redis_users
from bootstrap.stack_secrets import catalogue as secret_catalogue
from infra import docker_host
from infra.components.backup_storage import BackupStorage
from infra.components.bootstrap_hook import BootstrapHook, ha_targets, single_host_targets
from infra.components.container_service import ContainerService
from infra.components.ha_node import HaNode
from infra.components.ha_tls import HaTls
from infra.components.stack_image import StackImage
from infra.components.stack_secrets import StackSecrets, missing_required
from infra.settings import PROJECT, SettingsError, StackSettings, from_stack_config
from infra.specs import backup, ha, pooler, postgres_server, redis_server
from infra.specs.image import image_build
from infra.specs.model import ContainerSpec


def load_settings(stack: str, secret_keys: set[str]) -> StackSettings:
    """Validate this stack's config before any resource exists; a bad value stops the run."""
    try:
        return from_stack_config(stack, _all_config_text(), secret_keys)
    except SettingsError as exc:
        raise pulumi.RunError(exc.message) from None


def _all_config_text() -> dict[str, str]:
    return {key: str(value) for key, value in _all_config().items()}


def _all_config() -> dict[str, object]:
    # pulumi.Config reads one key at a time; the whole map is what the language
    # host handed the runtime (plus PULUMI_CONFIG from the environment).
    from pulumi.runtime import config as runtime_config

    return {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}


def main() -> None:
    stack = pulumi.get_stack()
    try:
        catalogue = secret_catalogue.load()
    except Bo1Error as exc:
        raise pulumi.RunError(exc.message) from None
    settings = load_settings(stack, {s.key for s in catalogue.secrets})
    config = pulumi.Config(PROJECT)
    missing = missing_required(catalogue, config, stack)
    if missing:
        commands = "; ".join(
            f"bash scripts/pulumi.sh {stack} config set --secret {key}" for key in missing
        )
        raise pulumi.RunError(
            f"stack {stack!r}: {len(missing)} required secret(s) not set: {', '.join(missing)}. "
            f"Set each (it asks for the value; same PULUMI_CONFIG_PASSPHRASE): {commands}"
        )

    check_docker_settings(settings)  # before any resource: a bad key registers nothing
    secrets = StackSecrets(f"{settings.prefix}-secrets", catalogue, config, settings.topology)
    if settings.topology == "ha":
        ha_stack(settings, secrets, catalogue)
        return
    provider, host = docker_host.provider(f"{settings.prefix}-docker", _all_config_text())
    with_docker = pulumi.ResourceOptions(providers={"docker": provider})
    network = docker.Network(
        f"{settings.prefix}-net",
        name=f"{settings.prefix}-net",
        labels=[docker.NetworkLabelArgs(label="com.bo1.stack", value=stack)],
        opts=pulumi.ResourceOptions(provider=provider),
    )
    pg_spec, redis_spec = postgres_server.container(settings), redis_server.container(settings)
    image = StackImage(f"{settings.prefix}-image", image_build(settings), with_docker)
    storage = (
        BackupStorage(f"{settings.prefix}-backup-storage", settings, with_docker)
        if settings.backups
        else None
    )
    socket = socket_volume(settings, provider)
    shared = {socket.volume_name: socket.volume, **(storage.volumes if storage else {})}
    pg = ContainerService(
        pg_spec.name,
        pg_spec,
        network,
        secrets.values,
        retain_data=settings.protect_data,
        shared=shared,
        built=image.image if storage else None,
        opts=with_docker,
    )
    pool_spec = pooler.container(settings)
    pool = ContainerService(
        pool_spec.name,
        pool_spec,
        network,
        secrets.values,
        retain_data=False,
        shared={socket.volume_name: socket.volume},
        built=image.image,
        opts=with_docker,
    )
    cache = ContainerService(
        redis_spec.name,
        redis_spec,
        network,
        secrets.values,
        retain_data=settings.protect_data,
        opts=with_docker,
    )
    if storage:
        backup_sidecar(settings, pg_spec, pg, shared, image, network, secrets, with_docker)
    ops_url = redis_url(settings, redis_users.OPS_USER, secrets.values["redisOpsPassword"])
    BootstrapHook(
        f"{settings.prefix}-bootstrap",
        settings,
        catalogue,
        secrets.values,
        single_host_targets(settings, ops_url, pg, host),
        data=[pg, cache],
        ready=[pg, cache, pool],
    )
    export_connections(settings, secrets, ops_url, pg, cache, pool, network)
    pulumi.export("appEnv", app_environment(settings, secrets.values))


def check_docker_settings(settings: StackSettings) -> None:
    """A single-host stack's docker:* keys must be the provider's; an ha stack has none."""
    text = _all_config_text()
    if settings.topology == "single":
        docker_host.check_keys(text)
        return
    stray = sorted(key for key in text if key.startswith("docker:"))
    if stray:
        raise pulumi.RunError(
            f"{', '.join(stray)}: an ha stack names each node's Docker host in haNodes"
            " (dockerHost, sshOpts); remove the docker:* settings"
        )


def ha_stack(
    settings: StackSettings, secrets: StackSecrets, catalogue: secret_catalogue.Catalogue
) -> None:
    """An ha stack: every node on its own Docker host (docs/HIGH_AVAILABILITY.md). Clients
    find the Postgres leader with a multi-host URL and the Redis master through Sentinel."""
    # each node's certificate, from the stack's own CA: etcd's mutual TLS, pgBackRest's
    values = secrets.values | HaTls(f"{settings.prefix}-tls", list(settings.ha_nodes)).values
    repository = ha.repository_node(settings)
    if settings.backups and repository is not None:
        pulumi.export("backupRepositoryHost", repository.name)
        # Without the passphrase no backup can be read: keep a copy off the Docker hosts.
        pulumi.export("backupCipherPassword", secrets.values["pgbackrestCipherPassword"])
    nodes: list[HaNode] = []
    last: dict[str, ContainerService] = {}  # each service's container on the nodes so far
    for node in settings.ha_nodes:
        nodes.append(HaNode(f"{settings.prefix}-{node.name}", settings, node, values, last.copy()))
        last |= nodes[-1].services
    pg_nodes = [n.address for n in settings.ha_nodes if n.postgres]
    pulumi.export("haNodes", {n.name: n.address for n in settings.ha_nodes})
    pulumi.export(
        "haContainers", {setting.name: [s.container_name for s in node.services.values()]
                         for setting, node in zip(settings.ha_nodes, nodes, strict=True)}
    )  # fmt: skip
    pulumi.export("postgresHosts", [f"{a}:{settings.postgres_port}" for a in pg_nodes])
    pulumi.export("poolerHosts", [f"{a}:{settings.pooler_port}" for a in pg_nodes])
    sentinels = [f"{n.address}:{sentinel.SENTINEL_PORT}" for n in settings.ha_nodes]
    pulumi.export("redisSentinels", sentinels)
    pulumi.export("redisSentinelMaster", sentinel.MASTER_NAME)
    at = app_env.Endpoints(
        postgres_host="", postgres_port=settings.postgres_port,
        database=settings.postgres_database, pooler_port=settings.pooler_port,
        redis_host="", redis_port=settings.redis_port, postgres_hosts=tuple(pg_nodes),
        sentinels=tuple(sentinels), sentinel_master=sentinel.MASTER_NAME,
    )  # fmt: skip
    env = app_environment(settings, secrets.values, at)
    pulumi.export("appEnv", env)
    # The app env's own URLs: over every node's pooler, and straight to the nodes.
    pulumi.export("databaseUrl", _env_value(env, "DATABASE_URL"))
    pulumi.export("databaseDirectUrl", _env_value(env, "DATABASE_DIRECT_URL"))
    plain: pulumi.Output[str] = secrets.values["redisOpsPassword"].apply(
        lambda pw: sentinel_url(redis_users.OPS_USER, pw, sentinels, sentinel.MASTER_NAME)
    )
    ops_url: pulumi.Output[str] = pulumi.Output.secret(plain)
    pulumi.export("redisOpsUrl", ops_url)

    def on_nodes(*aliases: str) -> list[ContainerService]:
        return [node.services[a] for node in nodes for a in aliases if a in node.services]

    BootstrapHook(
        f"{settings.prefix}-bootstrap",
        settings,
        catalogue,
        secrets.values,
        ha_targets(settings, ops_url),
        data=on_nodes("postgres", "redis"),
        ready=on_nodes("postgres", "redis", "pooler", "sentinel"),
    )


def _env_value(env: pulumi.Output[dict[str, str]], name: str) -> pulumi.Output[str]:
    value: pulumi.Output[str] = env.apply(lambda values: values[name])
    return pulumi.Output.secret(value)


@dataclass(frozen=True)
class SocketVolume:
    volume_name: str
    volume: docker.Volume


def socket_volume(settings: StackSettings, provider: docker.Provider) -> SocketVolume:
    """Postgres's socket directory: the pooler and the backup sidecar reach it without TCP."""
    name = postgres_server.socket_volume(settings)
    volume = docker.Volume(
        name,
        name=name,
        labels=[docker.VolumeLabelArgs(label="com.bo1.stack", value=settings.stack)],
        opts=pulumi.ResourceOptions(provider=provider),
    )
    return SocketVolume(name, volume)


def backup_sidecar(
    settings: StackSettings,
    pg_spec: ContainerSpec,
    pg: ContainerService,
    shared: dict[str, docker.Volume],
    image: StackImage,
    network: docker.Network,
    secrets: StackSecrets,
    opts: pulumi.ResourceOptions,
) -> ContainerService:
    """The container that takes the backups, the Redis snapshot and the drill on schedule."""
    spec = backup.sidecar(settings, pg_spec)
    assert pg.volume is not None and pg_spec.volume_name is not None
    sidecar = ContainerService(
        spec.name,
        spec,
        network,
        secrets.values,
        retain_data=False,
        shared={**shared, pg_spec.volume_name: pg.volume},
        built=image.image,
        depends_on=[pg.container],  # the stanza needs a running Postgres
        opts=opts,
    )
    pulumi.export("backupContainer", sidecar.container.name)
    pulumi.export("backupRepositoryVolume", shared[backup.repo_volume(settings)].name)
    # Without the passphrase no backup can be read: keep a copy off the Docker host.
    pulumi.export("backupCipherPassword", secrets.values["pgbackrestCipherPassword"])
    return sidecar


def app_environment(
    settings: StackSettings,
    secrets: dict[str, pulumi.Output[str]],
    at: app_env.Endpoints | None = None,
) -> pulumi.Output[dict[str, str]]:
    """What bootstrap writes to secrets/.env.<stack>, as one secret output."""
    host = settings.client_host
    at = at or app_env.Endpoints(
        postgres_host=host,
        postgres_port=settings.postgres_port,
        database=settings.postgres_database,
        pooler_port=settings.pooler_port,
        redis_host=host,
        redis_port=settings.redis_port,
    )
    values = pulumi.Output.all(**secrets).apply(
        lambda v: app_env.render(v, at, settings.app_settings)
    )
    return pulumi.Output.secret(values)


def postgres_url(
    settings: StackSettings, user: str, password: pulumi.Output[str], port: int | None = None
) -> pulumi.Output[str]:
    """A URL straight to Postgres, or to ``port`` on the same host (the pooler)."""
    return _secret_url(
        "postgresql",
        user,
        password,
        settings.client_host,
        port or settings.postgres_port,
        settings.postgres_database,
    )


def redis_url(
    settings: StackSettings, user: str, password: pulumi.Output[str]
) -> pulumi.Output[str]:
    return _secret_url("redis", user, password, settings.client_host, settings.redis_port, "0")


def _secret_url(
    scheme: str, user: str, password: pulumi.Output[str], host: str, port: int, path: str
) -> pulumi.Output[str]:
    url = password.apply(lambda p: connection_url(scheme, user, p, host, port, path))
    return pulumi.Output.secret(url)


def export_connections(
    settings: StackSettings,
    secrets: StackSecrets,
    ops_url: pulumi.Output[str],
    pg: ContainerService,
    cache: ContainerService,
    pool: ContainerService,
    network: docker.Network,
) -> None:
    values = secrets.values
    app_password = values["postgresAppPassword"]
    pulumi.export("postgresHost", settings.client_host)
    pulumi.export("postgresPort", settings.postgres_port)
    pulumi.export("postgresDatabase", settings.postgres_database)
    pulumi.export("redisHost", settings.client_host)
    pulumi.export("redisPort", settings.redis_port)
    pulumi.export(
        "postgresSuperuserUrl",
        postgres_url(settings, SUPERUSER, values["postgresSuperuserPassword"]),
    )
    pulumi.export("poolerPort", settings.pooler_port)
    # verify and status read the pooler's console with it (BO1_POOLER_STATS_PASSWORD).
    pulumi.export("poolerStatsPassword", pulumi.Output.secret(values["poolerStatsPassword"]))
    # The app's URL goes through PgBouncer; the direct one is for session work.
    pulumi.export(
        "databaseUrl", postgres_url(settings, APP_ROLE, app_password, settings.pooler_port)
    )
    pulumi.export("databaseDirectUrl", postgres_url(settings, APP_ROLE, app_password))
    pulumi.export(
        "serviceDatabaseUrl",
        postgres_url(settings, SERVICE_ROLE, values["postgresServicePassword"]),
    )
    # Password only, as Board of One authenticates: the `default` user is the app's.
    pulumi.export("redisUrl", redis_url(settings, "", values["redisAppPassword"]))
    pulumi.export("redisOpsUrl", ops_url)
    pulumi.export("network", network.name)
    pulumi.export("postgresContainer", pg.container.name)
    pulumi.export("redisContainer", cache.container.name)
    pulumi.export("poolerContainer", pool.container.name)
    pulumi.export("postgresVolume", pg.volume.name if pg.volume else None)
    pulumi.export("redisVolume", cache.volume.name if cache.volume else None)
    pulumi.export("dataRetainedOnDestroy", settings.protect_data)
