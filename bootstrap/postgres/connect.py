"""The PostgreSQL edge: resolve where to connect, connect, and describe it safely.

Connection settings come from ``--dsn`` or libpq's own variables (PGHOST,
PGPORT, PGUSER, PGPASSWORD, PGDATABASE); libpq reads those itself, so an empty
DSN is valid. Everything printed about a connection goes through
``describe_target`` or ``mask_password``, which never include the password.
"""

from __future__ import annotations

import os
import time
from typing import TYPE_CHECKING

import psycopg
from psycopg.conninfo import conninfo_to_dict

from bootstrap.errors import AuthenticationFailed, ConnectionFailed, UsageError
from bootstrap.masking import check_url, mask_password
from bootstrap.postgres.tenancy import SUPERUSER

if TYPE_CHECKING:
    from collections.abc import Mapping

DEFAULT_CONNECT_TIMEOUT = 5
# The stack's superuser password, as bootstrap receives it (secrets/catalogue.toml).
SUPERUSER_PASSWORD_ENV = "BO1_POSTGRES_SUPERUSER_PASSWORD"


def conn_params(dsn: str) -> dict[str, str]:
    """Parse a DSN into libpq keywords; a malformed one is a usage error that echoes none of it.

    libpq's own parse errors quote the text around the problem, which may be part
    of a password: they are replaced by a fix-it line.
    """
    check_url(dsn, "--dsn (a PostgreSQL URL)")
    try:
        return {k: str(v) for k, v in conninfo_to_dict(dsn).items()}
    except psycopg.ProgrammingError:
        raise UsageError(
            "invalid --dsn: not a libpq URL or key=value string; in key=value form put a"
            " value with spaces or quotes in single quotes (password='a b'), escaping ' and \\"
            " with a backslash"
        ) from None


def targets(dsn: str, env: Mapping[str, str] = os.environ) -> list[tuple[str, int]]:
    """Every (host, port) the way libpq fills them: --dsn, then PGHOST/PGPORT, then its
    defaults. A multi-host DSN (an ha stack's nodes) names several; one port serves all."""
    params = conn_params(dsn)
    hosts = (params.get("host") or env.get("PGHOST") or "/var/run/postgresql").split(",")
    ports = (params.get("port") or env.get("PGPORT") or "5432").split(",")
    if len(ports) == 1:
        ports *= len(hosts)
    if len(ports) != len(hosts) or not all(hosts):
        raise UsageError(
            f"--dsn names {len(hosts)} host(s) and {len(ports)} port(s): give one port,"
            " or one per host"
        )
    try:
        return [(host, int(port)) for host, port in zip(hosts, ports, strict=True)]
    except ValueError:
        bad = next(p for p in ports if not p.isdigit())
        raise UsageError(f"invalid port {bad!r} (--dsn or PGPORT): use a number") from None


def target(dsn: str, env: Mapping[str, str] = os.environ) -> tuple[str, int]:
    """(host, port) of a single-host DSN (the first host of a multi-host one)."""
    return targets(dsn, env)[0]


def describe_target(dsn: str, env: Mapping[str, str] = os.environ) -> str:
    """``host:port/dbname as user``, filling gaps the way libpq does, never the password."""
    params = conn_params(dsn)
    user = params.get("user") or env.get("PGUSER") or _os_user()
    dbname = params.get("dbname") or env.get("PGDATABASE") or user
    try:  # every host with its port: an ha stack's multi-host DSN names several
        where = ",".join(f"{host}:{port}" for host, port in targets(dsn, env))
    except UsageError:  # hosts and ports that do not pair: say them as given
        host = params.get("host") or env.get("PGHOST") or "/var/run/postgresql"
        where = f"{host}:{params.get('port') or env.get('PGPORT') or '5432'}"
    return f"{where}/{dbname} as {user}"


def _os_user() -> str:
    import getpass

    return getpass.getuser()


def connect(
    dsn: str = "",
    *,
    wait: float = 0.0,
    autocommit: bool = True,
    overrides: dict[str, str] | None = None,
) -> psycopg.Connection:
    """Connect, retrying for up to ``wait`` seconds; fail with a one-line error.

    ``overrides`` (e.g. ``password``) take precedence over the DSN and PG* variables.
    A refused login is not retried: waiting will not fix a wrong password.
    """
    params = conn_params(dsn)
    overrides = overrides or {}
    kwargs: dict[str, object] = {"autocommit": autocommit, **overrides}
    if "connect_timeout" not in params and "PGCONNECT_TIMEOUT" not in os.environ:
        kwargs["connect_timeout"] = DEFAULT_CONNECT_TIMEOUT
    deadline = time.monotonic() + wait
    while True:
        try:
            return psycopg.connect(dsn, **kwargs)  # type: ignore[arg-type]
        except psycopg.OperationalError as exc:
            if "authentication failed" in str(exc):
                raise AuthenticationFailed(_connect_message(dsn, exc, 0, overrides)) from None
            if time.monotonic() >= deadline:
                raise ConnectionFailed(_connect_message(dsn, exc, wait, overrides)) from None
            time.sleep(0.25)


def _connect_message(
    dsn: str, exc: Exception, wait: float, overrides: dict[str, str] | None = None
) -> str:
    reason = _libpq_reason(str(exc))
    for secret in (overrides or {}).values():
        reason = reason.replace(secret, "***") if secret else reason
    waited = f" after waiting {wait:g} s" if wait else ""
    hint = (
        "check the password (PGPASSWORD or --dsn)"
        if "password" in reason
        else "is the server running there? Check --dsn or PGHOST/PGPORT, or pass --wait"
    )
    user = (overrides or {}).get("user")
    target = describe_target(dsn, {**os.environ, **({"PGUSER": user} if user else {})})
    return f"cannot connect to PostgreSQL at {target}{waited}: {reason}; {hint}"


def _libpq_reason(message: str) -> str:
    """The useful tail of a libpq error: 'Connection refused', 'password authentication ...'."""
    first = mask_password(message).strip().splitlines()[0] if message.strip() else "unknown error"
    # libpq: 'connection to server at "h" (addr), port p failed: <reason>'
    reason = first.rsplit(" failed: ", 1)[-1]
    return reason.removeprefix("FATAL:").strip()


def superuser_login(dsn: str, password: str | None = None) -> dict[str, str]:
    """libpq overrides for the superuser login every command shares.

    The user is ``postgres`` unless --dsn or PGUSER names one (libpq alone would
    take the OS user). The password is ``password`` when given, else
    $BO1_POSTGRES_SUPERUSER_PASSWORD when set, else what --dsn or PGPASSWORD say.
    """
    params = conn_params(dsn)
    login = {}
    if "user" not in params and not os.environ.get("PGUSER"):
        login["user"] = SUPERUSER
    password = password or os.environ.get(SUPERUSER_PASSWORD_ENV)
    if password and "password" not in params:
        login["password"] = password
    return login


def connect_superuser(
    dsn: str = "",
    *,
    wait: float = 0.0,
    password: str | None = None,
    at: tuple[str, int] | None = None,
) -> psycopg.Connection:
    """The superuser connection of migrate, seed, bootstrap, verify and status.

    ``at`` replaces host and port (the local end of a tunnel to a remote Docker host).
    """
    overrides = superuser_login(dsn, password)
    if at is not None:
        overrides |= {"host": at[0], "port": str(at[1])}
    return connect(dsn, wait=wait, overrides=overrides)
