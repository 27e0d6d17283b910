"""The pydantic model of secrets/catalogue.toml.

Imported only when the catalogue's content has not been validated before (see
bootstrap/validated.py); the rest of the code uses bootstrap.stack_secrets.catalogue.
"""

from __future__ import annotations

import tomllib
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from bootstrap.errors import Bo1Error


class SecretSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    key: Annotated[str, StringConstraints(pattern=r"^[a-z][A-Za-z0-9]*$")]
    kind: Literal["generated", "required"]
    env: Annotated[str, StringConstraints(pattern=r"^[A-Z][A-Z0-9_]*$")]
    description: Annotated[str, StringConstraints(min_length=1)]
    flows_to: Annotated[list[str], Field(min_length=1)]
    length: Annotated[int, Field(ge=16, le=128)] = 32
    optional_in: list[Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9-]*$")]] = []
    topology: Literal["any", "ha"] = "any"  # "ha": only stacks with topology ha have it

    @model_validator(mode="after")
    def _only_required_can_be_optional(self) -> SecretSpec:
        if self.optional_in and self.kind != "required":
            raise ValueError("optional_in applies to required secrets only")
        return self


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


def validate(raw: bytes, name: str) -> list[dict[str, Any]]:
    """Parse and validate the catalogue; its entries, or Bo1Error naming the problem."""
    try:
        data = tomllib.loads(raw.decode("utf-8"))
        return [spec.model_dump() for spec in Catalogue.model_validate(data).secret]
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise Bo1Error(f"{name}: invalid TOML: {exc}") from None
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise Bo1Error(f"{name}: {where}: {first['msg']}") from None
