"""The persona catalogue as plain records, loaded from the validated data file.

Validation (bootstrap/personas/schema.py, pydantic) runs whenever the file's
content is new; identical content reuses the earlier result without importing
pydantic (bootstrap/validated.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bootstrap import paths, validated
from bootstrap.errors import PersonaFileError

SCHEMA = Path(__file__).with_name("schema.py")


@dataclass(frozen=True)
class Persona:
    code: str
    name: str
    category: str
    expertise: str
    system_prompt: str
    is_active: bool = True


def load(path: Path = paths.PERSONAS_FILE) -> list[Persona]:
    """Every persona of the file, validated; any problem raises PersonaFileError naming it."""
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise PersonaFileError(f"{path}: cannot read: {exc.strerror or exc}") from None
    records = validated.load(path, raw, SCHEMA, lambda data: _validate(data, path.name))
    return [Persona(**record) for record in records]


def _validate(raw: bytes, name: str) -> list[dict[str, Any]]:
    from bootstrap.personas import schema

    return schema.validate(raw, name)
