"""The Redis edge: connect from REDIS_URL or --redis-url, wait if asked, fail in one clear line.

An ha stack's Redis moves (Sentinel promotes a replica): its URL names the Sentinels and
the master instead of a host, ``redis+sentinel://[USER]:PASSWORD@H1:26379,H2:26379/bo1``
(the convention of Kombu and others). The Sentinels are asked with the same login, then
the master they name is connected to directly, as with a plain URL.
"""

from __future__ import annotations

import os
import time
from urllib.parse import SplitResult, unquote, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from redis.sentinel import MasterNotFoundError, Sentinel

from bootstrap.errors import ConnectionFailed, UsageError
from bootstrap.masking import check_url, mask_password


def resolve_url(explicit: str | None) -> str:
    url = explicit or os.environ.get("REDIS_URL", "")
    if not url:
        raise UsageError("no Redis to connect to: pass --redis-url or set REDIS_URL")
    check_url(url, "Redis URL (--redis-url or REDIS_URL)")
    if urlsplit(url).scheme == SENTINEL_SCHEME:
        _sentinels(urlsplit(url))  # several hosts: checked one by one
        return url
    try:
        urlsplit(url).port  # noqa: B018 - a bad port raises here, quoting nothing we print
    except ValueError:
        raise UsageError(
            "invalid Redis URL (--redis-url or REDIS_URL): its port is not a number"
        ) from None
    return url


SENTINEL_SCHEME = "redis+sentinel"


def describe(url: str) -> str:
    """``host:port as user`` for messages; never the password."""
    parts = urlsplit(url)
    user = parts.username or "default"
    if parts.scheme == SENTINEL_SCHEME:
        return f"master {parts.path.strip('/') or '?'} via Sentinels {_hosts(parts)} as {user}"
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379} as {user}"


def _hosts(parts: SplitResult) -> str:
    return parts.netloc.rpartition("@")[2]


def sentinels(url: str) -> list[tuple[str, int]]:
    """Each Sentinel (host, port) a redis+sentinel:// URL names."""
    return _sentinels(urlsplit(url))


def _sentinels(parts: SplitResult) -> list[tuple[str, int]]:
    out = []
    for item in _hosts(parts).split(","):
        host, _, port = item.rpartition(":") if ":" in item else (item, "", "")
        if not host or (port and not port.isdigit()):
            raise UsageError(
                "invalid Redis Sentinel URL (--redis-url or REDIS_URL): use"
                " redis+sentinel://[USER]:PASSWORD@HOST:PORT[,HOST:PORT...]/MASTER"
            )
        out.append((host, int(port or 26379)))
    return out


def master_url(url: str, wait: float = 0.0) -> str:
    """A plain redis:// URL of the master the Sentinels name now (``url`` unchanged when it
    names a server itself)."""
    parts = urlsplit(url)
    if parts.scheme != SENTINEL_SCHEME:
        return url
    name = parts.path.strip("/")
    if not name:
        raise UsageError(
            "invalid Redis Sentinel URL (--redis-url or REDIS_URL): it names no master;"
            " end it with /MASTER (an ha stack's is /bo1)"
        )
    login = {"username": unquote(parts.username) if parts.username else None,
             "password": unquote(parts.password or "")}  # fmt: skip
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        _sentinels(parts),
        sentinel_kwargs={**login, "socket_connect_timeout": 5, "socket_timeout": 5},
    )
    deadline = time.monotonic() + wait
    while True:
        try:
            host, port = sentinel.discover_master(name)  # type: ignore[no-untyped-call]
            break
        except MasterNotFoundError as exc:
            # redis-py folds each Sentinel's failure into one message of object reprs
            if "AuthenticationError" in str(exc):
                raise ConnectionFailed(
                    f"the Sentinels ({describe(url)}) refused the login; check the user and"
                    " password (the stack's bo1_ops or application password)"
                ) from None
            unreachable = "ConnectionError" in str(exc) or "TimeoutError" in str(exc)
            failure = "none answered" if unreachable else f"none names a master {name!r}"
        if time.monotonic() >= deadline:
            raise ConnectionFailed(
                f"no Sentinel named a master for {describe(url)}: {failure}; are the Sentinels"
                " running there? Check --redis-url or REDIS_URL, or pass --wait"
            ) from None
        time.sleep(0.25)
    userinfo = parts.netloc.rpartition("@")[0]
    at = f"{userinfo}@" if userinfo else ""
    return f"redis://{at}{host}:{port}/0"


def connect(url: str, *, wait: float = 0.0) -> redis.Redis:
    """A client that has answered PING, retrying refused connections for up to ``wait`` s;
    through Sentinel, a client of the master they name."""
    url = master_url(url, wait)
    try:
        client = redis.Redis.from_url(
            url,
            socket_connect_timeout=5,
            socket_timeout=30,
            retry=Retry(NoBackoff(), 0),  # our own loop retries; the client must not
            decode_responses=True,
        )
    except ValueError:
        raise UsageError(
            "invalid Redis URL (--redis-url or REDIS_URL): use redis://[USER]:PASSWORD@HOST:PORT/DB"
        ) from None
    deadline = time.monotonic() + wait
    while True:
        try:
            client.ping()
            return client
        except redis.AuthenticationError as exc:
            raise ConnectionFailed(
                f"Redis at {describe(url)} refused the login: {exc}; check the user and password"
            ) from None
        except redis.exceptions.NoPermissionError as exc:
            raise ConnectionFailed(f"Redis at {describe(url)}: {exc}") from None
        except (redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError) as exc:
            if time.monotonic() >= deadline:
                waited = f" after waiting {wait:g} s" if wait else ""
                raise ConnectionFailed(
                    f"cannot connect to Redis at {describe(url)}{waited}: {_reason(exc)}; "
                    "is it running there? Check --redis-url or REDIS_URL, or pass --wait"
                ) from None
            time.sleep(0.25)


def _reason(exc: Exception) -> str:
    text = mask_password(str(exc)).strip() or type(exc).__name__
    return text.rstrip(".").split(". ")[-1] if "Error " in text else text
