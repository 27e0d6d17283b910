"""Stack settings: every knob of a stack, validated before any resource is registered.

Pulumi stack config (``Pulumi.<stack>.yaml``, keys ``bo1-infra:<camelCaseName>``)
is handed in as a plain mapping, so this module never imports pulumi and the
tests build the same settings from the same YAML. Defaults follow the design:
Redis maxmemory 256mb, allkeys-lru and AOF in every stack.
"""

from __future__ import annotations

import ipaddress
import json
import re
from collections.abc import Mapping, Set
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.alias_generators import to_camel

from bootstrap import paths
from bootstrap.appenv.model import check_overrides
from bootstrap.backup.policy import Policy
from bootstrap.errors import Bo1Error
from bootstrap.ha import backup as ha_backup
from bootstrap.ha import config as ha_config
from bootstrap.ha import haproxy, sentinel
from bootstrap.pooler.config import Pool
from bootstrap.redisdb.keys import KeyFamily, with_extra
from bootstrap.redisdb.releases import DEFAULT_LINE, LineName, check_image
from bootstrap.redisdb.releases import line as redis_line
from bootstrap.redisdb.sizes import REDIS_MEMORY, redis_bytes

# The ports an ha node's own services listen on, whatever the stack file says.
HA_FIXED_PORTS = {
    ha_config.ETCD_CLIENT_PORT: "etcd (clients)",
    ha_config.ETCD_PEER_PORT: "etcd (peers)",
    ha_config.PATRONI_PORT: "Patroni's REST API",
    haproxy.HAPROXY_PORT: "HAProxy",
    ha_backup.TLS_PORT: "pgBackRest's TLS server",
    sentinel.SENTINEL_PORT: "Sentinel",
}

PROJECT = "bo1-infra"

_PG_MEMORY = re.compile(r"^(?P<n>\d+)(?P<unit>kB|MB|GB|TB)$")


def _pg_memory(value: str) -> str:
    if not _PG_MEMORY.match(value):
        raise ValueError("must be a Postgres memory size such as 256MB (units kB, MB, GB, TB)")
    return value


def _redis_memory(value: str) -> str:
    if not REDIS_MEMORY.match(value) or redis_bytes(value) == 0:
        raise ValueError("must be a Redis memory size such as 256mb (units b, kb, mb, gb)")
    return value.lower()


def _image(value: str) -> str:
    name, _, rest = value.partition(":")
    tag, _, digest = rest.partition("@sha256:")
    if not name or not tag or len(digest) != 64 or not all(c in "0123456789abcdef" for c in digest):
        raise ValueError(
            "must be pinned by tag and digest, such as"
            " pgvector/pgvector:pg15@sha256:<64 hex digits>, so the image cannot change"
            " under the stack (docker buildx imagetools inspect NAME:TAG shows the digest)"
        )
    if tag == "latest":
        raise ValueError("must pin an exact tag, not :latest")
    return value


def _json_object(value: object) -> object:
    # Pulumi hands structured config (a YAML mapping) to the program as JSON text.
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise ValueError("must be a mapping of NAME: value") from None
    if isinstance(value, dict):
        return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in value.items()}
    return value


def _ipv4(value: str) -> str:
    try:
        address = ipaddress.IPv4Address(value)
    except ValueError:
        raise ValueError("must be an IPv4 address of the Docker host, such as 127.0.0.1") from None
    if address.is_unspecified:
        # Docker publishes a wildcard once per address family on a dual-stack host; the
        # provider reads that back as a change and replaces the container on every `up`.
        raise ValueError(
            "must name one interface of the Docker host (127.0.0.1, or its LAN address):"
            " a wildcard makes every `pulumi up` replace the containers"
            " (terraform-provider-docker issue 909)"
        )
    return str(address)


def _json_list(value: object) -> object:
    # Pulumi hands structured config (a YAML list) to the program as JSON text.
    if isinstance(value, str):
        try:
            return json.loads(value)
        except json.JSONDecodeError:
            raise ValueError("must be a YAML list (see docs/DEPLOYING.md)") from None
    return value


class KeyFamilySetting(BaseModel):
    """One entry of ``redisKeyFamilies``: a key family a later app release writes."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )

    prefix: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*:$")]
    ttl_seconds: Annotated[int, Field(ge=1)]
    purpose: Annotated[str, StringConstraints(min_length=1, max_length=200)]
    redis_type: Annotated[str, StringConstraints(min_length=1, max_length=40)] = "string"
    on_no_ttl: Literal["expire", "delete"] = "expire"
    max_ttl_seconds: Annotated[int, Field(ge=1)] | None = None
    parent_prefix: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_]*:$")] | None = None

    def family(self) -> KeyFamily:
        return KeyFamily(
            self.prefix,
            f"{self.prefix}{{id}}",
            self.redis_type,
            self.ttl_seconds,
            "stack config (redisKeyFamilies)",
            self.purpose,
            f"{self.prefix}...",
            on_no_ttl=self.on_no_ttl,
            max_ttl_seconds=self.max_ttl_seconds,
            parent_prefix=self.parent_prefix,
        )


POSTGRES_IMAGE = (
    "pgvector/pgvector:pg15@sha256:"
    + "a20a57d7aa5217a6af0a391ccf69f4a8512406d6c14be08132f801468cc3cc62"
)

_CRON_FIELD = re.compile(r"^[0-9*/,-]+$")


def _cron(value: str) -> str:
    fields = value.split()
    if len(fields) != 5 or not all(_CRON_FIELD.match(f) for f in fields):
        raise ValueError(
            "must be a cron schedule of five fields (minute hour day month weekday),"
            " such as '15 3 * * 0' for Sundays at 03:15"
        )
    return " ".join(fields)


# Postgres connections kept for direct work beside the pooler and the 3 superuser slots.
DIRECT_CONNECTIONS = 10

PgMemory = Annotated[str, AfterValidator(_pg_memory)]
Cron = Annotated[str, AfterValidator(_cron)]
RedisMemory = Annotated[str, AfterValidator(_redis_memory)]
Image = Annotated[str, AfterValidator(_image)]


class HaNodeSetting(BaseModel):
    """One entry of ``haNodes``: a Docker host of an ``ha`` stack."""

    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )

    name: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]{0,20}$")]
    # Where the other nodes and the clients reach it; its services listen there.
    address: Annotated[str, AfterValidator(_ipv4)]
    # Its Docker engine, as docker:host names one (ssh://user@host, tcp://host:2376, unix://).
    docker_host: Annotated[str, StringConstraints(pattern=r"^(ssh|tcp|unix)://\S+$")]
    ssh_opts: list[str] = Field(default_factory=list)
    postgres: bool = True  # Postgres under Patroni, with its PgBouncer
    redis: bool = True  # a Redis data node (the first one starts as primary)


Port = Annotated[int, Field(ge=1, le=65535)]
EvictionPolicy = Literal[
    "noeviction", "allkeys-lru", "allkeys-lfu", "allkeys-random",
    "volatile-lru", "volatile-lfu", "volatile-random", "volatile-ttl",
]  # fmt: skip


class StackSettings(BaseModel):
    model_config = ConfigDict(
        extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True
    )

    stack: Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]*$")]

    # The pgvector team's PostgreSQL 15 image, pinned by digest; verify reports its
    # pgvector version.
    postgres_image: Image = POSTGRES_IMAGE
    # The Redis line decides the image (pinned by digest) and whether JSON and Search,
    # which LangGraph checkpoints need, are there; redisImage overrides the image.
    redis_line: LineName = DEFAULT_LINE
    redis_image: str | None = None
    bind_address: Annotated[str, AfterValidator(_ipv4)] = "127.0.0.1"

    postgres_port: Port = 5432
    postgres_database: Annotated[str, StringConstraints(pattern=r"^[a-z_][a-z0-9_]{0,62}$")] = "bo1"
    postgres_max_connections: Annotated[int, Field(ge=10, le=5000)] = 100
    postgres_shared_buffers: PgMemory = "256MB"
    postgres_effective_cache_size: PgMemory = "768MB"
    postgres_work_mem: PgMemory = "4MB"
    postgres_maintenance_work_mem: PgMemory = "64MB"
    postgres_memory_mb: Annotated[int, Field(ge=256)] = 1024

    redis_port: Port = 6379
    redis_maxmemory: RedisMemory = "256mb"
    redis_maxmemory_policy: EvictionPolicy = "allkeys-lru"
    redis_appendonly: bool = True
    redis_appendfsync: Literal["always", "everysec", "no"] = "everysec"
    redis_memory_mb: Annotated[int, Field(ge=64)] = 512
    # Key families a later app release adds: ACL pattern, TTL and cleanup rule each.
    redis_key_families: Annotated[list[KeyFamilySetting], BeforeValidator(_json_list)] = Field(
        default_factory=list
    )

    # PgBouncer (docs/POOLING.md): the app's DATABASE_URL goes through it.
    pooler_port: Port = 6432
    pooler_max_client_conn: Annotated[int, Field(ge=10, le=100_000)] = 1000
    pooler_default_pool_size: Annotated[int, Field(ge=1, le=1000)] = 20
    pooler_reserve_pool_size: Annotated[int, Field(ge=0, le=100)] = 5
    pooler_server_login_retry_s: Annotated[int, Field(ge=1, le=60)] = 1
    pooler_query_wait_timeout_s: Annotated[int, Field(ge=1, le=3600)] = 30
    pooler_idle_transaction_timeout_s: Annotated[int, Field(ge=0, le=3600)] = 60
    pooler_server_idle_timeout_s: Annotated[int, Field(ge=0, le=86_400)] = 600
    pooler_client_idle_timeout_s: Annotated[int, Field(ge=0, le=86_400)] = 0
    pooler_memory_mb: Annotated[int, Field(ge=32)] = 128

    protect_data: bool = False

    # High availability (docs/HIGH_AVAILABILITY.md): `single` is one host; `ha` runs etcd
    # and Sentinel on every node of haNodes, Patroni and Redis on the nodes marked so.
    topology: Literal["single", "ha"] = "single"
    ha_nodes: Annotated[list[HaNodeSetting], BeforeValidator(_json_list)] = Field(
        default_factory=list
    )
    ha_synchronous: bool = False  # Patroni's synchronous mode: no acknowledged commit lost

    # Backups (docs/BACKUPS.md): on in every stack but dev unless set. Times are the
    # Docker host's clock (the sidecar's cron runs in UTC).
    backup_enabled: bool | None = None
    backup_archive_timeout_s: Annotated[int, Field(ge=1, le=60)] = 60
    backup_full_schedule: Cron = "15 3 * * 0"
    backup_diff_schedule: Cron = "15 3 * * 1-6"
    backup_drill_schedule: Cron = "45 4 * * *"
    backup_redis_schedule: Cron = "30 3 * * *"
    backup_retention_full: Annotated[int, Field(ge=1, le=52)] = 2
    backup_retention_diff: Annotated[int, Field(ge=1, le=365)] = 6
    backup_max_age_hours: Annotated[int, Field(ge=1)] = 26
    backup_redis_keep: Annotated[int, Field(ge=1, le=365)] = 7
    # Plain app settings for the env file (LOG_LEVEL, cost limits, models, flags).
    app_settings: Annotated[dict[str, str], BeforeValidator(_json_object)] = Field(
        default_factory=dict
    )

    @field_validator("app_settings")
    @classmethod
    def _known_app_settings(cls, value: dict[str, str]) -> dict[str, str]:
        try:
            check_overrides(value)
        except Bo1Error as exc:
            raise ValueError(exc.message.removeprefix("appSettings: ")) from None
        return value

    @model_validator(mode="after")
    def _redis_image_on_its_line(self) -> StackSettings:
        if self.redis_image is not None:
            try:
                check_image(self.redis_image, self.redis_line)
            except ValueError as exc:
                raise ValueError(f"redisImage {self.redis_image!r} {exc}") from None
        return self

    @model_validator(mode="after")
    def _topology(self) -> StackSettings:
        if self.topology == "single":
            if self.ha_nodes:
                raise ValueError("haNodes is set but topology is single; set topology: ha")
            return self
        nodes = self.ha_nodes
        if len(nodes) < 3 or len(nodes) % 2 == 0:
            raise ValueError(
                f"topology ha needs an odd number of haNodes, at least 3 (etcd and Sentinel"
                f" vote by majority); found {len(nodes)}"
            )
        for field in ("name", "address"):
            seen = [getattr(n, field) for n in nodes]
            twice = sorted({v for v in seen if seen.count(v) > 1})
            if twice:
                raise ValueError(f"haNodes: {field} {twice[0]} is used twice; give each its own")
        for role in ("postgres", "redis"):
            if sum(getattr(n, role) for n in nodes) < 2:
                raise ValueError(
                    f"haNodes: at least 2 nodes need {role}: true (a primary and a replica)"
                )
        if self.backups and all(n.postgres for n in nodes):
            raise ValueError(
                "haNodes: backups keep their repository on a node without Postgres, so that"
                " losing a Postgres node loses no backup; give one node postgres: false"
                " (the example's witness) or set backupEnabled: false"
            )
        return self

    @model_validator(mode="after")
    def _families_do_not_clash(self) -> StackSettings:
        self.key_families()  # ValueError names the clash
        return self

    @model_validator(mode="after")
    def _consistent(self) -> StackSettings:
        ports = {"postgresPort": self.postgres_port, "redisPort": self.redis_port,
                 "poolerPort": self.pooler_port}  # fmt: skip
        for key, port in ports.items():
            same = [k for k, p in ports.items() if p == port and k != key]
            if same:
                raise ValueError(f"{key} and {same[0]} are both {port}; use a port each")
            # ha: every container shares its host's network, with these ports fixed
            taken = HA_FIXED_PORTS.get(port) if self.topology == "ha" else None
            if taken:
                raise ValueError(f"{key} {port} is {taken}'s on every ha node; use another")
        # Postgres keeps 3 slots for superusers; direct work (migrations, bootstrap, the
        # backups and their drill, admin sessions) needs room beside the pooler's share.
        room = self.postgres_max_connections - 3 - DIRECT_CONNECTIONS
        # ha: every Postgres node's pooler reaches the leader (through its HAProxy)
        poolers = sum(n.postgres for n in self.ha_nodes) if self.topology == "ha" else 1
        if self.pool().server_connections * poolers > room:
            each = f" on each of {poolers} poolers" if poolers > 1 else ""
            raise ValueError(
                f"poolerDefaultPoolSize {self.pooler_default_pool_size} +"
                f" poolerReservePoolSize {self.pooler_reserve_pool_size}{each} leave fewer"
                f" than {DIRECT_CONNECTIONS} of postgresMaxConnections"
                f" {self.postgres_max_connections} for direct connections; keep their sum"
                f" at most {room // poolers} or raise postgresMaxConnections"
            )
        # Redis needs headroom above maxmemory: fragmentation, buffers, the AOF-rewrite fork.
        needed = redis_bytes(self.redis_maxmemory) * 5 // 4 // 2**20 + 32
        if self.redis_memory_mb < needed:
            raise ValueError(
                f"redisMemoryMb {self.redis_memory_mb} leaves no room above redisMaxmemory "
                f"{self.redis_maxmemory}; use at least {needed}"
            )
        return self

    @property
    def redis_image_ref(self) -> str:
        """The image the Redis container runs: the stack's own, or its line's pinned one."""
        return self.redis_image or redis_line(self.redis_line).image

    @property
    def redis_modules(self) -> bool:
        """Whether this stack's Redis has JSON and Search (LangGraph checkpoints need both)."""
        return redis_line(self.redis_line).modules

    def key_families(self) -> tuple[KeyFamily, ...]:
        """The built-in key families plus the stack's own."""
        return with_extra(f.family() for f in self.redis_key_families)

    @property
    def client_host(self) -> str:
        """The address clients on the Docker host use: the one the ports are published on."""
        return self.bind_address

    @property
    def backups(self) -> bool:
        """Whether this stack archives WAL and runs the backup sidecar."""
        return self.stack != "dev" if self.backup_enabled is None else self.backup_enabled

    def pool(self) -> Pool:
        return Pool(
            max_client_conn=self.pooler_max_client_conn,
            default_pool_size=self.pooler_default_pool_size,
            reserve_pool_size=self.pooler_reserve_pool_size,
            server_login_retry_s=self.pooler_server_login_retry_s,
            query_wait_timeout_s=self.pooler_query_wait_timeout_s,
            idle_transaction_timeout_s=self.pooler_idle_transaction_timeout_s,
            server_idle_timeout_s=self.pooler_server_idle_timeout_s,
            client_idle_timeout_s=self.pooler_client_idle_timeout_s,
        )

    def backup_policy(self) -> Policy:
        return Policy(
            archive_timeout_s=self.backup_archive_timeout_s,
            retention_full=self.backup_retention_full,
            retention_diff=self.backup_retention_diff,
            full_schedule=self.backup_full_schedule,
            diff_schedule=self.backup_diff_schedule,
            drill_schedule=self.backup_drill_schedule,
            max_age_hours=self.backup_max_age_hours,
            redis_schedule=self.backup_redis_schedule,
            redis_keep=self.backup_redis_keep,
        )

    @property
    def prefix(self) -> str:
        """Every Docker name of this stack starts with it, so stacks can share a host."""
        return f"bo1-{self.stack}"


class SettingsError(Bo1Error):
    """Invalid stack config: one line naming the stack, every bad key and what is allowed."""

    exit_code = 2


def from_config(stack: str, config: Mapping[str, str]) -> StackSettings:
    """Validate ``bo1-infra:*`` config values (project prefix optional) for ``stack``."""
    values = {key.removeprefix(f"{PROJECT}:"): value for key, value in config.items()}
    try:
        return StackSettings.model_validate({**values, "stack": stack})
    except ValidationError as exc:
        raise SettingsError(_describe(stack, exc, values)) from None


def stack_file_config(stack: str, root: Path = paths.ROOT) -> dict[str, str]:
    """``Pulumi.<stack>.yaml``'s config as Pulumi hands it to a program: every value a string."""
    import yaml

    path = root / f"Pulumi.{stack}.yaml"
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except OSError:
        stacks = sorted(p.name.split(".")[1] for p in root.glob("Pulumi.*.yaml"))
        raise SettingsError(
            f"no stack file {path.name}; pass --stack with one of: {', '.join(stacks)}"
        ) from None
    except yaml.YAMLError as exc:
        raise SettingsError(
            f"{path.name} is not valid YAML: {' '.join(str(exc).split())}"
        ) from None
    config = data.get("config") or {} if isinstance(data, dict) else {}
    return {k: v if isinstance(v, str) else json.dumps(v) for k, v in config.items()}


def from_stack_config(
    stack: str, config: Mapping[str, str], secret_keys: Set[str]
) -> StackSettings:
    """Validate every ``bo1-infra:*`` key of a whole stack config, skipping ``secret_keys``.

    Every project key is checked, so a misspelt key is an error rather than a
    silently ignored setting; other namespaces (``docker:*``) are not ours.
    """
    prefix = f"{PROJECT}:"
    raw = {
        key: value
        for key, value in config.items()
        if key.startswith(prefix) and key.removeprefix(prefix) not in secret_keys
    }
    return from_config(stack, raw)


def load_stack(stack: str, secret_keys: Set[str], root: Path = paths.ROOT) -> StackSettings:
    """The validated settings of ``Pulumi.<stack>.yaml`` (for verify, tests and docs)."""
    return from_stack_config(stack, stack_file_config(stack, root), secret_keys)


def _describe(stack: str, exc: ValidationError, values: Mapping[str, str]) -> str:
    problems = []
    for error in exc.errors():
        key = str(error["loc"][0]) if error["loc"] else ""
        message = str(error["msg"]).removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            problems.append(f"{PROJECT}:{key} is not a known setting")
        elif key:
            problems.append(f"{PROJECT}:{key} = {values.get(key)!r}: {message}")
        else:
            problems.append(message)
    return f"stack {stack!r}: invalid config: " + "; ".join(problems)
