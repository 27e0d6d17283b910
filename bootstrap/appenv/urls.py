"""Connection URLs, built in one place so every password is quoted the same way."""

from __future__ import annotations

from urllib.parse import quote


def connection_url(scheme: str, user: str, password: str, host: str, port: int, path: str) -> str:
    """``scheme://user:password@host:port/path`` with user and password percent-encoded."""
    return f"{scheme}://{quote(user, safe='')}:{quote(password, safe='')}@{host}:{port}/{path}"
