"""The runner's version table, under a name of its own.

It was ``public.schema_migrations`` until migration 0004, which renames it to
``public.bo1_schema_migrations``: Board of One's own Alembic chain drops a
table called ``schema_migrations``, and both may share one database. Until 0004
has run, the runner reads and writes the old name; a table of that name that is
not ours (other columns) is never touched.
"""

from __future__ import annotations

import psycopg

TABLE = "public.bo1_schema_migrations"
LEGACY_TABLE = "public.schema_migrations"
COLUMNS = ("version", "name", "checksum", "applied_at", "execution_ms")

CREATE = f"""
CREATE TABLE IF NOT EXISTS {TABLE} (
    version      bigint      PRIMARY KEY,
    name         text        NOT NULL,
    checksum     char(64)    NOT NULL,
    applied_at   timestamptz NOT NULL DEFAULT now(),
    execution_ms integer     NOT NULL
)"""

# Ours when it has exactly our columns; one query, also inside a migration's transaction.
_RESOLVE = """
SELECT CASE
    WHEN to_regclass(%(table)s) IS NOT NULL THEN %(table)s
    WHEN (SELECT array_agg(attname::text ORDER BY attnum) FROM pg_attribute
          WHERE attrelid = to_regclass(%(legacy)s) AND attnum > 0 AND NOT attisdropped)
         = %(columns)s::text[] THEN %(legacy)s
END"""


def resolve(conn: psycopg.Connection) -> str | None:
    """The version table this database has (the new name, else our old one), or None."""
    row = conn.execute(
        _RESOLVE, {"table": TABLE, "legacy": LEGACY_TABLE, "columns": list(COLUMNS)}
    ).fetchone()
    return row[0] if row else None


def ensure(conn: psycopg.Connection) -> str:
    """The table to record in, created under the new name when there is none at all."""
    found = resolve(conn)
    if found is None:
        conn.execute(CREATE)
        return TABLE
    return found
