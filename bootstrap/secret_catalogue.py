"""The secret catalogue (secrets/catalogue.toml): which secrets a stack needs and where they go."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from bootstrap.errors import Bo1Error

DEFAULT_FILE = Path(__file__).resolve().parents[1] / "secrets" / "catalogue.toml"


class SecretSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: Annotated[str, StringConstraints(pattern=r"^[a-z][A-Za-z0-9]*$")]
    kind: Literal["generated", "required"]
    env: Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]*$")]
    description: Annotated[str, StringConstraints(min_length=1)]
    flows_to: Annotated[list[str], Field(min_length=1)]
    length: Annotated[int, Field(ge=16, le=128)] = 32


class Catalogue(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    secret: Annotated[list[SecretSpec], Field(min_length=1)]

    @model_validator(mode="after")
    def _unique(self) -> Catalogue:
        for attr in ("key", "env"):
            values = [getattr(s, attr) for s in self.secret]
            duplicates = sorted({v for v in values if values.count(v) > 1})
            if duplicates:
                raise ValueError(f"duplicate {attr}: {', '.join(duplicates)}")
        return self

    @property
    def secrets(self) -> list[SecretSpec]:
        return list(self.secret)

    def by_key(self, key: str) -> SecretSpec:
        return next(s for s in self.secret if s.key == key)


def load(path: Path = DEFAULT_FILE) -> Catalogue:
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        return Catalogue.model_validate(raw)
    except OSError as exc:
        raise Bo1Error(f"{path}: cannot read the secret catalogue: {exc.strerror or exc}") from None
    except tomllib.TOMLDecodeError as exc:
        raise Bo1Error(f"{path.name}: invalid TOML: {exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise Bo1Error(f"{path.name}: {where}: {first['msg']}") from None
