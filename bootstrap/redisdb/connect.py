"""The Redis edge: connect from REDIS_URL or --redis-url, wait if asked, fail in one clear line."""

from __future__ import annotations

import os
import time
from urllib.parse import urlsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from bootstrap.errors import ConnectionFailed, UsageError
from bootstrap.masking import check_url, mask_password


def resolve_url(explicit: str | None) -> str:
    url = explicit or os.environ.get("REDIS_URL", "")
    if not url:
        raise UsageError("no Redis to connect to: pass --redis-url or set REDIS_URL")
    check_url(url, "Redis URL (--redis-url or REDIS_URL)")
    try:
        urlsplit(url).port  # noqa: B018 - a bad port raises here, quoting nothing we print
    except ValueError:
        raise UsageError(
            "invalid Redis URL (--redis-url or REDIS_URL): its port is not a number"
        ) from None
    return url


def describe(url: str) -> str:
    """``host:port as user`` for messages; never the password."""
    parts = urlsplit(url)
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379} as {parts.username or 'default'}"


def connect(url: str, *, wait: float = 0.0) -> redis.Redis:
    """A client that has answered PING, retrying refused connections for up to ``wait`` s."""
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
