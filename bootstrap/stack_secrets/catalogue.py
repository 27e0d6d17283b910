"""The secret catalogue (secrets/catalogue.toml): which secrets a stack needs and where they go.

Plain records, loaded from the file validated by bootstrap/stack_secrets/schema.py
(once per content, see bootstrap/validated.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from bootstrap import paths, validated
from bootstrap.errors import Bo1Error

SCHEMA = Path(__file__).with_name("schema.py")


@dataclass(frozen=True)
class SecretSpec:
    key: str  # stack config key
    kind: Literal["generated", "required"]
    env: str  # variable that carries it into `bo1-infra bootstrap`
    description: str
    flows_to: tuple[str, ...]
    length: int = 32
    optional_in: tuple[str, ...] = ()  # stacks where this required secret may stay unset
    topology: str = "any"  # "ha": only for stacks with topology ha (their containers)

    def applies_to(self, topology: str) -> bool:
        return self.topology in ("any", topology)

    def required_in(self, stack: str) -> bool:
        return self.kind == "required" and stack not in self.optional_in


@dataclass(frozen=True)
class Catalogue:
    secrets: tuple[SecretSpec, ...]

    def by_key(self, key: str) -> SecretSpec:
        return next(s for s in self.secrets if s.key == key)


def load(path: Path = paths.SECRET_CATALOGUE) -> Catalogue:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise Bo1Error(f"{path}: cannot read the secret catalogue: {exc.strerror or exc}") from None
    entries = validated.load(path, raw, SCHEMA, lambda data: _validate(data, path.name))
    return Catalogue(tuple(_spec(entry) for entry in entries))


def _spec(entry: dict[str, Any]) -> SecretSpec:
    lists = {name: tuple(entry.get(name, ())) for name in ("flows_to", "optional_in")}
    return SecretSpec(**{**entry, **lists})


def _validate(raw: bytes, name: str) -> list[dict[str, Any]]:
    from bootstrap.stack_secrets import schema

    return schema.validate(raw, name)
