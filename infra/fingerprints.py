"""Content fingerprints: what the Pulumi bootstrap hook watches to know when to run again."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path


def files_digest(folder: Path, pattern: str = "*") -> str:
    """sha256 over the names and contents of the files in ``folder`` matching ``pattern``."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.glob(pattern) if p.is_file()):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def secrets_digest(values: Mapping[str, str]) -> str:
    """One sha256 over every secret: changes when any does, reveals none (and stays secret)."""
    digest = hashlib.sha256()
    for key in sorted(values):
        digest.update(key.encode() + b"\0" + values[key].encode() + b"\0")
    return digest.hexdigest()
