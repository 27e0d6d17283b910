"""Validate a data file once per exact content, then reuse the result without pydantic.

Importing pydantic and building its first model costs ~60 ms, more than
everything else a no-op ``bo1-infra bootstrap`` does. The persona file and the
secret catalogue change rarely, so their validated, normalized form is cached,
keyed by the sha256 of the file *and* of the module that validates it: a hit
means these exact bytes already passed this exact validation. A file that fails
validation is never cached, so a bad file is always reported.

Cache folder: $BO1_CACHE_DIR, else $XDG_CACHE_HOME/bo1-infra, else ~/.cache/bo1-infra.
Caching is best effort: an unwritable folder only costs speed.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def cache_dir() -> Path:
    explicit = os.environ.get("BO1_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "bo1-infra"


def load(path: Path, raw: bytes, validator_source: Path, validate: Callable[[bytes], Any]) -> Any:
    """``validate(raw)`` (JSON-able result), or its cached result for identical inputs."""
    key = hashlib.sha256(raw + b"\0" + validator_source.read_bytes()).hexdigest()
    cached = cache_dir() / f"{path.name}.{key}.json"
    with contextlib.suppress(OSError, ValueError):
        return json.loads(cached.read_text())
    result = validate(raw)  # raises on a bad file: nothing is cached
    _store(cached, json.dumps(result))
    return result


def _store(target: Path, text: str) -> None:
    with contextlib.suppress(OSError):
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, suffix=".tmp")
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
        os.replace(tmp, target)  # readers see the whole file or none
