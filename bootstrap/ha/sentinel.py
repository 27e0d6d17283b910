"""Redis under Sentinel, rendered: the data nodes' replication settings and ACL users, and
sentinel.conf (pure).

Every data node carries the same ACL file plus two users of its own kind: the replica's
login to its primary (PSYNC, REPLCONF, PING) and the Sentinels' login to every data node
(the rules Redis's ACL documentation gives Sentinel). Sentinel reconfigures the nodes
at run time (REPLICAOF, CONFIG REWRITE), so the rendered ``replicaof`` is only where a
node starts.

Containers publish their ports on the node's address, so each process announces that
address: without ``replica-announce-ip`` a replica reports its container address, which
no Sentinel on another host can reach.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass

from bootstrap.ha.config import Node
from bootstrap.redisdb.users import APP_USER, HEALTH_USER, OPS_USER, hashed

MASTER_NAME = "bo1"  # what clients ask the Sentinels for
SENTINEL_PORT = 26379
REPLICA_USER = "bo1_replica"
SENTINEL_USER = "bo1_sentinel"

# On the data nodes: exactly what replication and Sentinel send.
REPLICA_RULES = "resetkeys resetchannels -@all +psync +replconf +ping"
SENTINEL_RULES = (
    "resetkeys allchannels -@all +multi +slaveof +ping +exec +subscribe +config|rewrite +role"
    " +publish +info +client|setname +client|kill +script|kill"
)
# On the Sentinels: clients may ask where the master is and follow its changes, nothing
# more (no SENTINEL FAILOVER, SET, REMOVE, RESET or CONFIG).
CLIENT_RULES = (
    "allchannels -@all +auth +hello +ping +client|setname +subscribe"
    " +psubscribe +unsubscribe +punsubscribe +sentinel|get-master-addr-by-name"
    " +sentinel|masters +sentinel|master +sentinel|replicas +sentinel|slaves"
    " +sentinel|sentinels +sentinel|ckquorum"
)


@dataclass(frozen=True)
class SentinelTiming:
    # 1000-2000 ms gave a new master in 3.3-3.8 s here; 5000 gave 6.5 s (design.md).
    down_after_ms: int = 2000
    failover_timeout_ms: int = 20000
    quorum: int = 2


def data_node_acl(values: Mapping[str, str]) -> list[str]:
    """The two users a data node adds to the stack's ACL file under Sentinel."""
    return [
        f"user {REPLICA_USER} on {hashed(values['redisReplicaPassword'])} {REPLICA_RULES}",
        f"user {SENTINEL_USER} on {hashed(values['redisSentinelPassword'])} {SENTINEL_RULES}",
    ]


def replication_conf(me: Node, primary: Node, values: Mapping[str, str], port: int) -> str:
    """The data node's replication settings (a file of its own: it holds masterauth)."""
    lines = [
        f"masteruser {REPLICA_USER}",
        f"masterauth {values['redisReplicaPassword']}",
        f"replica-announce-ip {me.address}",
        f"replica-announce-port {port}",
        # A replica cut off from its primary keeps serving reads, never writes.
        "replica-read-only yes",
        # Diskless sync: a new replica's full copy streams over the socket, no RDB on disk.
        "repl-diskless-sync yes",
    ]
    if me != primary:
        lines.append(f"replicaof {primary.address} {port}")
    return "\n".join(lines) + "\n"


def myid(scope: str, me: Node) -> str:
    """A Sentinel's identity, fixed per stack and node: a restarted Sentinel is the same
    voter to its peers, not a new one beside a stale entry."""
    return hashlib.sha1(f"bo1-infra sentinel\0{scope}\0{me.name}".encode()).hexdigest()


def sentinel_conf(
    scope: str,
    me: Node,
    primary: Node,
    values: Mapping[str, str],
    *,
    redis_port: int,
    data_dir: str,
    timing: SentinelTiming = SentinelTiming(),
) -> str:
    """sentinel.conf for ``me``. Sentinel rewrites its file as it learns: copy this one
    somewhere writable before starting it."""
    name = MASTER_NAME
    sentinel_pw = values["redisSentinelPassword"]
    return "\n".join(
        [
            f"# bo1-infra sentinel.conf for {scope} on {me.name} (generated; do not edit)",
            f"port {SENTINEL_PORT}",
            f"bind {me.address} 127.0.0.1",  # its node's address (host network) and loopback
            "protected-mode yes",
            f"dir {data_dir}",
            f"sentinel myid {myid(scope, me)}",
            f"sentinel announce-ip {me.address}",
            f"sentinel announce-port {SENTINEL_PORT}",
            "sentinel resolve-hostnames no",
            f"sentinel monitor {name} {primary.address} {redis_port} {timing.quorum}",
            f"sentinel down-after-milliseconds {name} {timing.down_after_ms}",
            f"sentinel failover-timeout {name} {timing.failover_timeout_ms}",
            f"sentinel parallel-syncs {name} 1",
            f"sentinel auth-user {name} {SENTINEL_USER}",
            f"sentinel auth-pass {name} {sentinel_pw}",
            # Sentinels log in to each other as bo1_sentinel too.
            f"sentinel sentinel-user {SENTINEL_USER}",
            f"sentinel sentinel-pass {sentinel_pw}",
            f"user {SENTINEL_USER} on {hashed(sentinel_pw)} allchannels +@all",
            # The app sends its Redis password to the Sentinels as to Redis (no username).
            f"user {APP_USER} on {hashed(values['redisAppPassword'])} {CLIENT_RULES}",
            f"user {OPS_USER} on {hashed(values['redisOpsPassword'])} {CLIENT_RULES}",
            # the containers' healthchecks: PING, and the data node's asks who is master
            f"user {HEALTH_USER} on {hashed(values['redisHealthPassword'])} -@all +ping"
            " +sentinel|get-master-addr-by-name",
            "",
        ]
    )
