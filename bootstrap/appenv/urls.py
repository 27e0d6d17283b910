"""Connection URLs, built in one place so every password is quoted the same way."""

from __future__ import annotations

from urllib.parse import quote


def connection_url(scheme: str, user: str, password: str, host: str, port: int, path: str) -> str:
    """``scheme://user:password@host:port/path`` with user and password percent-encoded."""
    return f"{scheme}://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}/{path}"


# What an ha stack's multi-host URLs carry: libpq keeps the host that accepts writes, and
# a leader that stops answering fails the connection in seconds, not TCP's minutes.
LEADER_QUERY = "target_session_attrs=read-write&connect_timeout=5&tcp_user_timeout=5000"
# Over an ha stack's poolers: each reaches the leader through its node's HAProxy, so any
# pooler that answers will do. No target_session_attrs: a pooler reports the
# in_hot_standby of its first server connection, not of the server it uses now.
POOLERS_QUERY = "connect_timeout=5&tcp_user_timeout=5000"


def sentinel_url(user: str, password: str, sentinels: list[str], master: str) -> str:
    """``redis+sentinel://user:password@h1:p1,h2:p2/master``: the Sentinels to ask for
    ``master`` (bo1-infra's --redis-url on an ha stack); user and password percent-encoded."""
    single = connection_url("redis+sentinel", user, password, "HOSTS", 0, master)
    return single.replace("HOSTS:0", ",".join(sentinels), 1)


def multi_host_url(
    user: str, password: str, hosts: list[tuple[str, int]], database: str, query: str
) -> str:
    """A libpq multi-host URL: ``postgresql://user:password@h1:p1,h2:p2/database?query``
    (libpq tries the hosts in turn; ``target_session_attrs=read-write`` keeps the leader)."""
    at = ",".join(f"{host}:{port}" for host, port in hosts)
    single = connection_url("postgresql", user, password, "HOSTS", 0, database)
    return single.replace("HOSTS:0", at, 1) + f"?{query}"
