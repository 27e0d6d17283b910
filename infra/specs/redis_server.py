"""Redis: the rendered redis.conf, the ACL users, the healthcheck and the container spec.

No password ever appears in the command line or the environment (both show in
``docker inspect`` and in Pulumi's inputs): users and their password hashes
live in an uploaded ACL file, and the healthcheck reads its password from an
uploaded file at check time.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Iterable, Mapping

from bootstrap.redisdb.keys import KeyFamily, acl_patterns
from bootstrap.redisdb.releases import MODULE_DIR, MODULE_FILES
from bootstrap.redisdb.users import APP_USER, HEALTH_USER, OPS_USER
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
) -> str:
    """redis.conf; the paths default to the container's (tests pass their own)."""
    # With a config file of its own, the official image loads no module by itself.
    modules = [f"loadmodule {module_dir}/{name}" for name in MODULE_FILES]
    return "\n".join(
        [
            *(modules if settings.redis_modules else []),
            f"# bo1-infra redis.conf for stack {settings.stack} (generated; do not edit)",
            # Inside the container Redis listens on all interfaces; the host side of the
            # port is published on bind_address only (127.0.0.1 by default).
            "bind * -::*",  # all IPv4; IPv6 only where the container has it
            "protected-mode yes",
            f"port {PORT}",
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


def _hash(password: str) -> str:
    # ACL files accept '#<sha256>' in place of '>password': no plaintext at rest.
    return "#" + hashlib.sha256(password.encode()).hexdigest()


def render_acl(values: Mapping[str, str], families: Iterable[KeyFamily]) -> str:
    """The ACL file: the app as `default` (password only), ops and healthcheck users."""
    app_keys = " ".join(f"~{pattern}" for pattern in acl_patterns(families))
    return "\n".join(
        [
            f"user {APP_USER} on {_hash(values['redisAppPassword'])} resetkeys resetchannels"
            f" {app_keys} {APP_RULES}",
            f"user {OPS_USER} on {_hash(values['redisOpsPassword'])} {OPS_RULES}",
            f"user {HEALTH_USER} on {_hash(values['redisHealthPassword'])} resetkeys -@all +ping",
            "",
        ]
    )


def _health_password(values: Mapping[str, str]) -> str:
    return values["redisHealthPassword"]


def healthcheck(password_file: str = HEALTH_PASSWORD_FILE, port: int = PORT) -> Healthcheck:
    # REDISCLI_AUTH is set inside the check's own shell, from a file: never in
    # the container's environment, where docker inspect would show it.
    script = (
        f'REDISCLI_AUTH="$(cat {password_file})" '
        f"redis-cli --no-auth-warning -p {port} --user {HEALTH_USER} ping | grep -q PONG"
    )
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
                ("redisAppPassword", "redisOpsPassword", "redisHealthPassword"),
                functools.partial(render_acl, families=settings.key_families()),
            ),
            SecretFile(HEALTH_PASSWORD_FILE, ("redisHealthPassword",), _health_password),
        ),
        port=PortBinding(PORT, settings.redis_port, settings.bind_address),
        healthcheck=healthcheck(),
        volume_name=f"{settings.prefix}-redisdata",
        data_path=DATA_PATH,
        memory_mb=settings.redis_memory_mb,
        stop_grace_s=60,
        labels={"com.bo1.stack": settings.stack, "com.bo1.component": "redis"},
    )
