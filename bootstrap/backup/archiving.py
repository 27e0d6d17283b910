"""Is Postgres's WAL reaching the repository? What `verify` reads from pg_stat_archiver.

A failing archive_command is silent: Postgres keeps every unarchived segment in pg_wal
and retries, point-in-time recovery stops at the last archived one, and the disk fills
until Postgres stops. Postgres retries a failed segment every few seconds, so an
archiver whose latest failure is newer than its latest success is failing now.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg

QUERY = """
SELECT current_setting('archive_mode'), a.archived_count, a.last_archived_wal,
       a.last_archived_time, a.failed_count, a.last_failed_wal, a.last_failed_time,
       (SELECT count(*) FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready')
FROM pg_stat_archiver a
"""


@dataclass(frozen=True)
class Archiver:
    mode: str
    archived: int
    last_wal: str | None
    last_time: datetime | None
    failed: int
    failed_wal: str | None
    failed_time: datetime | None
    waiting: int  # segments in pg_wal not archived yet

    @property
    def failing(self) -> bool:
        return self.failed_time is not None and (
            self.last_time is None or self.failed_time > self.last_time
        )


def read(conn: psycopg.Connection) -> Archiver:
    """The server's archiver (as a superuser or pg_monitor member: the status directory)."""
    row = conn.execute(QUERY).fetchone()
    assert row is not None  # pg_stat_archiver always has its one row
    return Archiver(*row)


def _when(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def check(archiver: Archiver, backups_on: bool) -> tuple[bool, str]:
    """verify's row: (ok, detail)."""
    if not backups_on:
        return True, "backups are off for this stack (backupEnabled)"
    if archiver.mode == "off":
        return False, (
            "archive_mode is off: no WAL reaches the repository; start Postgres with the"
            " stack's settings (`pulumi up`)"
        )
    waiting = f"{archiver.waiting} segment(s) waiting in pg_wal"
    if archiver.failing:
        assert archiver.failed_time is not None
        return False, (
            f"WAL archiving is failing: the last attempt ({archiver.failed_wal}, at"
            f" {_when(archiver.failed_time)}) failed, {archiver.failed} failure(s) so far,"
            f" {waiting}; Postgres's log has archive-push's error (is the repository"
            " reachable?)"
        )
    if archiver.last_time is None:
        return True, f"no WAL segment archived by this server yet, {waiting}"
    return True, f"last WAL archived {_when(archiver.last_time)} ({archiver.last_wal}), {waiting}"
