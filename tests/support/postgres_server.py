"""A real PostgreSQL 15 server in a throwaway directory, for the test session.

Postgres refuses to run as root, and CI runs as root: when we are root the
server runs as the ``postgres`` OS user (created by Debian's package) and owns
its data directory. Host connections need a password (SCRAM), so the tests
exercise real authentication; the superuser password is random per session.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from tests.support.netns import Namespace
from tests.support.ports import free_port

PG_BINDIR = Path(os.environ.get("BO1_PG_BINDIR", "/usr/lib/postgresql/15/bin"))
OS_USER = "postgres"

# Durability is irrelevant for a throwaway test cluster; speed is not.
FAST_SETTINGS = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    superuser: str
    password: str
    datadir: Path
    logfile: Path

    def dsn(
        self, dbname: str = "postgres", user: str | None = None, password: str | None = None
    ) -> str:
        user = user or self.superuser
        password = self.password if password is None else password
        return f"host={self.host} port={self.port} dbname={dbname} user={user} password={password}"

    def libpq_env(self, dbname: str = "postgres") -> dict[str, str]:
        """The standard libpq variables that point at this server as superuser."""
        return {
            "PGHOST": self.host,
            "PGPORT": str(self.port),
            "PGUSER": self.superuser,
            "PGPASSWORD": self.password,
            "PGDATABASE": dbname,
        }

    def bin(self, name: str) -> str:
        return str(PG_BINDIR / name)

    @property
    def socket_dir(self) -> Path:
        """Where its Unix socket is (unix_socket_directories: the work directory)."""
        return self.datadir.parent


def _as_server_user() -> dict[str, object]:
    """Popen arguments that drop root to the postgres user; nothing when not root."""
    return {"user": OS_USER, "group": OS_USER} if os.geteuid() == 0 else {}


def _give_to_server_user(path: Path) -> None:
    if os.geteuid() == 0:
        shutil.chown(path, OS_USER, OS_USER)


@contextmanager
def running_postgres(
    workdir: Path,
    settings: Mapping[str, str] | None = None,
    *,
    hba: str | None = None,
    netns: Namespace | None = None,
    loopback_only: bool = False,
    restored: PostgresServer | None = None,
    port: int | None = None,
) -> Iterator[PostgresServer]:
    """Init a cluster in ``workdir`` and run it until the context exits.

    ``hba``: a pg_hba.conf to run with (the stack's rendered one), instead of initdb's.
    ``netns``: run inside that namespace, listening on every address there; clients
    reach it at the namespace's address, never over loopback. With ``loopback_only``
    it listens on the namespace's own loopback only, as a port published on a remote
    Docker host's 127.0.0.1: nothing outside reaches it but a tunnel.
    ``restored``: run ``workdir/data``, restored from that server's backup, as it is
    (no initdb); its superuser password is the same.
    ``port``: listen there (a restart on the port a pooler already points at).
    """
    workdir.mkdir(parents=True, exist_ok=True)
    _give_to_server_user(workdir)
    password = restored.password if restored is not None else _initdb(workdir)
    datadir = workdir / "data"
    port = port or (5432 if netns else free_port())  # a namespace is a host of its own
    args = {
        **FAST_SETTINGS,
        **(settings or {}),
        "port": str(port),
        "listen_addresses": "*" if netns and not loopback_only else "127.0.0.1",
        "unix_socket_directories": str(workdir),
    }
    if hba is not None:
        (workdir / "pg_hba.conf").write_text(hba)
        args["hba_file"] = str(workdir / "pg_hba.conf")
    argv = [str(PG_BINDIR / "postgres"), "-D", str(datadir)] + [
        f"-c{k}={v}" for k, v in args.items()
    ]
    drop: dict[str, object] = _as_server_user()
    if netns:  # ip netns exec needs root: drop to the server user inside it
        argv = netns.run(
            "setpriv", f"--reuid={OS_USER}", f"--regid={OS_USER}", "--init-groups", *argv
        )
        drop = {}
    logfile = workdir / "postgres.log"
    with logfile.open("ab") as log:
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=workdir,
            **drop,  # type: ignore[call-overload]
        )
    host = netns.ip if netns and not loopback_only else "127.0.0.1"
    server = PostgresServer(host, port, "postgres", password, datadir, logfile)
    try:
        if netns and loopback_only:
            netns.wait_listening(port)
        else:
            _wait_ready(server, proc, timeout=120 if restored else 30)
        yield server
    finally:
        proc.send_signal(signal.SIGINT)  # fast shutdown: abort clients, checkpoint, exit
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _initdb(workdir: Path) -> str:
    """A new cluster in ``workdir/data``; its random superuser password."""
    password = secrets.token_urlsafe(24)
    pwfile = workdir / "pwfile"
    pwfile.write_text(password)
    _give_to_server_user(pwfile)
    datadir = workdir / "data"
    subprocess.run(
        [
            str(PG_BINDIR / "initdb"),
            "-D",
            str(datadir),
            "-U",
            "postgres",
            f"--pwfile={pwfile}",
            "--auth-host=scram-sha-256",
            "--auth-local=trust",
            "-E",
            "UTF8",
            "--no-locale",
            "--no-sync",
        ],
        check=True,
        capture_output=True,
        cwd=workdir,
        **_as_server_user(),  # type: ignore[call-overload]
    )
    pwfile.unlink()
    return password


def _wait_ready(server: PostgresServer, proc: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(
                f"postgres exited with {proc.returncode}: {server.logfile.read_text()}"
            )
        try:
            psycopg.connect(server.dsn(), connect_timeout=2).close()
            return
        except psycopg.OperationalError as exc:
            if "no pg_hba.conf entry" in str(exc):
                return  # up, and refusing this client by its address: some tests want that
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
