"""A real Postgres that archives into a real pgBackRest repository, with the stack's files.

The server runs with the archive settings the program renders, pgbackrest reads
the rendered pgbackrest.conf, and the drill is the rendered script: only the
paths differ from the container's. pgBackRest runs as the server's OS user, as
in the backup sidecar: when the tests run as root, through ``runuser``.
"""

from __future__ import annotations

import os
import secrets
import shutil
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import psycopg

from bootstrap.backup.pgbackrest import BackupHost
from bootstrap.backup.policy import Paths, Policy, archive_settings, drill_script, pgbackrest_conf
from bootstrap.migrate.files import discover
from bootstrap.migrate.runner import Migrator
from bootstrap.paths import MIGRATIONS_DIR
from bootstrap.personas import catalogue, seed
from tests.support.postgres_server import OS_USER, PostgresServer, running_postgres

DATABASE = "bo1"
AS_SERVER_USER = ("runuser", "-u", OS_USER, "--") if os.geteuid() == 0 else ()


@dataclass(frozen=True)
class BackedUp:
    server: PostgresServer
    paths: Paths
    host: BackupHost
    cipher_pass: str

    def cli_args(self) -> list[str]:
        """The backup verbs' options that reach this repository."""
        return ["--backup-config-dir", self.paths.config_dir]

    def cli_env(self) -> dict[str, str]:
        return {"BO1_BACKUP_EXEC": " ".join(AS_SERVER_USER)}

    def conn(self, dbname: str = DATABASE) -> psycopg.Connection:
        return psycopg.connect(self.server.dsn(dbname), autocommit=True)


def own_dirs(*paths: Path) -> None:
    for path in paths:
        path.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(path, OS_USER, OS_USER)


def write_config(paths: Paths, policy: Policy, cipher_pass: str, database: str = DATABASE) -> None:
    """pgbackrest.conf and bo1-drill into ``paths.config_dir``, as the sidecar gets them."""
    config_dir = Path(paths.config_dir)
    own_dirs(config_dir)
    (config_dir / "pgbackrest.conf").write_text(pgbackrest_conf(policy, paths, cipher_pass))
    drill = config_dir / "bo1-drill"
    drill.write_text(drill_script(policy, paths, database))
    drill.chmod(0o755)
    for written in config_dir.iterdir():
        if os.geteuid() == 0:
            shutil.chown(written, OS_USER, OS_USER)


def paths_for(workdir: Path, port: int = 0) -> Paths:
    return Paths(
        config_dir=str(workdir / "pgbackrest"),
        repo=str(workdir / "repo"),
        pg_data=str(workdir / "pg" / "data"),
        socket=str(workdir / "pg"),
        port=port,
        spool=str(workdir / "spool"),
        lock=str(workdir / "lock"),
    )


@contextmanager
def backed_up_postgres(
    workdir: Path,
    policy: Policy,
    settings: Mapping[str, str] | None = None,
    *,
    stanza: bool = True,
) -> Iterator[BackedUp]:
    """A migrated, seeded ``bo1`` database whose server archives every WAL segment.

    ``stanza``: create the repository's stanza (the sidecar does it when it starts).

    The port is known only once the server runs, and pgbackrest.conf names it:
    the server starts with archiving pointed at a config written just before.
    """
    own_dirs(workdir, workdir / "repo", workdir / "spool", workdir / "lock")
    cipher_pass = secrets.token_urlsafe(32)
    pending = paths_for(workdir)
    durable = {"synchronous_commit": "on", **archive_settings(policy, pending), **(settings or {})}
    with running_postgres(workdir / "pg", durable) as server:
        paths = paths_for(workdir, server.port)
        write_config(paths, policy, cipher_pass)
        backed = BackedUp(server, paths, BackupHost(AS_SERVER_USER, paths.config_dir), cipher_pass)
        _migrate_and_seed(server)
        if stanza:
            backed.host.pgbackrest("stanza-create")
        yield backed


def _migrate_and_seed(server: PostgresServer) -> None:
    with psycopg.connect(server.dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {DATABASE}")
    with psycopg.connect(server.dsn(DATABASE), autocommit=True) as conn:
        Migrator(conn, discover(MIGRATIONS_DIR), say=lambda _: None).up()
        seed.apply(conn, catalogue.load())
        conn.execute(
            "INSERT INTO users (id, email, auth_provider) VALUES ('u1', 'a@example.com', 'email')"
        )
