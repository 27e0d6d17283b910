"""Restore a stack's backup: into a new directory, or in place after keeping the current data.

A failed restore leaves nothing half-done behind: a new directory it created is
removed, and an in-place restore puts the kept data directory back. A copy
restored next to the stack never archives into the stack's repository.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from bootstrap.backup.pgbackrest import BackupHost
from bootstrap.errors import BackupError, UsageError

_FORMAT_HINT = "give an ISO time with its zone, e.g. 2026-11-27T15:04:05+00:00 or ...Z"


def parse_target(text: str) -> datetime:
    """A --to time: ISO 8601 with a zone; a time without one is ambiguous, so refused."""
    try:
        when = datetime.fromisoformat(text.strip().replace(" ", "T", 1))
    except ValueError:
        raise UsageError(f"--to {text!r} is not a time: {_FORMAT_HINT}") from None
    if when.tzinfo is None:
        raise UsageError(f"--to {text!r} has no time zone: {_FORMAT_HINT}")
    return when.astimezone(UTC)


@dataclass(frozen=True)
class RestorePlan:
    target: datetime | None  # None: the newest point the archive holds
    directory: str | None  # None: in place, into the stack's own data directory


@dataclass(frozen=True)
class Restored:
    directory: str
    target: str
    backup: str
    seconds: float
    in_place: bool
    kept: str | None  # in place: where the data that was there now is

    def as_dict(self) -> dict[str, object]:
        return asdict(self)

    def describe(self) -> str:
        lines = [
            f"Restored backup {self.backup} with WAL up to {self.target} into {self.directory}"
            f" in {self.seconds:.1f} s."
        ]
        if self.kept:
            lines.append(f"The data that was there is kept in {self.kept}; remove it when done.")
        if self.in_place:
            lines.append("Start Postgres: it replays the WAL, then promotes and archives again.")
        else:
            lines.append(
                "Start a server on it (archiving is off in the copy): pg_ctl -D"
                f" {self.directory} -o '-p 5433' start"
            )
        return "\n".join(lines)


def restore(host: BackupHost, plan: RestorePlan) -> Restored:
    stanza = host.info()
    chosen = _backup_for(stanza.get("backup", []), plan.target)
    if plan.directory is None:
        directory = setting(host, "pg1-path")
        kept: str | None = _keep_current(host, directory)
    else:
        directory, kept = plan.directory, None
        _claim_empty(host, directory)
    args = [f"--pg1-path={directory}", f"--set={chosen}"]
    if plan.target is None:
        args.append("--type=default")
    else:
        stamp = plan.target.strftime("%Y-%m-%d %H:%M:%S.%f+00")
        args += ["--type=time", f"--target={stamp}", "--target-action=promote"]
    if plan.directory is not None:
        args.append("--archive-mode=off")  # a copy must never archive into the stack's repository
    started = time.monotonic()
    try:
        host.pgbackrest(*args, "restore")
    except BackupError:
        _undo(host, directory, kept)
        raise
    target = plan.target.isoformat() if plan.target else "the newest archived WAL"
    return Restored(
        directory,
        target,
        chosen,
        round(time.monotonic() - started, 2),
        plan.directory is None,
        kept,
    )


def _backup_for(backups: list[dict[str, object]], target: datetime | None) -> str:
    """The newest backup that ended before the target: recovery replays WAL from it."""
    if not backups:
        raise BackupError("the repository holds no backup yet: nothing to restore")
    if target is None:
        return str(backups[-1]["label"])
    if target > datetime.now(UTC):
        raise UsageError(f"--to {target.isoformat()} is in the future")
    usable = [b for b in backups if _stop(b) <= target]
    if not usable:
        earliest = _stop(backups[0]).isoformat()
        raise UsageError(
            f"--to {target.isoformat()} is before the oldest backup's end; the earliest"
            f" point to restore is {earliest}"
        )
    return str(usable[-1]["label"])


def _stop(backup: dict[str, object]) -> datetime:
    stamp = backup["timestamp"]
    assert isinstance(stamp, dict)
    return datetime.fromtimestamp(int(stamp["stop"]), UTC)


def setting(host: BackupHost, name: str) -> str:
    done = host.shell(f"sed -n 's/^{name}=//p' \"$1\"", host.config)
    value = done.stdout.strip().splitlines()
    if done.returncode != 0 or not value:
        raise BackupError(f"{host.config} on the backup host names no {name}")
    return value[-1]


_CLAIM = """
if [ -e "$1" ] && [ -n "$(ls -A "$1")" ]; then echo "not empty"; exit 3; fi
mkdir -p "$1" && chmod 700 "$1"
"""

_KEEP = """
if [ -e "$1/postmaster.pid" ]; then echo running; exit 3; fi
if [ -e "$1" ]; then mv "$1" "$2" || exit 1; echo "$2"; fi
mkdir -p "$1" && chmod 700 "$1"
"""

_UNDO = """
rm -rf "$1"
if [ -n "$2" ] && [ -e "$2" ]; then mv "$2" "$1"; fi
"""


def _prepare(host: BackupHost, script: str, refused: str, *args: str) -> str:
    """Run a guard script: exit 3 means the user must act (``refused``), others are failures."""
    done = host.shell(script, *args)
    if done.returncode == 3:
        raise UsageError(refused)
    if done.returncode != 0:
        raise BackupError(f"cannot prepare {args[0]} on the backup host: {done.stderr.strip()}")
    return done.stdout.strip()


def _claim_empty(host: BackupHost, directory: str) -> None:
    refused = (
        f"--target-dir {directory} is not empty: restore into a new or empty directory,"
        " or restore over the stack's data with --in-place"
    )
    _prepare(host, _CLAIM, refused, directory)


def _keep_current(host: BackupHost, directory: str) -> str | None:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    refused = (
        f"{directory}/postmaster.pid exists: stop Postgres first (docker stop"
        " bo1-<stack>-postgres); if it is not running the file is stale: remove it"
    )
    return _prepare(host, _KEEP, refused, directory, f"{directory}.before-restore-{stamp}") or None


def _undo(host: BackupHost, directory: str, kept: str | None) -> None:
    host.shell(_UNDO, directory, kept or "")
