"""Session-wide real services: PostgreSQL 15 + pgvector and Redis 7.

Servers start once per session, lazily (only when a test asks), in throwaway
directories on free ports, and stop at the end. Each database test gets its
own database cloned from a template that was migrated once.
"""

from __future__ import annotations

import secrets
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from bootstrap.migrate.files import discover
from bootstrap.migrate.runner import Migrator
from bootstrap.paths import MIGRATIONS_DIR
from bootstrap.postgres.tenancy import APP_ROLE, SERVICE_ROLE
from tests.support.databases import temp_database
from tests.support.postgres_server import PostgresServer, running_postgres

TEMPLATE_DB = "bo1_template"


@pytest.fixture(scope="session")
def scratch_root() -> Iterator[Path]:
    # Not pytest's tmp_path: its parents are mode 0700 for root, and the
    # postgres OS user must be able to reach its data directory.
    root = Path(tempfile.mkdtemp(prefix="bo1-tests-"))
    root.chmod(0o755)
    yield root
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_server(scratch_root: Path) -> Iterator[PostgresServer]:
    with running_postgres(scratch_root / "postgres") as server:
        yield server


@pytest.fixture(scope="session")
def migrated_template(pg_server: PostgresServer) -> str:
    """A database with every migration applied, the source of each test's clone."""
    with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {TEMPLATE_DB}")
    with psycopg.connect(pg_server.dsn(TEMPLATE_DB), autocommit=True) as conn:
        Migrator(conn, discover(MIGRATIONS_DIR), say=lambda _: None).up()
    return TEMPLATE_DB


@pytest.fixture
def db(
    pg_server: PostgresServer, migrated_template: str, request: pytest.FixtureRequest
) -> Iterator[str]:
    """A fully migrated database of this test's own."""
    with temp_database(pg_server, request.node.name, template=migrated_template) as name:
        yield name


@pytest.fixture
def empty_db(pg_server: PostgresServer, request: pytest.FixtureRequest) -> Iterator[str]:
    """An empty database of this test's own."""
    with temp_database(pg_server, request.node.name) as name:
        yield name


@pytest.fixture
def db_conn(pg_server: PostgresServer, db: str) -> Iterator[psycopg.Connection]:
    with psycopg.connect(pg_server.dsn(db), autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def role_passwords(pg_server: PostgresServer, migrated_template: str) -> dict[str, str]:
    """Login passwords for the app and service roles (roles are cluster-wide)."""
    passwords = {role: secrets.token_urlsafe(18) for role in (APP_ROLE, SERVICE_ROLE)}
    with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
        for role, password in passwords.items():
            conn.execute(
                sql.SQL("ALTER ROLE {} PASSWORD {}").format(sql.Identifier(role), password)
            )
    return passwords


def connect_as(
    server: PostgresServer, dbname: str, role: str, passwords: dict[str, str]
) -> psycopg.Connection:
    return psycopg.connect(server.dsn(dbname, user=role, password=passwords[role]), autocommit=True)


@pytest.fixture
def app_conn(
    pg_server: PostgresServer, db: str, role_passwords: dict[str, str]
) -> Iterator[psycopg.Connection]:
    """A connection to this test's database as the application role."""
    with connect_as(pg_server, db, APP_ROLE, role_passwords) as conn:
        yield conn


@pytest.fixture
def service_conn(
    pg_server: PostgresServer, db: str, role_passwords: dict[str, str]
) -> Iterator[psycopg.Connection]:
    with connect_as(pg_server, db, SERVICE_ROLE, role_passwords) as conn:
        yield conn
