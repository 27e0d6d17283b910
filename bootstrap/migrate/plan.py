"""Decide what to apply or roll back. Pure: files and version-table rows in, steps out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from bootstrap.errors import MigrationDrift, MigrationFileError, UnknownTarget, UsageError
from bootstrap.migrate.files import Migration


@dataclass(frozen=True)
class Applied:
    """One row of the version table."""

    version: int
    name: str
    checksum: str
    applied_at: datetime
    execution_ms: int


@dataclass(frozen=True)
class StatusRow:
    version: int
    name: str
    state: str  # applied | pending | changed | file missing
    applied: Applied | None


def check_drift(migrations: list[Migration], applied: list[Applied]) -> None:
    """Refuse to run when an applied migration's up file was edited afterwards."""
    by_version = {m.version: m for m in migrations}
    for row in applied:
        m = by_version.get(row.version)
        if m is not None and m.up.checksum != row.checksum:
            raise MigrationDrift(
                f"{m.up.display} was changed after it was applied "
                f"(recorded sha256 {row.checksum[:12]}…, file now {m.up.checksum[:12]}…); "
                "applied migrations must not change: restore the file and put the change "
                "in a new migration"
            )


def _check_target(migrations: list[Migration], to: int, allow_zero: bool) -> None:
    known = [m.version for m in migrations]
    if to in known or (allow_zero and to == 0):
        return
    listing = ", ".join(str(v) for v in known) or "none"
    zero = "0 (everything) or " if allow_zero else ""
    raise UnknownTarget(f"unknown target version {to}; use {zero}one of: {listing}")


def plan_up(migrations: list[Migration], applied: list[Applied], to: int | None) -> list[Migration]:
    """Pending migrations up to and including ``to``, in version order."""
    if to is not None:
        _check_target(migrations, to, allow_zero=False)
    done = {row.version for row in applied}
    return [m for m in migrations if m.version not in done and (to is None or m.version <= to)]


def plan_down(
    migrations: list[Migration], applied: list[Applied], to: int | None, steps: int | None
) -> list[Migration]:
    """Applied migrations to roll back, newest first. Default: the newest one."""
    if to is not None and steps is not None:
        raise UsageError("pass either --to or --steps, not both")
    if steps is not None and steps < 1:
        raise UsageError(f"--steps must be 1 or more, got {steps}")
    if to is not None:
        _check_target(migrations, to, allow_zero=True)
    newest_first = sorted(applied, key=lambda r: r.version, reverse=True)
    if to is not None:
        chosen = [r for r in newest_first if r.version > to]
    else:
        chosen = newest_first[: steps or 1]
    by_version = {m.version: m for m in migrations}
    plan = []
    for row in chosen:
        m = by_version.get(row.version)
        if m is None or m.down is None:
            raise MigrationFileError(
                f"cannot roll back {row.version:04d}_{row.name}: it has no "
                f"{row.version:04d}_{row.name}.down.sql; nothing was rolled back"
            )
        plan.append(m)
    return plan


def status_rows(migrations: list[Migration], applied: list[Applied]) -> list[StatusRow]:
    """One row per migration file or version-table row, in version order."""
    rows_by_version = {r.version: r for r in applied}
    rows = []
    for m in migrations:
        row = rows_by_version.pop(m.version, None)
        if row is None:
            state = "pending"
        else:
            state = "applied" if row.checksum == m.up.checksum else "changed"
        rows.append(StatusRow(m.version, m.name, state, row))
    rows += [StatusRow(r.version, r.name, "file missing", r) for r in rows_by_version.values()]
    return sorted(rows, key=lambda r: r.version)
