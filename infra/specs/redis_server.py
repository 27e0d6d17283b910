"""Redis: the rendered redis.conf, the ACL users, the healthcheck and the container spec.

No password ever appears in the command line or the environment (both show in
``docker inspect`` and in Pulumi's inputs): users and their password hashes
live in an uploaded ACL file, and the healthcheck reads its password from an
uploaded file at check time.
"""

from __future__ import annotations

import functools
import shlex
from collections.abc import Iterable, Mapping

from bootstrap.ha import sentinel
from bootstrap.redisdb.keys import KeyFamily, acl_patterns
from bootstrap.redisdb.releases import MODULE_DIR, MODULE_FILES
from bootstrap.redisdb.users import APP_USER, HEALTH_USER, OPS_USER, hashed
from infra.settings import StackSettings
from infra.specs.model import ContainerSpec, File, Healthcheck, PortBinding, SecretFile

PORT = 6379
CONF_PATH = "/usr/local/etc/redis/redis.conf"
ACL_PATH = "/usr/local/etc/redis/users.acl"
HEALTH_PASSWORD_FILE = "/run/secrets/redis-health-password"
DATA_PATH = "/data"


# The application is the `default` user: Board of One authenticates with a password
# only (AUTH <password>). It may touch its key families and nothing in @dangerous
# (FLUSHALL, FLUSHDB, CONFIG, DEBUG, SHUTDOWN, ACL, MODULE, REPLICAOF, MONITOR, KEYS,
# INFO, SAVE, MIGRATE, RESTORE, CLIENT KILL, ...), runs no server-side code (EVAL,
# FUNCTION, SCRIPT: Lua can allocate past maxmemory and a FUNCTION FLUSH wipes every
# library), stays in database 0 (which the cleanup scans), and does not enumerate
# what others hold (RANDOMKEY, PUBSUB, CLIENT TRACKING). Neither the app nor the
# LangGraph saver needs any of it. MODULE LIST stays: redisvl asks it.
APP_RULES = "+@all -@dangerous -@scripting -select -randomkey -pubsub -client|tracking +module|list"
# bootstrap, verify, status and the cleanup: reading, SCAN, TTLs and the cleanup's Lua;
# never re-pointing replication, traffic taps, moving keys away, or anything that wipes or
# reconfigures. (SYNC/PSYNC stay: a replica of this server logs in as bo1_ops, and they
# read nothing that ~* does not already.)
OPS_RULES = (
    "~* &* +@all -flushall -flushdb -shutdown -debug -acl -config +config|get -replicaof"
    " -slaveof -failover -monitor -migrate -restore -swapdb -function -module +module|list"
)


def render_conf(
    settings: StackSettings,
    aclfile: str = ACL_PATH,
    data_dir: str = DATA_PATH,
    module_dir: str = MODULE_DIR,
    include: str | None = None,
    port: int = PORT,
    bind: str = "* -::*",
) -> str:
    """redis.conf; the paths default to the container's (tests pass their own).

    ``include``: a file of settings read first (a node's replication settings under
    Sentinel). Sentinel's CONFIG REWRITE writes the node's current role into this file,
    and a directive's last line wins, so the include goes first.
    """
    # With a config file of its own, the official image loads no module by itself.
    modules = [f"loadmodule {module_dir}/{name}" for name in MODULE_FILES]
    return "\n".join(
        [
            *([f"include {include}"] if include else []),
            *(modules if settings.redis_modules else []),
            f"# bo1-infra redis.conf for stack {settings.stack} (generated; do not edit)",
            # Inside the container Redis listens on all interfaces; the host side of the
            # port is published on bind_address only (127.0.0.1 by default).
            # A container: all IPv4, IPv6 only where it has it; an ha node on the host's
            # network: its node's address and loopback.
            f"bind {bind}",
            "protected-mode yes",
            f"port {port}",
            f"dir {data_dir}",
            f"appendonly {'yes' if settings.redis_appendonly else 'no'}",
            f"appendfsync {settings.redis_appendfsync}",
            "aof-use-rdb-preamble yes",
            'save ""',  # AOF is the persistence; no extra RDB fork on a timer
            f"maxmemory {settings.redis_maxmemory}",
            f"maxmemory-policy {settings.redis_maxmemory_policy}",
            f"aclfile {aclfile}",
            "loglevel notice",
            "",
        ]
    )


def render_acl(
    values: Mapping[str, str], families: Iterable[KeyFamily], *, ha: bool = False
) -> str:
    """The ACL file: the app as `default` (password only), ops and healthcheck users;
    under Sentinel (``ha``) the replica's and the Sentinels' logins too."""
    app_keys = " ".join(f"~{pattern}" for pattern in acl_patterns(families))
    return "\n".join(
        [
            f"user {APP_USER} on {hashed(values['redisAppPassword'])} resetkeys resetchannels"
            f" {app_keys} {APP_RULES}",
            f"user {OPS_USER} on {hashed(values['redisOpsPassword'])} {OPS_RULES}",
            f"user {HEALTH_USER} on {hashed(values['redisHealthPassword'])} resetkeys -@all +ping"
            # under Sentinel the healthcheck reads the replication state
            # (replicated_healthcheck())
            + (" +info" if ha else ""),
            *(sentinel.data_node_acl(values) if ha else []),
            "",
        ]
    )


ACL_SECRETS = ("redisAppPassword", "redisOpsPassword", "redisHealthPassword")


def _health_password(values: Mapping[str, str]) -> str:
    return values["redisHealthPassword"]


def health_password_file() -> SecretFile:
    """The file the healthcheck reads its password from (Redis and Sentinel alike)."""
    return SecretFile(HEALTH_PASSWORD_FILE, ("redisHealthPassword",), _health_password)


def _health_cli(port: int) -> str:
    """redis-cli as the healthcheck user; its password comes from REDISCLI_AUTH, which each
    check sets inside its own shell, from a file: never in the container's environment,
    where docker inspect would show it."""
    return f"redis-cli --no-auth-warning -p {port} --user {HEALTH_USER}"


def healthcheck(password_file: str = HEALTH_PASSWORD_FILE, port: int = PORT) -> Healthcheck:
    script = f'REDISCLI_AUTH="$(cat {password_file})" {_health_cli(port)} ping | grep -q PONG'
    return Healthcheck(test=("CMD-SHELL", script), start_period_s=30)


def replicated_healthcheck(
    me: str, port: int, sentinel_port: int, master_name: str,
    password_file: str = HEALTH_PASSWORD_FILE,
) -> Healthcheck:  # fmt: skip
    """Under Sentinel, healthy only where the node could serve: a replica whose link to
    its master is up (synced), or the master the node's Sentinel names (``me``: this
    node's address). Not a node loading its data, nor one back from its rendered file
    calling itself master while Sentinel knows another. The next node's Redis (the
    rolling order) waits for this."""
    script = "; ".join([
        f'REDISCLI_AUTH="$(cat {password_file})"', "export REDISCLI_AUTH",
        f"info=$({_health_cli(port)} info replication persistence) || exit 1",
        'case "$info" in *loading:1*) exit 1 ;; *master_link_status:up*) exit 0 ;; esac',
        'case "$info" in *role:master*) ;; *) exit 1 ;; esac',
        f"named=$({_health_cli(sentinel_port)} sentinel get-master-addr-by-name {master_name}"
        " | head -n 1)",
        f'[ "$named" = {shlex.quote(me)} ]',
    ])  # fmt: skip
    return Healthcheck(test=("CMD-SHELL", script), start_period_s=30)


def container(settings: StackSettings) -> ContainerSpec:
    return ContainerSpec(
        name=f"{settings.prefix}-redis",
        alias="redis",
        image=settings.redis_image_ref,
        command=("redis-server", CONF_PATH),
        env={},
        files=(
            File(CONF_PATH, render_conf(settings)),
            SecretFile(
                ACL_PATH,
                ACL_SECRETS,
                functools.partial(render_acl, families=settings.key_families()),
            ),
            health_password_file(),
        ),
        port=PortBinding(PORT, settings.redis_port, settings.bind_address),
        healthcheck=healthcheck(),
        volume_name=f"{settings.prefix}-redisdata",
        data_path=DATA_PATH,
        memory_mb=settings.redis_memory_mb,
        stop_grace_s=60,
        labels={"com.bo1.stack": settings.stack, "com.bo1.component": "redis"},
    )
