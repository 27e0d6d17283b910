"""verify's WAL archiving row on a real PostgreSQL 15: an archive_command that fails shows
as failing at once, and as healthy again once a segment is archived after the fix."""

from __future__ import annotations

import time
from pathlib import Path

import psycopg

from bootstrap.backup import archiving
from tests.support.postgres_server import PostgresServer, running_postgres


def _until(conn: psycopg.Connection, done: str, timeout: float = 60) -> archiving.Archiver:
    deadline = time.monotonic() + timeout
    while True:
        state = archiving.read(conn)
        if getattr(state, done):
            return state
        assert time.monotonic() < deadline, state
        time.sleep(0.2)


def test_a_failing_archive_command_fails_verify_until_a_segment_is_archived(
    scratch_root: Path,
) -> None:
    work = scratch_root / "archiving-pg"
    mended_flag = scratch_root / "archiving-mended"  # the "repository": reachable once it exists
    command = f"test -f {mended_flag}"
    settings = {"archive_mode": "on", "archive_command": command, "wal_level": "replica"}
    with (
        running_postgres(work, settings) as server,
        psycopg.connect(server.dsn("postgres"), autocommit=True) as conn,
    ):
        fresh = archiving.check(archiving.read(conn), backups_on=True)
        conn.execute("CREATE TABLE t AS SELECT 1 AS n")
        conn.execute("SELECT pg_switch_wal()")
        failing = _until(conn, "failing")
        failed = archiving.check(failing, backups_on=True)
        mended_flag.touch()
        # Postgres retries after its pause (up to a minute after 3 failures) or when a
        # new segment is ready
        conn.execute("INSERT INTO t VALUES (2)")
        conn.execute("SELECT pg_switch_wal()")
        mended = _until(conn, "last_time", timeout=120)
        healthy = archiving.check(mended, backups_on=True)
        off = archiving.check(mended, backups_on=False)
    assert fresh == (
        True,
        "no WAL segment archived by this server yet, 0 segment(s) waiting in pg_wal",
    )
    assert not failed[0] and failed[1].startswith("WAL archiving is failing: the last attempt ("), (
        failed
    )
    assert failing.waiting >= 1 and failing.failed >= 1
    assert healthy[0] and healthy[1].startswith("last WAL archived "), healthy
    assert not mended.failing and mended.waiting == 0
    assert off == (True, "backups are off for this stack (backupEnabled)")


def test_archive_mode_off_fails_when_backups_are_on(pg_server: PostgresServer) -> None:
    with psycopg.connect(pg_server.dsn(), autocommit=True) as conn:
        ok, detail = archiving.check(archiving.read(conn), backups_on=True)
    assert not ok and detail.startswith("archive_mode is off"), detail
