"""Per-test databases, cloned from a template that was migrated once per session."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from psycopg import sql

from tests.support.postgres_server import PostgresServer

_counter = itertools.count(1)


def unique_name(hint: str) -> str:
    """A valid, unique database name derived from a test name (max 63 bytes)."""
    slug = re.sub(r"[^a-z0-9]+", "_", hint.lower()).strip("_")[:40]
    return f"t{next(_counter)}_{slug}"


def admin(server: PostgresServer) -> psycopg.Connection:
    return psycopg.connect(server.dsn(), autocommit=True)


@contextmanager
def temp_database(server: PostgresServer, hint: str, template: str | None = None) -> Iterator[str]:
    name = unique_name(hint)
    create = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
    if template:
        create += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
    with admin(server) as conn:
        conn.execute(create)
    try:
        yield name
    finally:
        with admin(server) as conn:
            conn.execute(
                sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name))
            )
