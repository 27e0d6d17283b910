"""Where the verbs connect, on either topology: the Postgres leader and the Redis master now.

On an ``ha`` stack the inputs name every node rather than one server: a libpq multi-host
``--dsn`` (``postgresql://postgres@A:5432,B:5432/bo1``) and a Sentinel URL
(``redis+sentinel://bo1_ops:PW@A:26379,B:26379,C:26379/bo1``). ``resolve`` asks them who
leads (libpq's ``target_session_attrs=read-write``; the Sentinels' ``get-master-addr``),
and bootstrap, verify and status then work on those two servers exactly as on a
single-host stack. The nodes are reached at their own addresses: a Docker host tunnel
(``--docker-host ssh://...``) reaches one host, never a cluster.
"""

from __future__ import annotations

import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from bootstrap.appenv.urls import sentinel_url
from bootstrap.errors import AuthenticationFailed, UsageError
from bootstrap.ha.config import PATRONI_PORT
from bootstrap.postgres.connect import connect, superuser_login, targets
from bootstrap.redisdb import connect as redis_connect
from bootstrap.remote.reach import tcp_host

Address = tuple[str, int]


@dataclass(frozen=True)
class Where:
    """The servers to use now, and (ha) every node the inputs named."""

    postgres: Address  # the single host, or the leader
    redis_url: str  # a plain redis:// URL: the server, or the master
    nodes: tuple[Address, ...] = ()  # ha: each Postgres node as the DSN names it
    sentinels: tuple[Address, ...] = ()  # ha: each Sentinel
    master_name: str = ""

    @property
    def ha(self) -> bool:
        return bool(self.nodes)

    def poolers(self, port: int) -> list[Address]:
        """The pooler beside the Postgres host, or (ha) the one on every Postgres node."""
        hosts = [host for host, _ in self.nodes] or [self.postgres[0]]
        return [(tcp_host(host), port) for host in hosts]


def resolve(dsn: str, redis_url: str, docker_host: str | None, wait: float) -> Where:
    """The leader and master ``dsn`` and ``redis_url`` lead to (themselves when single)."""
    nodes = targets(dsn)
    sentinel = urlsplit(redis_url).scheme == redis_connect.SENTINEL_SCHEME
    if len(nodes) == 1 and not sentinel:
        return Where(nodes[0], redis_url)
    if len(nodes) == 1 or not sentinel:
        raise UsageError(
            "an ha stack needs both: a multi-host --dsn (every Postgres node) and a"
            " redis+sentinel:// --redis-url (every Sentinel); a single-host stack neither"
        )
    if len({port for _, port in nodes}) > 1:
        raise UsageError(
            "the --dsn nodes listen on different ports; an ha stack's Postgres nodes share one"
        )
    if docker_host:
        raise UsageError(
            "--docker-host (or DOCKER_HOST) reaches one Docker host; an ha stack's nodes are"
            " reached at their own addresses: unset it"
        )
    return Where(
        postgres=postgres_leader(dsn, wait),
        redis_url=redis_connect.master_url(redis_url, wait),
        nodes=tuple(nodes),
        sentinels=tuple(redis_connect.sentinels(redis_url)),
        master_name=urlsplit(redis_url).path.strip("/"),
    )


def postgres_leader(dsn: str, wait: float) -> Address:
    """The node of a multi-host ``dsn`` that accepts writes now, as the superuser finds it;
    when the superuser's password is refused (rotated in the stack, not yet in the
    database), as Patroni names it, so that bootstrap can re-key it there."""
    login = superuser_login(dsn) | {"target_session_attrs": "read-write"}
    try:
        with connect(dsn, wait=wait, overrides=login) as conn:
            return conn.info.host, conn.info.port
    except AuthenticationFailed:
        leader = patroni_primary(targets(dsn))
        if leader is None:
            raise
        return leader


def patroni_primary(nodes: list[Address]) -> Address | None:
    """The node whose Patroni answers ``GET /primary`` with 200 (its open health endpoint,
    the one HAProxy asks), if any."""
    for host, port in nodes:
        try:
            url = f"http://{tcp_host(host)}:{PATRONI_PORT}/primary"
            with urllib.request.urlopen(url, timeout=3) as response:
                if response.status == 200:
                    return host, port
        except OSError:  # a replica's 503 (HTTPError) or a node that does not answer
            continue
    return None


def app_redis_url(env: Mapping[str, str]) -> str:
    """The app's Redis as an ha env file gives it (REDIS_SENTINELS, REDIS_SENTINEL_MASTER,
    REDIS_PASSWORD) in one Sentinel URL, password only as the app logs in; "" when not ha."""
    sentinels, master = env.get("REDIS_SENTINELS", ""), env.get("REDIS_SENTINEL_MASTER", "")
    if not sentinels:
        return ""
    return sentinel_url("", env.get("REDIS_PASSWORD", ""), sentinels.split(","), master)
