"""Write a file that holds secrets: mode 0600 from its first byte, atomically, only when changed."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from bootstrap.errors import Bo1Error


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
        _fsync_dir(path.parent)
    except OSError as exc:
        raise Bo1Error(f"cannot write {path}: {exc.strerror or exc}") from None
    return True


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
