"""The app's env file, in one place: its text, its atomic 0600 write, and reading it back.

``KEY=value`` lines without quotes: docker --env-file, systemd's EnvironmentFile
and dotenv all read them. A value therefore never holds a newline (the model
refuses control characters before anything is written).
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

from bootstrap.appenv.model import GROUPS, VARIABLES
from bootstrap.errors import Bo1Error


def render(stack: str, values: Mapping[str, str]) -> str:
    """The file's text for ``stack``: every variable in model order, grouped."""
    lines = [
        f"# Board of One environment for stack {stack}."
        " Written by `bo1-infra bootstrap`; do not edit."
    ]
    for group in GROUPS:
        lines.append(f"\n# {group}")
        for var in (v for v in VARIABLES if v.group == group):
            if var.secret_key and not values[var.name]:
                lines.append(f"# {var.name} is not set for this stack (secret {var.secret_key}).")
            lines.append(f"{var.name}={values[var.name]}")
    return "\n".join(lines) + "\n"


def read(path: Path) -> dict[str, str]:
    """The variables of an env file bootstrap wrote (comments and blank lines skipped)."""
    try:
        lines = path.read_text().splitlines()
    except OSError as exc:
        raise Bo1Error(
            f"cannot read the app env file {path}: {exc.strerror}; run `bo1-infra bootstrap` first"
        ) from None
    pairs = (line.split("=", 1) for line in lines if line and not line.startswith("#"))
    return {pair[0]: pair[1] for pair in pairs if len(pair) == 2}


def write_secret_file(path: Path, text: str) -> bool:
    """Replace ``path`` with ``text``; returns False (and writes nothing) when it is unchanged.

    The new content goes to a 0600 temp file in the same folder, is fsynced,
    and is renamed over the old file, so a reader sees the old file or the new
    one, never a partial one.
    """
    try:
        if path.is_file() and path.read_text() == text:
            if path.stat().st_mode & 0o777 != 0o600:
                path.chmod(0o600)
            return False
        path.parent.mkdir(parents=True, exist_ok=True)
        _replace(path, text)
        _fsync_dir(path.parent)
    except OSError as exc:
        raise Bo1Error(f"cannot write {path}: {exc.strerror or exc}") from None
    return True


def _replace(path: Path, text: str) -> None:
    # Named like the target (".env.dev.XXXX.tmp"), so the same ignore rule covers it.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f"{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
