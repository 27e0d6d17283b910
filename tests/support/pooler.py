"""A real PgBouncer with the files the stack renders, changing only paths and ports.

As in the container, it reaches Postgres over its socket directory and runs as the
``nobody`` OS user (when the tests run as root), so Postgres's peer rule for its
superuser does not let it in.
"""

from __future__ import annotations

import os
import resource
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Protocol

import psycopg

from bootstrap.pooler import config
from bootstrap.postgres.tenancy import APP_ROLE
from infra.specs import pooler as pooler_spec
from tests.support.netns import Namespace
from tests.support.ports import free_port

PGBOUNCER = shutil.which("pgbouncer", path="/usr/sbin:/usr/bin") or "/usr/sbin/pgbouncer"


@dataclass(frozen=True)
class Pooler:
    host: str
    port: int
    database: str
    workdir: Path
    proc: subprocess.Popen[bytes]
    argv: list[str]
    drop: dict[str, object]  # Popen's user/group arguments, when it drops root itself

    def dsn(self, user: str, password: str, dbname: str | None = None) -> str:
        db = dbname or self.database
        return f"host={self.host} port={self.port} dbname={db} user={user} password={password}"

    def log(self) -> str:
        return (self.workdir / "pgbouncer.log").read_text(errors="replace")


def binary_version() -> tuple[int, int, int]:
    """The tests' pgbouncer version (Debian 12's 1.18), from ``pgbouncer --version``."""
    first = subprocess.run([PGBOUNCER, "--version"], capture_output=True, text=True).stdout
    major, minor, patch = first.split()[1].split(".")[:3]
    return int(major), int(minor), int(patch)


class Upstream(Protocol):
    """Where a pooler's server connections go: a PostgresServer, or a proxy in front of one."""

    @property
    def host(self) -> str: ...
    @property
    def port(self) -> int: ...
    @property
    def socket_dir(self) -> Path: ...


@dataclass(frozen=True)
class Proxy:
    """A TCP address standing in for the server (the HAProxy of an ha node)."""

    host: str
    port: int
    socket_dir: Path = Path("/nonexistent")  # reached over TCP only


def layout_for(
    workdir: Path, server: Upstream, database: str, port: int, over_tcp: bool = False
) -> config.Layout:
    """The stack's layout, changing only paths and ports; ``over_tcp``: reach Postgres by TCP."""
    return replace(
        config.Layout(),
        listen_addr="127.0.0.1",
        listen_port=port,
        server_host=server.host if over_tcp else str(server.socket_dir),
        server_port=server.port,
        database=database,
        config_dir=str(workdir),
        version=binary_version(),
    )


def stack_auth_file(secrets: Mapping[str, str]) -> str:
    """The auth file exactly as the program renders it from these catalogue secrets."""
    return pooler_spec.auth_file(config.Layout()).render(secrets)


def stock_ini(pool: config.Pool, at: config.Layout) -> str:
    """A stock PgBouncer: transaction mode, the same auth and pool size, all else default."""
    return "\n".join(
        [
            "[databases]",
            f"{at.database} = host={at.server_host} port={at.server_port} dbname={at.database}",
            "[pgbouncer]",
            f"listen_addr = {at.listen_addr}",
            f"listen_port = {at.listen_port}",
            "unix_socket_dir =",
            "auth_type = hba",
            f"auth_hba_file = {at.hba_file}",
            f"auth_file = {at.auth_file}",
            f"stats_users = {config.STATS_USER}",
            "pool_mode = transaction",
            f"default_pool_size = {pool.default_pool_size}",
            # only so the benchmark's 500 clients get in; the default is 100
            f"max_client_conn = {pool.max_client_conn}",
            "",
        ]
    )


@contextmanager
def running_pgbouncer(
    workdir: Path,
    server: Upstream,
    auth_file: str,
    *,
    database: str,
    pool: config.Pool | None = None,
    stock: bool = False,
    over_tcp: bool = False,
    port: int | None = None,
    netns: Namespace | None = None,
    loopback_only: bool = False,
) -> Iterator[Pooler]:
    """PgBouncer in ``workdir`` in front of ``server`` until the context exits.

    ``stock``: run a stock pgbouncer.ini (``stock_ini``) instead of the stack's rendering.
    ``over_tcp``: reach Postgres over TCP, as a stock pooler container would.
    ``netns``: run inside that namespace, on every address and the stack's own port,
    as in the container; clients reach it at the namespace's address. With
    ``loopback_only`` it listens on the namespace's own loopback, as a port published on
    a remote Docker host's 127.0.0.1: only a tunnel reaches it.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    workdir.chmod(0o755)
    at = layout_for(workdir, server, database, port or free_port(), over_tcp)
    if netns:
        listen = "127.0.0.1" if loopback_only else "*"
        at = replace(at, listen_addr=listen, listen_port=config.Layout().listen_port)
    files = {
        at.ini: (stock_ini if stock else config.render_ini)(pool or config.Pool(), at),
        at.hba_file: config.render_hba(database),
        at.auth_file: auth_file,
    }
    for path, text in files.items():
        Path(path).write_text(text)
        Path(path).chmod(0o644)
    _raise_open_files()
    argv, drop = [PGBOUNCER, at.ini], _as_pooler_user()
    if netns:  # ip netns exec needs root: drop to the pooler's user inside it
        argv = netns.run("setpriv", f"--reuid={pooler_spec.OS_USER}", "--regid=nogroup",
                         "--clear-groups", *argv)  # fmt: skip
        drop = {}
    proc = _spawn(argv, workdir, drop)
    host = netns.ip if netns and not loopback_only else at.listen_addr
    pooler = Pooler(host, at.listen_port, database, workdir, proc, argv, drop)
    try:
        if netns and loopback_only:
            netns.wait_listening(at.listen_port)
        else:
            wait_listening(pooler)
        yield pooler
    finally:
        stop(pooler)


def stop(pooler: Pooler) -> None:
    if pooler.proc.poll() is None:
        pooler.proc.send_signal(signal.SIGINT)  # safe shutdown
        try:
            pooler.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pooler.proc.kill()
            pooler.proc.wait()


def restart(pooler: Pooler) -> Pooler:
    """The same pooler (files, port) started again, as `docker restart` would."""
    stop(pooler)
    started = replace(pooler, proc=_spawn(pooler.argv, pooler.workdir, pooler.drop))
    wait_listening(started)
    return started


def _spawn(argv: list[str], workdir: Path, drop: dict[str, object]) -> subprocess.Popen[bytes]:
    with (workdir / "pgbouncer.log").open("ab") as log:
        return subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            **drop,  # type: ignore[call-overload]
        )


def wait_listening(pooler: Pooler, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if pooler.proc.poll() is not None:
            raise RuntimeError(f"pgbouncer exited with {pooler.proc.returncode}: {pooler.log()}")
        try:
            socket.create_connection((pooler.host, pooler.port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _raise_open_files() -> None:
    # A thousand clients and their server connections need more than the usual 1024.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < min(hard, 8192):
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 8192), hard))


def _as_pooler_user() -> dict[str, object]:
    if os.geteuid() != 0:
        return {}
    return {"user": pooler_spec.OS_USER, "group": "nogroup", "extra_groups": []}


def app(pooler: Pooler, password: str, **kwargs: object) -> psycopg.Connection:
    """The app's connection through the pooler: no server-side prepared statements
    (psycopg 3 prepares a query on its fifth run; docs/POOLING.md)."""
    return psycopg.connect(
        pooler.dsn(APP_ROLE, password),
        connect_timeout=10,
        prepare_threshold=None,
        **kwargs,  # type: ignore[arg-type]
    )


def tenant_rows(conn: psycopg.Connection, tenant: str) -> set[str]:
    with conn.transaction():
        conn.execute("SELECT set_config('app.current_user_id', %s, true)", [tenant])
        return {r[0] for r in conn.execute("SELECT user_id FROM sessions")}


class TenantLoad:
    """Clients running tenant transactions in a loop, reconnecting after an error."""

    def __init__(
        self, pooler: Pooler, password: str, clients: int = 8, tenant: str = "user-3"
    ) -> None:
        self.pooler, self.password, self.tenant = pooler, password, tenant
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.ok: list[float] = []  # when each transaction committed
        self.errors: list[tuple[float, str]] = []
        self.threads = [threading.Thread(target=self._run) for _ in range(clients)]

    def __enter__(self) -> TenantLoad:
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        for t in self.threads:
            t.join(60)

    def _run(self) -> None:
        conn: psycopg.Connection | None = None
        while not self.stop.is_set():
            try:
                if conn is None:
                    conn = app(self.pooler, self.password)
                assert tenant_rows(conn, self.tenant) == {self.tenant}
                with self.lock:
                    self.ok.append(time.monotonic())
            except psycopg.Error as exc:
                with self.lock:
                    self.errors.append((time.monotonic(), type(exc).__name__))
                if conn is not None:
                    conn.close()
                conn, _ = None, time.sleep(0.05)
        if conn is not None:
            conn.close()

    def committed_after(self, moment: float) -> int:
        with self.lock:
            return sum(t > moment for t in self.ok)

    def first_commit_after(self, moment: float, timeout: float = 30) -> float:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                later = [t for t in self.ok if t > moment]
            if later:
                return min(later)
            time.sleep(0.01)
        raise AssertionError(f"no transaction committed within {timeout} s")
