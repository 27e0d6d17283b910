"""The newest restore drill as `status` and `verify` show it, read from bo1_backup_drills."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

import psycopg

STALE_HOURS = 48  # the drill runs daily: two missed runs mean the sidecar is not running it


@dataclass(frozen=True)
class Drill:
    ran_at: datetime
    ok: bool
    restorable_to: datetime  # or, when none was recorded, the newest backup or the run
    restore_seconds: float
    detail: str

    @property
    def age_hours(self) -> float:
        return (datetime.now(UTC) - self.ran_at).total_seconds() / 3600

    def summary(self) -> str:
        when = self.ran_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        if not self.ok:
            return f"last drill {when} FAILED: {self.detail}"
        point = self.restorable_to.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        took = f"{self.restore_seconds:g} s"
        return f"last drill {when} passed: restorable to {point}, restored in {took}"


def newest(conn: psycopg.Connection) -> Drill | None:
    if conn.execute("SELECT to_regclass('public.bo1_backup_drills')").fetchone() == (None,):
        return None
    row = conn.execute(
        "SELECT ran_at, ok, coalesce(restorable_to, newest_backup, ran_at),"
        " restore_seconds::float8, detail FROM bo1_backup_drills ORDER BY id DESC LIMIT 1"
    ).fetchone()
    return Drill(*row) if row else None


def check(drill: Drill | None, backups_on: bool, ha: bool = False) -> tuple[bool, str]:
    """verify's row: (ok, detail)."""
    if not backups_on:
        return True, "backups are off for this stack (backupEnabled)"
    runner = "the leader node's pgbackrest container" if ha else "the backup sidecar"
    if drill is None:
        return True, f"no drill yet: {runner} runs one on its schedule (`backup drill` now)"
    if drill.ok and drill.age_hours > STALE_HOURS:
        ago = f"{drill.age_hours:.0f} h ago"
        return False, f"{drill.summary()}; that is {ago}: is {runner} running?"
    return drill.ok, drill.summary()
