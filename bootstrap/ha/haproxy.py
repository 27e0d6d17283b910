"""haproxy.cfg for an ``ha`` stack's Postgres nodes (pure): the leader, found by Patroni.

Each Postgres node's PgBouncer sends its server connections to a HAProxy on the same
node, which forwards them to whichever node Patroni's REST API calls the primary
(``GET /primary`` answers 200 on the leader only), as Patroni's own haproxy.cfg
example does. A pooler in front of its own node's Postgres could not follow a
failover: PgBouncer hands every client the ``in_hot_standby`` of its first server
connection (pgbouncer issue 859), so a multi-host URL with
``target_session_attrs=read-write`` kept picking the old leader's pooler.

``on-marked-down shutdown-sessions`` closes the connections to a node the moment it
stops being the primary, so no pooled server connection outlives the failover on a
demoted node.
"""

from __future__ import annotations

from dataclasses import dataclass

from bootstrap.ha.config import PATRONI_PORT, Node

HAPROXY_PORT = 5000  # loopback only: the node's PgBouncer is its one client
CHECK_PATH = "/primary"


@dataclass(frozen=True)
class Checks:
    """How fast HAProxy notices: a check every ``inter_ms``; down after ``fall`` failed
    ones (the old leader within ~2 s), up again after ``rise`` good ones."""

    inter_ms: int = 1000
    fall: int = 2
    rise: int = 1


def haproxy_cfg(
    nodes: tuple[Node, ...],
    *,
    postgres_port: int = 5432,
    listen: str = f"127.0.0.1:{HAPROXY_PORT}",
    max_conn: int = 200,
    checks: Checks = Checks(),
) -> str:
    """HAProxy's whole configuration: TCP to the Patroni leader among ``nodes``."""
    servers = [
        f"    server {n.name} {n.address}:{postgres_port} check port {PATRONI_PORT}" for n in nodes
    ]
    lines = [
        "global",
        f"    maxconn {max_conn}",
        "",
        "defaults",
        "    mode tcp",
        "    log stdout format raw local0 info",
        "    option tcplog",
        "    retries 2",
        "    timeout connect 4s",
        # PgBouncer's own server_idle_timeout (600 s) closes idle server connections
        # first; a longer tunnel timeout never cuts one that is in use.
        "    timeout client 30m",
        "    timeout server 30m",
        "    timeout check 2s",
        "",
        "listen postgres_primary",
        f"    bind {listen}",
        f"    option httpchk GET {CHECK_PATH}",
        "    http-check expect status 200",
        f"    default-server inter {checks.inter_ms}ms fall {checks.fall} rise {checks.rise}"
        " on-marked-down shutdown-sessions",
        *servers,
        "",
    ]
    return "\n".join(lines)
