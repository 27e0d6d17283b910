"""High availability for Postgres, rendered: etcd's arguments and patroni.yml (pure).

Patroni keeps Postgres's leader in etcd (the v3 API: Debian's etcd 3.4 serves it and
Patroni's ``etcd3`` section speaks it). ``loop_wait`` 2 and ``retry_timeout`` 4 instead
of Patroni's 10/10: a crashed primary is seen within 2 s. ``ttl`` is Patroni's floor, 20:
a node that vanishes with its Patroni holds the leader key that long.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from bootstrap import shell_script
from bootstrap.ha.tls import Tls

# Patroni 3.0.2 (Debian 12's package) overwrites the leader key unconditionally when its
# lease is renewed (etcd3 update_leader: a plain put): a leader cut off and healed took
# the lock back from the leader elected meanwhile, and that leader's writes were lost
# (tests/test_ha_patroni.py caught it). 3.0.3 made it a transaction. The image and the
# tests run this release, from PyPI.
PATRONI_VERSION = "4.1.5"
ETCD_CLIENT_PORT = 2379
ETCD_PEER_PORT = 2380
PATRONI_PORT = 8008
REPLICATION_USER = "replicator"
REST_USER = "patroni"


@dataclass(frozen=True)
class Node:
    name: str  # etcd member and Patroni node name
    address: str  # where the other nodes reach it


@dataclass(frozen=True)
class Timing:
    # Patroni 3.2+ refuses a ttl under 20 (and raises it to 20): the leader key outlives
    # a lost node by up to this long. loop_wait + 2 x retry_timeout stays within ttl.
    ttl: int = 20
    loop_wait: int = 2
    retry_timeout: int = 4


def etcd_args(me: Node, nodes: tuple[Node, ...], data_dir: str, token: str, tls: Tls) -> list[str]:
    """etcd's command line for one member of the cluster ``nodes``.

    Mutual TLS on both ports, with the node's certificate of the stack CA: whoever writes
    to etcd decides who leads Postgres, and every container of a node shares its host's
    network, so only a holder of a stack certificate may talk to it (no plain loopback
    listener either)."""
    cluster = ",".join(f"{n.name}={_peer_url(n)}" for n in nodes)
    return [
        "etcd",
        f"--name={me.name}",
        f"--data-dir={data_dir}",
        f"--listen-peer-urls={_peer_url(me)}",
        f"--initial-advertise-peer-urls={_peer_url(me)}",
        f"--listen-client-urls={etcd_url(me)}",
        f"--advertise-client-urls={etcd_url(me)}",
        f"--initial-cluster={cluster}",
        f"--initial-cluster-token={token}",
        "--initial-cluster-state=new",
        # A member cut off keeps campaigning and raising its term; without pre-vote, on its
        # return it forces the majority's leader to step down, and Patroni's leader key
        # cannot be renewed meanwhile (the partition test saw a leader demoted by that
        # after the heal, on a loaded machine). etcd 3.5 turned it on by default.
        "--pre-vote=true",
        "--client-cert-auth",
        f"--trusted-ca-file={tls.ca}",
        f"--cert-file={tls.cert}",
        f"--key-file={tls.key}",
        "--peer-client-cert-auth",
        f"--peer-trusted-ca-file={tls.ca}",
        f"--peer-cert-file={tls.cert}",
        f"--peer-key-file={tls.key}",
    ]


ETCD_SCRIPT = Path(__file__).with_name("scripts") / "etcd-member.sh"
# how long a rebuilt member keeps asking the cluster to take it back before its container
# exits (and restarts): an etcd election after a loss takes seconds
ETCD_JOIN_WAIT_S = 120


def etcd_member_script(me: Node, nodes: tuple[Node, ...], data_dir: str, tls: Tls) -> str:
    """The etcd container's entry point: etcd as etcd_args renders it, or, on a node
    rebuilt while the others run, rejoining them in its own place (scripts/etcd-member.sh)."""
    others = ",".join(etcd_url(n) for n in nodes if n != me)
    settings: dict[str, str | int] = {
        "name": me.name, "data_dir": data_dir, "peer_url": _peer_url(me), "others": others,
        "cacert": tls.ca, "cert": tls.cert, "key": tls.key, "join_wait_s": ETCD_JOIN_WAIT_S,
    }  # fmt: skip
    return shell_script.render(ETCD_SCRIPT, settings)


def _peer_url(node: Node) -> str:
    return f"https://{node.address}:{ETCD_PEER_PORT}"


def etcd_url(node: Node) -> str:
    return f"https://{node.address}:{ETCD_CLIENT_PORT}"


def etcdctl_tls(tls: Tls) -> list[str]:
    """etcdctl's options to reach a member with ``tls``'s certificate."""
    return [f"--cacert={tls.ca}", f"--cert={tls.cert}", f"--key={tls.key}"]


# Patroni's GET /readiness answers 200 on the leader, and on a replica only while it
# streams within maximum_lag_on_failover of the leader: a node that just restarted is
# not "ready" until it could take over, which is what the rolling order waits for.
_READINESS_PROBE = """import sys, urllib.request
try:
    urllib.request.urlopen(sys.argv[1], timeout=4)
except Exception as error:
    sys.exit(f"Patroni is not ready: {error}")
"""


def readiness_probe(me: Node, python: str) -> tuple[str, ...]:
    """A command (run with ``python``) that succeeds when Patroni on ``me`` is ready."""
    return (python, "-c", _READINESS_PROBE, f"http://{me.address}:{PATRONI_PORT}/readiness")


@dataclass(frozen=True)
class PostgresNode:
    """What Patroni needs to run Postgres on one node."""

    data_dir: str
    bin_dir: str
    port: int = 5432
    socket_dir: str = "/var/run/postgresql"
    parameters: Mapping[str, str] = field(default_factory=dict)
    database: str = "bo1"  # created once, when Patroni bootstraps the cluster
    # WAL archiving (bootstrap/backup/policy.archive_settings): this node's own settings,
    # not the cluster-wide ones in etcd, since each node names its own pgbackrest.conf
    archive: Mapping[str, str] = field(default_factory=dict)


def patroni_config(
    scope: str,
    me: Node,
    nodes: tuple[Node, ...],
    pg: PostgresNode,
    passwords: Mapping[str, str],
    *,
    synchronous: bool,
    tls: Tls,
    timing: Timing = Timing(),
) -> str:
    """patroni.yml for ``me`` (JSON, which is YAML): ``passwords`` maps superuser,
    replication and rest (the REST API's) to their secrets; ``tls`` is the node's
    certificate, which etcd asks of every client."""
    hosts = ",".join(f"{n.address}:{ETCD_CLIENT_PORT}" for n in nodes)
    hba = [
        "local all postgres peer",
        "local all all scram-sha-256",
        "host replication replicator 0.0.0.0/0 scram-sha-256",
        "host all all 0.0.0.0/0 scram-sha-256",
    ]
    config = {
        "scope": scope,
        "name": me.name,
        "restapi": {
            "listen": f"{me.address}:{PATRONI_PORT}",
            "connect_address": f"{me.address}:{PATRONI_PORT}",
            # Basic auth on what changes the cluster (POST/PUT/PATCH/DELETE: switchover,
            # restart, reinitialize, config); the health and role reads stay open.
            "authentication": {"username": REST_USER, "password": passwords["rest"]},
        },
        "ctl": {"authentication": {"username": REST_USER, "password": passwords["rest"]}},
        "etcd3": {"hosts": hosts, "protocol": "https", "cacert": tls.ca, "cert": tls.cert,
                  "key": tls.key},
        "bootstrap": {
            "dcs": {
                "ttl": timing.ttl,
                "loop_wait": timing.loop_wait,
                "retry_timeout": timing.retry_timeout,
                "maximum_lag_on_failover": 1048576,
                # etcd down (all its members replaced at once by one `pulumi up`, say) but
                # every Patroni member answering the leader's POST /failsafe: the primary
                # stays one instead of demoting itself. Cut off from them too, it demotes.
                "failsafe_mode": True,
                "synchronous_mode": synchronous,
                # A crashed primary Postgres fails over at once instead of being restarted
                # in place for up to 300 s; safe only when no acknowledged commit can be
                # missing on the sync standby.
                "primary_start_timeout": 0 if synchronous else 300,
                "postgresql": {
                    "use_pg_rewind": True,
                    "parameters": {"wal_level": "replica", "hot_standby": "on",
                                   "wal_log_hints": "on", **dict(pg.parameters)},
                },
            },
            "initdb": [
                {"encoding": "UTF8"}, {"auth-local": "peer"}, {"auth-host": "scram-sha-256"},
            ],
            # What the postgres image's POSTGRES_DB does on a single-host stack. Patroni
            # appends the new cluster's superuser URL, which psql takes as its target.
            "post_bootstrap": shlex.join([
                f"{pg.bin_dir}/psql", "-X", "-v", "ON_ERROR_STOP=1",
                "-c", f'CREATE DATABASE "{pg.database}"',
            ]),
        },
        "postgresql": {
            "listen": f"{me.address},127.0.0.1:{pg.port}",
            "connect_address": f"{me.address}:{pg.port}",
            "data_dir": pg.data_dir,
            "bin_dir": pg.bin_dir,
            "pgpass": f"{pg.data_dir}.pgpass",
            "pg_hba": hba,
            # A new replica's pg_basebackup asks for a fast checkpoint: the default, spread
            # over checkpoint_timeout, kept a replica "creating" for minutes under writes.
            "basebackup": [{"checkpoint": "fast"}],
            "authentication": {
                "superuser": {"username": "postgres", "password": passwords["superuser"]},
                "replication": {
                    "username": REPLICATION_USER,
                    "password": passwords["replication"],
                },
            },
            "parameters": {"unix_socket_directories": pg.socket_dir,
                           "password_encryption": "scram-sha-256", **dict(pg.archive)},
        },
    }  # fmt: skip
    return json.dumps(config, indent=2) + "\n"
