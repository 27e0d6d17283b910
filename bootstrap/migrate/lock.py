"""A session-level ``pg_advisory_lock`` as a context manager with a timeout.

Unlike a lock *table*, an advisory lock dies with its session: a runner that
crashes or is killed can never leave the lock behind. Advisory locks are
per-database, so runners against different databases never wait on each other.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg

from bootstrap.errors import LockTimeout

# Fixed key, spelled from the bytes of "bo1mig"; any runner of this project uses it.
MIGRATION_LOCK_KEY = int.from_bytes(b"bo1mig", "big")


@contextmanager
def advisory_lock(conn: psycopg.Connection, key: int, timeout_s: float) -> Iterator[None]:
    # lock_timeout bounds the wait on the heavyweight advisory lock; 0 would mean forever.
    conn.execute(
        "SELECT set_config('lock_timeout', %s, false)", [f"{max(1, int(timeout_s * 1000))}ms"]
    )
    try:
        conn.execute("SELECT pg_advisory_lock(%s)", [key])
    except psycopg.errors.LockNotAvailable:
        raise LockTimeout(
            f"timed out after {timeout_s:g} s waiting for the migration lock on database "
            f"{conn.info.dbname!r}: another `bo1-infra migrate` is running{_holder(conn, key)}; "
            "wait for it to finish or raise --lock-timeout"
        ) from None
    finally:
        conn.execute("RESET lock_timeout")
    try:
        yield
    finally:
        if not conn.closed:
            conn.execute("SELECT pg_advisory_unlock(%s)", [key])


def _holder(conn: psycopg.Connection, key: int) -> str:
    # Advisory bigint keys are split into classid (high 32 bits) and objid (low 32 bits).
    row = conn.execute(
        "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted"
        " AND database = (SELECT oid FROM pg_database WHERE datname = current_database())"
        " AND classid::bigint = %s AND objid::bigint = %s LIMIT 1",
        [key >> 32, key & 0xFFFFFFFF],
    ).fetchone()
    return f" (server pid {row[0]} holds it)" if row else ""
