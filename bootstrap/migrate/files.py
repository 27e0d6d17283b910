"""Discover migration files: ``NNNN_name.up.sql`` with an optional ``NNNN_name.down.sql``.

A script opts out of running inside a transaction (for statements such as
``CREATE INDEX CONCURRENTLY``) with a directive line before any SQL::

    -- bo1:no-transaction
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from bootstrap import paths
from bootstrap.errors import MigrationFileError, UsageError

_NAME = re.compile(r"^(?P<version>\d+)_(?P<name>[a-z0-9][a-z0-9_]*)\.(?P<dir>up|down)\.sql$")
NO_TRANSACTION_DIRECTIVE = "-- bo1:no-transaction"


@dataclass(frozen=True)
class Script:
    path: Path
    text: str

    @property
    def transactional(self) -> bool:
        for line in self.text.splitlines():
            stripped = line.strip()
            if stripped.lower() == NO_TRANSACTION_DIRECTIVE:
                return False
            if stripped and not stripped.startswith("--"):
                return True  # directives only count before the first statement
        return True

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.text.encode()).hexdigest()

    @property
    def display(self) -> str:
        return display_path(self.path)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    up: Script
    down: Script | None

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


def display_path(path: Path) -> str:
    """A path relative to the working directory when it lies inside it, for messages.

    Never ``../``: whether a file is one directory up depends on where the checkout
    sits (a clone in /tmp is a sibling of pytest's temporary directories), and a
    message that changes with it is neither clearer nor testable.
    """
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return str(path)
    return rel if not rel.startswith("..") else str(path)


def resolve_dir(explicit: str | None) -> Path:
    chosen = explicit or os.environ.get("BO1_MIGRATIONS_DIR")
    return Path(chosen) if chosen else paths.MIGRATIONS_DIR


def discover(directory: Path) -> list[Migration]:
    """All migrations in ``directory``, ordered by version; malformed sets are errors."""
    if not directory.is_dir():
        raise MigrationFileError(
            f"migrations directory {display_path(directory)} does not exist; "
            "pass --migrations-dir or set BO1_MIGRATIONS_DIR"
        )
    found: dict[int, dict[str, Path]] = {}
    names: dict[int, str] = {}
    for path in sorted(directory.iterdir()):
        if path.suffix != ".sql":
            continue
        match = _NAME.match(path.name)
        if not match:
            raise MigrationFileError(
                f"{display_path(path)}: migration files must be named "
                "NNNN_name.up.sql or NNNN_name.down.sql (lowercase name)"
            )
        version = int(match["version"])
        if names.setdefault(version, match["name"]) != match["name"]:
            raise MigrationFileError(
                f"{display_path(path)}: version {version} is already used by "
                f"{version:04d}_{names[version]}; give each migration its own number"
            )
        found.setdefault(version, {})[match["dir"]] = path
    return [_load(v, names[v], found[v]) for v in sorted(found)]


def _load(version: int, name: str, paths: dict[str, Path]) -> Migration:
    if "up" not in paths:
        raise MigrationFileError(
            f"{display_path(paths['down'])} has no matching {version:04d}_{name}.up.sql"
        )
    down = paths.get("down")
    return Migration(version, name, _read(paths["up"]), _read(down) if down else None)


def _read(path: Path) -> Script:
    try:
        return Script(path, path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise MigrationFileError(f"{display_path(path)}: cannot read: {exc}") from None


def create_pair(directory: Path, name: str) -> tuple[Path, Path]:
    """Write the next numbered ``NNNN_name.up.sql`` / ``.down.sql``; never overwrite a file."""
    slug = name.strip().lower().replace("-", "_").replace(" ", "_")
    if not re.fullmatch(r"[a-z0-9][a-z0-9_]*", slug):
        raise UsageError(
            f"migration name {name!r}: use lowercase letters, digits and underscores,"
            " e.g. add_session_tags"
        )
    existing = discover(directory)
    version = max((m.version for m in existing), default=0) + 1
    label = f"{version:04d}_{slug}"
    up, down = directory / f"{label}.up.sql", directory / f"{label}.down.sql"
    _create(up, _UP_TEMPLATE.format(label=label))
    try:
        _create(down, _DOWN_TEMPLATE.format(label=label))
    except BaseException:
        up.unlink()  # never leave half a pair behind
        raise
    return up, down


_UP_TEMPLATE = """\
-- {label}: what this migration changes, and why.
-- It runs in one transaction together with its version-table row. For statements
-- that cannot run in a transaction (CREATE INDEX CONCURRENTLY), put the line
-- `{directive}` above the first statement.

"""
_DOWN_TEMPLATE = """\
-- {label}: undo exactly what {label}.up.sql does, in reverse order.

"""
_UP_TEMPLATE = _UP_TEMPLATE.replace("{directive}", NO_TRANSACTION_DIRECTIVE)


def _create(path: Path, text: str) -> None:
    try:
        with path.open("x", encoding="utf-8") as handle:
            handle.write(text)
    except FileExistsError:
        raise MigrationFileError(
            f"{display_path(path)} already exists; pick another name"
        ) from None
    except OSError as exc:
        raise MigrationFileError(f"cannot write {display_path(path)}: {exc.strerror}") from None
